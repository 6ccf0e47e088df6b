"""The OpenAPI document: public, valid OpenAPI 3.1, and in step with the routes served."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from server.api import PREFIX
from server.staff.access import Audience, rule_for

DOC = "/api/v1/openapi.json"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
async def spec(client) -> dict[str, Any]:
    response = await client.get(DOC)  # no cookie, no token: the document is public
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = await response.json()
    return document


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in spec["paths"].items()
            for method, op in item.items() if method in METHODS}


def api_routes(app) -> dict[tuple[str, str], Any]:
    return {(r.method, r.resource.canonical): r for r in app.router.routes()
            if r.resource is not None and r.resource.canonical.startswith(PREFIX + "/")}


def validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    """A JSON Schema validator for one component schema, resolving the document's $refs."""
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:rapport:openapi", resource)
    return Draft202012Validator({"$ref": f"urn:rapport:openapi#/components/schemas/{name}"},
                                registry=registry)


async def test_document_is_public_and_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any error


async def test_every_api_route_is_documented_with_its_method(spec, app):
    documented = set(operations(spec))
    served = set(api_routes(app))
    assert served, "no API routes found"
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


async def test_non_public_operations_document_401_and_403(spec, app):
    routes = api_routes(app)
    for key, op in operations(spec).items():
        rule = rule_for(routes[key])
        assert rule is not None
        if Audience.PUBLIC in rule:
            assert op.get("security") == [], key
            continue
        assert {"401", "403"} <= set(op["responses"]), key
        for status in ("401", "403"):
            content = op["responses"][status]["content"]
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}, (key, status)
        assert "security" not in op, key  # falls back to the document's bearer/session
        assert op["description"].startswith("Allowed for: "), key


async def test_operations_are_complete(spec):
    ids = [op["operationId"] for op in operations(spec).values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    schemas = spec["components"]["schemas"]
    for (method, path), op in operations(spec).items():
        assert op["summary"] and op["tags"], (method, path)
        if "{id}" in path:
            assert [p["name"] for p in op["parameters"]] == ["id"], path
            assert "404" in op["responses"], path
        if "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in schemas, ref
            assert {"400", "422"} <= set(op["responses"]), path
        success = [s for s in op["responses"] if s.startswith("2")]
        assert len(success) == (0 if op.get("x-always-refused") else 1), (method, path)
        if method == "POST" and "requestBody" in op:
            # A POST with a body creates something (201), unless it only checks its body.
            assert success == (["200"] if path.endswith("/check") else ["201"]), path


# (method, path, documented success status and schema, request body)
# --- each is checked against what the server really answers, signed in as alice
LIVE = [
    ("GET", "/api/v1/me", "UserOut", None),
    ("GET", "/api/v1/clients", "ClientOut", None),
    ("GET", "/api/v1/clients/{a1}", "ClientOut", None),
    ("GET", "/api/v1/clients/{a1}/contacts", "ContactOut", None),
    ("POST", "/api/v1/clients/{a1}/contacts", "ContactOut",
     {"kind": "video", "happened_at": "2025-01-02T10:00:00Z"}),
    ("POST", "/api/v1/clients/{a1}/appointments", "AppointmentOut",
     {"kind": "remote", "starts_at": "2099-01-02T10:00:00Z"}),
    ("GET", "/api/v1/tokens", "TokenOut", None),
    ("POST", "/api/v1/tokens", "TokenCreated", {"name": "laptop"}),
]


@pytest.mark.parametrize(("method", "path", "schema", "body"), LIVE)
async def test_real_responses_match_the_documented_schemas(spec, world, login, method, path,
                                                          schema, body):
    staff = await login(world.users["alice"])
    op = spec["paths"][path.replace("{a1}", "{id}")][method.lower()]
    concrete = path.replace("{a1}", str(world.clients["a1"].id))
    response = await (staff.post_json(concrete, body) if method == "POST"
                      else staff.get(concrete))
    (status, documented), = [(s, r) for s, r in op["responses"].items() if s.startswith("2")]
    assert response.status == int(status), await response.text()
    payload = await response.json()
    content = documented["content"]["application/json"]["schema"]
    items = payload["items"] if "items" in content.get("properties", {}) else [payload]
    check = validator(spec, schema)
    assert list(check.iter_errors({})), "the schema must not accept anything at all"
    for item in items:
        errors = [e.message for e in check.iter_errors(item)]
        assert errors == [], errors


# --- problem responses match the Problem schema
PROBLEMS = [
    ("GET", "/api/v1/clients", None, 401),
    ("GET", "/api/v1/clients/999999", "alice", 404),
    ("GET", "/api/v1/users", "alice", 403),
    ("POST", "/api/v1/clients/{a1}/contacts", "alice", 422),
    ("GET", "/api/v1/clients/abc", "alice", 400),
]


@pytest.mark.parametrize(("method", "path", "who", "status"), PROBLEMS)
async def test_problem_responses_match_the_documented_schema(spec, world, login, client,
                                                             method, path, who, status):
    concrete = path.replace("{a1}", str(world.clients["a1"].id))
    if who is None:
        response = await client.request(method, concrete)
    else:
        staff = await login(world.users[who])
        response = await (staff.post_json(concrete, {"kind": "nope"}) if method == "POST"
                          else staff.get(concrete))
    assert response.status == status
    assert response.content_type == "application/problem+json"
    errors = [e.message for e in validator(spec, "Problem").iter_errors(await response.json())]
    assert errors == []


async def test_session_cookie_name_matches_what_is_served(settings, aiohttp_client):
    from dataclasses import replace

    from server.app import create_app

    for base_url, name in [("http://127.0.0.1:8080", "rapport_session"),
                           ("https://rapport.example.test", "__Host-rapport")]:
        client = await aiohttp_client(create_app(replace(settings, base_url=base_url)))
        document = await (await client.get("/api/v1/openapi.json")).json()
        assert document["components"]["securitySchemes"]["session"]["name"] == name
