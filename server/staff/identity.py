"""Who the caller is and how they proved it (a browser session or an API token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from server.store.models import StaffSession, User


@dataclass(frozen=True)
class Identity:
    user: User
    via: Literal["session", "token"]
    session: StaffSession | None = None
