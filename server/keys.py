"""The shell's application state, each under a typed AppKey.

Keys whose type belongs to a package above the shell are declared by that package, beside
the state they hold (`server/store/keys.py`, `server/staff/keys.py`, ...), so that no key
module imports upward. The live rooms are seen by the feature packages only through the
`LiveRooms` interface declared here (`server/ports.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import asyncio

    import jinja2
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from policies import Decision
    from server.i18n import Catalogues
    from server.metrics import Metrics
    from server.ports import LiveRooms
    from server.settings import Settings

# Adds names to every page's template context (the staff package adds the signed-in person
# and the CSRF token): render() needs no knowledge of sign-in.
PageContext = Callable[[web.Request], Mapping[str, Any]]

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
DB: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("db")
JINJA: web.AppKey[jinja2.Environment] = web.AppKey("jinja")
CATALOGUES: web.AppKey[Catalogues] = web.AppKey("catalogues")
PAGE_CONTEXT: web.AppKey[list[PageContext]] = web.AppKey("page_context", list)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# What the feature packages may ask of the live rooms (set by signalling/).
LIVE_ROOMS: web.AppKey[LiveRooms] = web.AppKey("live_rooms")
# Live WebSocket connections of this process, closed at shutdown.
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets", set)
# Serialises creating a practitioner's participant row (two tabs, or a page reconnecting
# while its first hello is still being answered, must not make two; server/joining/members.py).
FIRST_USE: web.AppKey[asyncio.Lock] = web.AppKey("first_use", object)  # type: ignore[arg-type]
# The retention sweeper's background task (None when the sweeper is switched off).
RETENTION_TASK: web.AppKey[asyncio.Task[None] | None] = web.AppKey("retention_task", object)  # type: ignore[arg-type]

# Per-request state.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
NEW_PRE_CSRF: web.RequestKey[str] = web.RequestKey("new_pre_csrf", str)
# The policy decision made while handling this request (scheduling a remote appointment).
DECISION: web.RequestKey[Decision] = web.RequestKey("decision", object)  # type: ignore[arg-type]
