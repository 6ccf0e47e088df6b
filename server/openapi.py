"""The OpenAPI 3.1 document of /api/v1, built from the endpoint table and pydantic schemas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.endpoints import PREFIX, Endpoint
from server.staff.access import Audience, rule_of

REF = "#/components/schemas/{model}"
PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "instance": {"type": "string"}, "request_id": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}


def _schemas(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for e in endpoints:
        models.update(m for m in (e.body, e.response) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, top = models_json_schema([(m, "validation") for m in ordered], ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Problem"] = PROBLEM
    return schemas


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": REF.format(
                model="Problem")}}}}


def _operation(e: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": e.name.removeprefix("api-").replace("-", "_"),
                          "summary": e.summary, "tags": list(e.tags)}
    rule = rule_of(e.handler) or frozenset()
    public = Audience.PUBLIC in rule
    who = sorted(str(r) for r in rule)
    op["description"] = "Public." if public else f"Allowed for: {', '.join(who)}."
    if public:
        op["security"] = []
    if "{id}" in e.path:
        op["parameters"] = [{"name": "id", "in": "path", "required": True,
                             "schema": {"type": "integer", "minimum": 1}}]
    for name, description in e.query:
        op.setdefault("parameters", []).append({
            "name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}})
    if e.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=e.body.__name__)}}}}
    content: dict[str, Any] = {"schema": {"type": "object"}}
    if e.response is not None:
        ref = {"$ref": REF.format(model=e.response.__name__)}
        content = {"schema": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": ref}}} if e.listing else ref}
    if e.media_type != "application/json":
        content = {"schema": {"type": "string", "format": "binary"}}
    media: dict[str, Any] = {e.media_type: content}
    if e.csv:
        media["text/csv"] = {"schema": {"type": "string"}}
    op["responses"] = {str(e.status): {"description": "Success", "content": media}}
    if e.status >= 400:  # exists only to refuse (and log) an attempt: no success response
        op["responses"].pop(str(e.status))
        op["x-always-refused"] = True
    if not public:
        op["responses"].update({"401": _problem("Not signed in, or the token is not valid"),
                                "403": _problem("Your role does not allow this")})
    if "{id}" in e.path:
        op["responses"]["404"] = _problem("Not found, or not in your caseload")
        op["responses"]["400"] = _problem("Malformed request: the id is not a whole number "
                                          "(e.g. `abc`, `-1`, `1.5`)")
    if e.conflict:
        op["responses"]["409"] = _problem(e.conflict)
    if e.body is not None or e.method != "GET" or e.query:
        op["responses"]["400"] = _problem("Malformed request")
        op["responses"]["422"] = _problem("The request names fields that need correcting")
    return op


def document(endpoints: Iterable[Endpoint], cookie: str = "rapport_session") -> dict[str, Any]:
    """The whole OpenAPI document; `cookie` is the session cookie's name as served."""
    endpoints = list(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        paths.setdefault(PREFIX + e.path, {})[e.method.lower()] = _operation(e)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Rapport API", "version": "1.0.0",
                 "description": "Clients, contacts and appointments, as on the staff pages. "
                                "Authenticate with a personal API token as a Bearer token "
                                "(no CSRF token needed), or with the signed-in session "
                                "cookie: then every POST, PUT, PATCH and DELETE sends the "
                                "session's CSRF token in the X-CSRF-Token header; it is "
                                "`csrf_token` in `GET /api/v1/me` (session callers only) "
                                "and in every staff page's forms. An interpreter's link "
                                "needs the client's record to say an interpreter is needed "
                                "(`interpreter_needed`)."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(endpoints),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": cookie},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
