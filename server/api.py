"""The JSON API under /api/v1: every feature's endpoint rows, its routes and its document.

Each feature package declares its rows in its own `api.py`; this module only gathers them,
registers them and serves the OpenAPI document built from the same rows.
"""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.casework import api as casework
from server.endpoints import PREFIX, Endpoint
from server.joining import api as joining
from server.messages import api as messages
from server.openapi import document
from server.privacy import api as privacy
from server.recordings import api as recordings
from server.records import api as records
from server.staff import api as staff
from server.staff.access import Audience, allow
from server.staff.auth import session_cookie_name

__all__ = ["ENDPOINTS", "PREFIX", "setup"]


@allow(Audience.PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    cookie = session_cookie_name(request.app[keys.SETTINGS])
    return web.json_response(document(ENDPOINTS, cookie=cookie))


ENDPOINTS: tuple[Endpoint, ...] = (
    staff.ENDPOINTS[:1]  # /me first, as the document has always begun
    + casework.ENDPOINTS[:8]
    + staff.ENDPOINTS[1:]
    + joining.ENDPOINTS
    + casework.ENDPOINTS[8:]
    + (Endpoint("GET", "/openapi.json", openapi, "api-openapi", "This document",
                tags=("meta",)),)
    + privacy.ENDPOINTS
    + records.ENDPOINTS
    + recordings.ENDPOINTS
    + messages.ENDPOINTS
)


def setup(app: web.Application) -> None:
    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, PREFIX + endpoint.path, endpoint.handler,
                             name=endpoint.name)
