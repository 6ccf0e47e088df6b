"""What the staff endpoints and forms accept and return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from server.schemas import Email, Input, Output
from server.store.models import (
    Role,
)


class UserIn(Input):
    email: Email
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    # ids are 32-bit columns: a larger number would reach PostgreSQL and fail there.
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    password: str = Field(min_length=1, max_length=1024)


class TokenIn(Input):
    name: str = Field(min_length=1, max_length=100)
    days: int = Field(default=30, ge=1, le=365)


class UserOut(Output):
    id: int
    email: str
    name: str
    roles: list[Role]
    team_id: int | None
    active: bool


class MeOut(UserOut):
    csrf_token: str | None = Field(default=None, description=(
        "For a caller signed in with the session cookie: the token to send as X-CSRF-Token "
        "on every POST, PUT, PATCH and DELETE. Null for a Bearer token (not needed)."))


class TokenOut(Output):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is kept.")


class PasskeyIn(Input):
    """An authenticator's answer to a passkey ceremony (the browser's credential as JSON)."""

    credential: dict[str, Any]
    name: str = Field(default="Passkey", max_length=100)
    next: str = Field(default="/", max_length=2000)
    again: bool = False  # asked again before a sensitive act (no sign-in news)
