"""Turn request bodies into validated models, or into an error that says what to fix."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.errors import N_, BadRequest, Invalid, NotFound

M = TypeVar("M", bound=BaseModel)
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns; PostgreSQL refuses larger parameters


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate data; a failure names every field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
            for err in exc.errors(include_url=False, include_context=False)
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Invalid(N_("Please correct: {summary}"), errors=errors, summary=summary) from None


async def json_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as `model`."""
    if request.content_type != "application/json":
        raise BadRequest(N_("Send the body as JSON with 'Content-Type: application/json'."))
    try:
        data = json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(N_("The body is not valid JSON: {why}"), why=str(exc)) from None
    except RecursionError:
        raise BadRequest(N_("The body is not valid JSON: it is nested too deeply.")) from None
    if not isinstance(data, dict):
        raise BadRequest(N_("The body must be a JSON object."))
    return validate(model, data)


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(N_("'{raw}' is not a valid id: ids are whole numbers."), raw=raw[:40])
    value = int(raw)
    if value > MAX_ID:  # no row can have it
        raise NotFound(N_("There is nothing at this address. Check the link, or go back to "
                          "the start."))
    return value
