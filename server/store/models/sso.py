"""Staff single sign-on: a provider identity linked to an account, and sign-ins under way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime


class SsoIdentity(Base):
    """An OpenID Connect identity (issuer, subject) linked to one staff account. Linked by
    verified email at the first sign-in; from then on the stable `sub` decides."""

    __tablename__ = "sso_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(254))  # the verified email it was linked by
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SsoAttempt(Base):
    """One sign-in sent to the provider: its `state`, `nonce` and PKCE verifier, bound to the
    browser by a cookie whose SHA-256 is kept here. Used once, lives minutes."""

    __tablename__ = "sso_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    binding_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
