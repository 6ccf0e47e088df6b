"""Staff: organisations, teams, accounts and their roles, login sessions, API tokens, throttling."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime


class Role(enum.StrEnum):
    PRACTITIONER = "practitioner"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # Data protection officer: the access log and subject access exports, nothing else.
    # Separate from admin so that managing accounts never brings case content with it.
    DPO = "dpo"


class Organisation(Base):
    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Hours before a remote appointment when clients are reminded (issue 15); None: 24 and 1.
    reminder_hours: Mapped[list[int] | None] = mapped_column(JSON)


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class User(Base):
    __tablename__ = "staff_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Space-separated Role values: an admin may also be a practitioner.
    roles_text: Mapped[str] = mapped_column("roles", String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Whether the person has a confirmed second factor (kept beside the factor rows so that
    # every request can tell without another query), and when an admin last reset them.
    second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    factors_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r) for r in self.roles_text.split())

    @roles.setter
    def roles(self, value: frozenset[Role] | set[Role]) -> None:
        self.roles_text = " ".join(sorted(r.value for r in value))


class StaffSession(Base):
    """A server-side login session; the cookie holds a random token, the row its hash."""

    __tablename__ = "staff_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    address: Mapped[str] = mapped_column(String(64), default="")
    # The browser's own description of itself (User-Agent), shown in the list of sessions.
    device: Mapped[str] = mapped_column(String(200), default="")
    # When this session last proved a second factor (None: password only so far); sensitive
    # acts ask again when it is older than `reauth_minutes`.
    factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Wrong second-factor codes in this session; too many end it (the password is throttled).
    factor_failures: Mapped[int] = mapped_column(Integer, default=0)
    # The single sign-on identity this session signed in with (None: a password).
    sso_identity_id: Mapped[int | None] = mapped_column(Integer)


class ApiToken(Base):
    """A personal API token (Bearer); only its SHA-256 is stored, and it always expires."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrustedDevice(Base):
    """A browser that signed in correctly before: its cookie holds a random token, the row its
    hash. Sign-ins from it are throttled per device, so guesses made elsewhere never lock the
    person out of their own device (OWASP's "device cookies")."""

    __tablename__ = "trusted_device"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed logins per key ("acct:…", "pair:…", "addr:…", "device:…") in the current window."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

