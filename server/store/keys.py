"""The store's per-request state: the signed-in staff member, as the audit writer names them."""

from __future__ import annotations

from aiohttp import web

from server.store.models import User

# Set by the staff package's middleware; None for anonymous callers and people with links.
USER: web.RequestKey[User | None] = web.RequestKey("user", object)  # type: ignore[arg-type]
