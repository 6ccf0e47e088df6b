"""How a feature declares its /api/v1 endpoints: one `Endpoint` row each.

Each feature package lists its rows in its `api.py` (`ENDPOINTS`); `server/api.py` gathers
them, registers the routes and builds the OpenAPI document from the same rows, so the
document cannot fall out of step with what is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Callable[..., Awaitable[web.StreamResponse]]
    name: str
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    listing: bool = False
    status: int = 200
    tags: tuple[str, ...] = field(default=())
    # Query parameters as (name, description); `csv` also offers text/csv.
    query: tuple[tuple[str, str], ...] = field(default=())
    csv: bool = False
    media_type: str = "application/json"
    # When the operation answers 409 Conflict, and why (documented in the OpenAPI document).
    conflict: str = ""


def json_out(model: type[BaseModel], value: Any, status: int = 200) -> web.Response:
    """One object, validated against its documented model."""
    return web.json_response(model.model_validate(value).model_dump(mode="json"), status=status)


def list_out(model: type[BaseModel], values: Sequence[Any]) -> web.Response:
    """A listing: `{"items": [...]}`, each item validated against the model."""
    items = [model.model_validate(v).model_dump(mode="json") for v in values]
    return web.json_response({"items": items})
