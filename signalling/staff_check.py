"""Whether the staff session behind a practitioner's signalling connection is still alive."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.clock import now
from server.staff.keys import IDENTITY
from server.store.models import StaffSession


def has_staff_session(request: web.Request) -> bool:
    """Whether the connection's request came with a staff session (`staff_session_alive`
    has something to check)."""
    identity = request[IDENTITY]
    return identity is not None and identity.session is not None


async def staff_session_alive(request: web.Request) -> bool:
    """A practitioner in a call counts as active (their session's idle timer is reset);
    signing out, or the absolute lifetime ending, ends their connection."""
    identity = request[IDENTITY]
    if identity is None or identity.session is None:
        return True
    async with request.app[keys.DB].begin() as db:
        row = await db.get(StaffSession, identity.session.id)
        current = now()
        if row is None or row.revoked_at is not None or row.expires_at <= current:
            return False
        row.last_seen_at = current
    return True
