"""Access to personal data leaves an audit event, written in the same transaction as the act."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from server import keys
from server.clock import now
from server.models import AuditEvent, User


def record(
    db: AsyncSession,
    request: web.Request | None,
    action: str,
    target_type: str,
    target_id: object = None,
    *,
    client_id: int | None = None,
    actor: User | None = None,
    **detail: Any,
) -> None:
    """Add an audit event to the session; it commits (or rolls back) with the act itself."""
    who = actor if actor is not None else (request.get(keys.USER) if request is not None else None)
    db.add(
        AuditEvent(
            at=now(),
            actor_id=who.id if who is not None else None,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            client_id=client_id,
            request_id=request.get(keys.REQUEST_ID) if request is not None else None,
            address=request.remote if request is not None else None,
            detail=detail,
        )
    )
