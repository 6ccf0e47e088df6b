"""Pure answers about a session's second factor: still to come, or recent enough."""

from __future__ import annotations

from datetime import timedelta

from server.clock import now
from server.settings import Settings
from server.store.models import StaffSession, User


def needs_factor(session: StaffSession, user: User, settings: Settings) -> bool:
    """A session past its password only, for a person who must (or chose to) prove more."""
    return session.factor_at is None and (settings.second_factor_required or user.second_factor)


def is_recent(session: StaffSession | None, settings: Settings) -> bool:
    """Whether the session proved a factor within `reauth_minutes` (for sensitive acts)."""
    if session is None or session.factor_at is None:
        return False
    return now() - session.factor_at <= timedelta(minutes=settings.reauth_minutes)
