"""Second factors of staff accounts: authenticator-app secrets, recovery codes, passkeys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime


class TotpFactor(Base):
    """An authenticator app (RFC 6238). Unconfirmed until the person types a first code."""

    __tablename__ = "totp_factor"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), unique=True)
    secret: Mapped[str] = mapped_column(String(64))  # base32, as the QR code carries it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The newest time step accepted: a code is good once only (replay refused).
    last_counter: Mapped[int | None] = mapped_column(Integer)


class RecoveryCode(Base):
    """A single-use recovery code; only its argon2id hash is stored."""

    __tablename__ = "recovery_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Passkey(Base):
    """A WebAuthn credential (passkey) registered by a staff member."""

    __tablename__ = "passkey"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[str] = mapped_column(Text)  # COSE key, base64url
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebauthnChallenge(Base):
    """A ceremony's challenge, kept server-side for a few minutes and used once."""

    __tablename__ = "webauthn_challenge"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("staff_session.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "register" | "authenticate"
    challenge: Mapped[str] = mapped_column(String(200))  # base64url
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
