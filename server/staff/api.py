"""The staff endpoints of /api/v1: the signed-in person, accounts (admins), personal API tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys
from server.endpoints import Endpoint, json_out, list_out
from server.errors import N_, Forbidden
from server.parsing import json_body, path_id
from server.staff import accounts
from server.staff.access import Audience, allow, sensitive
from server.staff.auth import signed_in
from server.staff.keys import IDENTITY
from server.staff.schemas import MeOut, TokenCreated, TokenIn, TokenOut, UserIn, UserOut
from server.store import audit
from server.store.models import Role, User


def user_out(user: User) -> dict[str, Any]:
    """A staff account as the API shows it."""
    return {"id": user.id, "email": user.email, "name": user.name,
            "roles": sorted(user.roles), "team_id": user.team_id, "active": user.active}


@allow(Audience.STAFF)
async def me(request: web.Request) -> web.Response:
    identity = request.get(IDENTITY)
    session = identity.session if identity is not None else None
    return json_out(MeOut, {**user_out(signed_in(request)),
                            "csrf_token": session.csrf_token if session else None})


@allow(Role.ADMIN)
async def users(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        found = await accounts.list_users(db, signed_in(request))
        audit.record(db, request, "users.view", "organisation", signed_in(request).organisation_id,
                     users=len(found))
    return web.json_response({"items": [user_out(u) for u in found]})


@allow(Role.ADMIN)
@sensitive()
async def user_create(request: web.Request) -> web.Response:
    data = await json_body(request, UserIn)
    async with request.app[keys.DB].begin() as db:
        user = await accounts.create_user(db, request, signed_in(request),
                                          signed_in(request).organisation_id, data)
    return json_out(UserOut, user_out(user), status=201)


@allow(Role.ADMIN)
@sensitive()
async def user_set_active(request: web.Request) -> web.Response:
    active = request.match_info.route.name == "api-user-reactivate"
    async with request.app[keys.DB].begin() as db:
        user = await accounts.set_active(db, request, signed_in(request), path_id(request), active)
    return json_out(UserOut, user_out(user))


@allow(Audience.STAFF)
async def tokens(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        found = await accounts.list_tokens(db, signed_in(request))
    return list_out(TokenOut, found)


@allow(Audience.STAFF)
@sensitive()
async def token_create(request: web.Request) -> web.Response:
    identity = request[IDENTITY]
    assert identity is not None
    if identity.via != "session":
        raise Forbidden(N_("API tokens can only be created while signed in, not with a token."))
    data = await json_body(request, TokenIn)
    async with request.app[keys.DB].begin() as db:
        row, secret = await accounts.create_token(db, request, signed_in(request), data,
                                                  request.app[keys.SETTINGS])
    out = TokenOut.model_validate(row).model_dump(mode="json")
    return json_out(TokenCreated, {**out, "token": secret}, status=201)


@allow(Audience.STAFF)
async def token_revoke(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        row = await accounts.revoke_token(db, request, signed_in(request), path_id(request))
    return json_out(TokenOut, row)


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/me", me, "api-me", "The signed-in person (with the session's CSRF token)",
      response=MeOut, tags=("account",)),
    E("GET", "/users", users, "api-users", "Staff accounts (admins)", response=UserOut,
      listing=True, tags=("admin",)),
    E("POST", "/users", user_create, "api-user-create", "Create a staff account (admins)",
      body=UserIn, response=UserOut, status=201, tags=("admin",),
      conflict="An account with this email address already exists"),
    E("POST", "/users/{id}/deactivate", user_set_active, "api-user-deactivate",
      "Deactivate an account: its sessions and tokens end at once", response=UserOut,
      tags=("admin",), conflict="You cannot deactivate your own account"),
    E("POST", "/users/{id}/reactivate", user_set_active, "api-user-reactivate",
      "Reactivate an account", response=UserOut, tags=("admin",)),
    E("GET", "/tokens", tokens, "api-tokens", "Your personal API tokens", response=TokenOut,
      listing=True, tags=("account",)),
    E("POST", "/tokens", token_create, "api-token-create",
      "Create a personal API token (signed-in session only)", body=TokenIn,
      response=TokenCreated, status=201, tags=("account",)),
    E("POST", "/tokens/{id}/revoke", token_revoke, "api-token-revoke",
      "Revoke one of your API tokens", response=TokenOut, tags=("account",)),
)
