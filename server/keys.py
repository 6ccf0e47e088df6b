"""Every piece of application state, each under a typed AppKey."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import asyncio

    import jinja2
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from policies import Decision
    from server.staff.auth import Identity
    from server.i18n import Catalogues
    from server.store.models import User
    from server.joining.notify import Notifier
    from server.casework.policy_versions import PolicyStore
    from server.records.building import SummaryProvider
    from server.settings import Settings
    from signalling.bus import RoomBus

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
DB: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("db")
JINJA: web.AppKey[jinja2.Environment] = web.AppKey("jinja")
CATALOGUES: web.AppKey[Catalogues] = web.AppKey("catalogues")
# The policy in force per organisation (stored versions, else the shipped default).
POLICIES: web.AppKey[PolicyStore] = web.AppKey("policies")
BUS: web.AppKey[RoomBus] = web.AppKey("bus")
NOTIFIER: web.AppKey[Notifier] = web.AppKey("notifier")
# Sections added to every contact record by other features ("recording": consent and
# recording summary), by name; see server/records.py.
RECORD_SUMMARIES: web.AppKey[dict[str, SummaryProvider]] = web.AppKey("record_summaries", dict)
# Live WebSocket connections of this process, closed at shutdown.
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets", set)
# The retention sweeper's background task (None when the sweeper is switched off).
RETENTION_TASK: web.AppKey[asyncio.Task[None] | None] = web.AppKey("retention_task", object)  # type: ignore[arg-type]

# Per-request state.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity", object)  # type: ignore[arg-type]
USER: web.RequestKey[User | None] = web.RequestKey("user", object)  # type: ignore[arg-type]
NEW_PRE_CSRF: web.RequestKey[str] = web.RequestKey("new_pre_csrf", str)
# The policy decision made while handling this request (scheduling a remote appointment).
DECISION: web.RequestKey[Decision] = web.RequestKey("decision", object)  # type: ignore[arg-type]
