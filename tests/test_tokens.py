"""Personal API tokens: created while signed in, shown once, stored only as a hash, used as
`Authorization: Bearer ...`, and ended by revocation, expiry or deactivation of the account."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from server.clock import now
from server.staff.tokens import token_hash
from server.store.models import ApiToken, StaffSession

SESSION = "rapport_session"


# --- helpers ------------------------------------------------------------------------------

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def with_token(client: TestClient, method: str, path: str, token: str,
                     **kw: Any) -> ClientResponse:
    """A call carrying only the token: no cookies, no CSRF token."""
    client.session.cookie_jar.clear()
    headers = {**bearer(token), **kw.pop("headers", {})}
    return await client.request(method, path, headers=headers, allow_redirects=False, **kw)


async def make_token(staff: Any, name: str = "reporting script", days: int = 30) -> dict[str, Any]:
    response = await staff.post_json("/api/v1/tokens", {"name": name, "days": days})
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def token_row(db: Any, token_id: int) -> ApiToken:
    async with db() as s:
        row = await s.get(ApiToken, token_id)
    assert row is not None
    return row


async def token_count(db: Any) -> int:
    async with db() as s:
        return int(await s.scalar(select(func.count()).select_from(ApiToken)) or 0)


async def assert_token_refused(client: TestClient, token: str, why: str) -> None:
    response = await with_token(client, "GET", "/api/v1/me", token)
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["status"] == 401
    assert why in problem["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- creating -----------------------------------------------------------------------------

async def test_create_token_shows_it_once_and_stores_only_its_hash(client, db, world, login,
                                                                   settings):
    alice = await login(world.users["alice"])

    response = await alice.post_json("/api/v1/tokens", {"name": "nightly export", "days": 10})

    assert response.status == 201
    body = await response.json()
    token = body["token"]
    assert token.startswith("rpt_") and len(token) >= 40
    assert body["name"] == "nightly export"
    assert body["revoked_at"] is None and body["last_used_at"] is None
    row = await token_row(db, body["id"])
    assert row.user_id == world.users["alice"].id
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
    assert not [v for v in stored if token in v or token[4:] in v]  # the token text is nowhere
    assert timedelta(days=10) - timedelta(minutes=1) < row.expires_at - now() <= timedelta(days=10)
    # the list shows the token's details, never the token again
    listing = await alice.get("/api/v1/tokens")
    assert listing.status == 200
    text = await listing.text()
    assert token not in text and token_hash(token) not in text
    assert [t["id"] for t in (await listing.json())["items"]] == [body["id"]]
    assert "token" not in (await listing.json())["items"][0]


async def test_account_page_shows_new_token_once(client, db, world, login):
    alice = await login(world.users["alice"])
    created = await alice.post_form("/account/tokens", {"name": "laptop", "days": "7"})
    assert created.status == 201
    async with db() as s:
        row = (await s.scalars(select(ApiToken))).one()
    page = await created.text()
    token = next(w for w in page.replace("<", " ").replace(">", " ").split()
                 if w.startswith("rpt_"))
    assert row.token_hash == token_hash(token)
    assert token not in await (await alice.get("/account")).text()


# Token lifetimes: at least a day, at most api_token_max_days.
@pytest.mark.parametrize("days, status", [
    ("1", 201),
    ("max", 201),
    ("max+1", 422),   # over the organisation's limit
    ("0", 422),       # a token must live at least a day
    ("-5", 422),
    ("366", 422),     # over the schema's absolute bound
])
async def test_token_lifetime_is_bounded(client, db, world, login, settings, days, status):
    alice = await login(world.users["alice"])
    limit = settings.api_token_max_days
    value = {"max": limit, "max+1": limit + 1}.get(days) or int(days)

    response = await alice.post_json("/api/v1/tokens", {"name": "script", "days": value})

    assert response.status == status
    if status == 422:
        problem = await response.json()
        assert [e["field"] for e in problem["errors"]] == ["days"]
        assert await token_count(db) == 0
    else:
        body = await response.json()
        assert (await token_row(db, body["id"])).expires_at - now() <= timedelta(days=value)
        assert await token_count(db) == 1


async def test_too_long_a_lifetime_names_the_limit(world, login, settings):
    alice = await login(world.users["alice"])
    response = await alice.post_json("/api/v1/tokens",
                                     {"name": "x", "days": settings.api_token_max_days + 1})
    assert response.status == 422
    assert f"at most {settings.api_token_max_days} days" in (await response.json())["detail"]


# A token can never mint another token, through the API or through the account page.
@pytest.mark.parametrize("method, path, kw", [
    ("POST", "/api/v1/tokens", {"json": {"name": "child", "days": 7}}),
    ("POST", "/account/tokens", {"data": {"name": "child", "days": "7"}}),
])
async def test_a_token_cannot_create_another_token(client, db, world, login, method, path, kw):
    alice = await login(world.users["alice"])
    token = (await make_token(alice))["token"]

    response = await with_token(client, method, path, token, **kw)

    assert response.status == 403
    assert await token_count(db) == 1
    assert "rpt_" not in await response.text()


async def test_token_creation_needs_a_session(client, db, world):
    response = await client.post("/api/v1/tokens", json={"name": "x", "days": 7})
    assert response.status == 401
    assert await token_count(db) == 0


# --- using --------------------------------------------------------------------------------

async def test_bearer_token_identifies_its_owner(client, db, world, login):
    alice = await login(world.users["alice"])
    body = await make_token(alice)

    response = await with_token(client, "GET", "/api/v1/me", body["token"])

    assert response.status == 200
    me = await response.json()
    assert me["email"] == world.users["alice"].email
    assert me["roles"] == ["practitioner"]
    assert (await token_row(db, body["id"])).last_used_at is not None
    # the token carries the owner's role: an admin-only endpoint stays closed
    assert (await with_token(client, "GET", "/api/v1/users", body["token"])).status == 403
    clients = await with_token(client, "GET", "/api/v1/clients", body["token"])
    assert {c["crn"] for c in (await clients.json())["items"]} == {"CRNA1", "CRNA2"}


async def test_bearer_token_wins_over_a_session_cookie(client, world, login):
    bob = await login(world.users["bob"])
    bobs_token = (await make_token(bob))["token"]
    await login(world.users["alice"])  # the jar now holds alice's session

    response = await client.get("/api/v1/me", headers=bearer(bobs_token))

    assert response.status == 200
    assert (await response.json())["email"] == world.users["bob"].email


# Authorization headers that are not `Bearer <token>`.
@pytest.mark.parametrize("header", [
    "Token rpt_abc",
    "Basic YWxpY2U6cGFzc3dvcmQ=",
    "Bearer",
    "Bearer    ",
    "rpt_no_scheme_at_all",
])
async def test_malformed_authorization_header_is_refused(client, world, header):
    response = await client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status == 401
    problem = await response.json()
    assert "Authorization: Bearer <token>" in problem["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_bearer_scheme_is_case_insensitive(client, world, login):
    alice = await login(world.users["alice"])
    token = (await make_token(alice))["token"]
    client.session.cookie_jar.clear()
    response = await client.get("/api/v1/me", headers={"Authorization": f"bearer {token}"})
    assert response.status == 200


async def test_unknown_token_is_refused(client, world):
    await assert_token_refused(client, "rpt_" + "A" * 43, "not valid")


async def test_a_session_token_is_not_an_api_token(client, world, login):
    """The session cookie's value does not work as a Bearer token."""
    await login(world.users["alice"])
    cookie = next(c.value for c in client.session.cookie_jar if c.key == SESSION)
    await assert_token_refused(client, cookie, "not valid")


# --- ending -------------------------------------------------------------------------------

async def test_revoked_token_is_refused(client, db, world, login):
    alice = await login(world.users["alice"])
    body = await make_token(alice)
    assert (await with_token(client, "GET", "/api/v1/me", body["token"])).status == 200
    alice = await login(world.users["alice"])

    response = await alice.post_json(f"/api/v1/tokens/{body['id']}/revoke")

    assert response.status == 200
    assert (await response.json())["revoked_at"] is not None
    assert (await token_row(db, body["id"])).revoked_at is not None
    await assert_token_refused(client, body["token"], "revoked")


async def test_cannot_revoke_someone_elses_token(client, db, world, login):
    alice = await login(world.users["alice"])
    body = await make_token(alice)
    bob = await login(world.users["bob"])

    response = await bob.post_json(f"/api/v1/tokens/{body['id']}/revoke")

    assert response.status == 404
    assert (await token_row(db, body["id"])).revoked_at is None
    assert (await with_token(client, "GET", "/api/v1/me", body["token"])).status == 200


async def test_expired_token_is_refused_with_a_clear_detail(client, db, world, login):
    alice = await login(world.users["alice"])
    body = await make_token(alice)
    async with db.begin() as s:
        await s.execute(update(ApiToken).where(ApiToken.id == body["id"])
                        .values(expires_at=now() - timedelta(seconds=1)))

    await assert_token_refused(client, body["token"], "expired")


async def test_deactivating_a_user_ends_their_sessions_and_tokens(client, db, world, login):
    alice_user = world.users["alice"]
    alice = await login(alice_user)
    tokens = [(await make_token(alice, name=f"t{i}"))["token"] for i in range(2)]
    alice_cookie = next(c.value for c in client.session.cookie_jar if c.key == SESSION)
    adam = await login(world.users["adam"])

    response = await adam.post_json(f"/api/v1/users/{alice_user.id}/deactivate")

    assert response.status == 200
    assert (await response.json())["active"] is False
    for token in tokens:
        await assert_token_refused(client, token, "not valid")
    client.session.cookie_jar.clear()
    me = await client.get("/api/v1/me", headers={"Cookie": f"{SESSION}={alice_cookie}"})
    assert me.status == 401
    async with db() as s:
        sessions = (await s.scalars(select(StaffSession)
                                    .where(StaffSession.user_id == alice_user.id))).all()
        api_tokens = (await s.scalars(select(ApiToken))).all()
    assert sessions and all(r.revoked_at is not None for r in sessions)
    assert len(api_tokens) == 2 and all(r.revoked_at is not None for r in api_tokens)

    # reactivation does not bring the old tokens back
    adam = await login(world.users["adam"])
    assert (await adam.post_json(f"/api/v1/users/{alice_user.id}/reactivate")).status == 200
    await assert_token_refused(client, tokens[0], "revoked")


async def test_deactivation_leaves_other_peoples_tokens_alone(client, world, login):
    bob = await login(world.users["bob"])
    bobs_token = (await make_token(bob))["token"]
    adam = await login(world.users["adam"])
    response = await adam.post_json(f"/api/v1/users/{world.users['alice'].id}/deactivate")
    assert response.status == 200
    assert (await with_token(client, "GET", "/api/v1/me", bobs_token)).status == 200


# Who may deactivate an account.
@pytest.mark.parametrize("actor, target, status", [
    ("bob", "alice", 403),    # practitioners are not admins
    ("sue", "alice", 403),    # nor are supervisors
    ("adam", "adam", 409),    # an admin cannot lock themselves out
])
async def test_deactivation_is_for_admins_on_others(client, db, world, login, actor, target,
                                                    status):
    staff = await login(world.users[actor])
    response = await staff.post_json(f"/api/v1/users/{world.users[target].id}/deactivate")
    assert response.status == status
    assert (await staff.get("/api/v1/me")).status == 200
    async with db() as s:
        live = await s.scalar(select(func.count()).select_from(StaffSession)
                              .where(StaffSession.revoked_at.is_(None)))
    assert live == 1


async def test_deactivation_with_a_token_needs_no_csrf(client, world, login):
    """An admin's script can deactivate with its Bearer token alone."""
    adam = await login(world.users["adam"])
    token = (await make_token(adam))["token"]
    response = await with_token(client, "POST",
                                f"/api/v1/users/{world.users['carol'].id}/deactivate", token)
    assert response.status == 200
    assert (await response.json())["active"] is False
