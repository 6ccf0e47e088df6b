"""How the caller was identified (session or API token), per request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.staff.identity import Identity

IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity", object)  # type: ignore[arg-type]
