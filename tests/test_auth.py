"""Staff sign-in: the login form, throttling, session lifetime and rotation, logout, CSRF.

Time is never waited for: to make time pass, tests move timestamps in the database
(`last_seen_at`, `expires_at`, `blocked_until`, `window_started_at`) relative to
`server.clock.now()`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from aiohttp import ClientResponse, ClientSession, CookieJar
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from yarl import URL

from server import keys
from server.app import create_app
from server.clock import now
from server.staff import throttle
from server.staff.tokens import token_hash
from server.store.models import ApiToken, LoginThrottle, StaffSession, User
from tests.conftest import (
    CSRF_FIELD,
    PASSWORD,
    TOTP_SECRET,
    forget_last_code,
    page_csrf,
    second_factor,
)

SESSION = "rapport_session"
PRE_CSRF = "rapport_csrf"
GENERIC_FAILURE = "That email address and password do not match an active account."
ERROR_SUMMARY = re.compile(r'<div class="error-summary" role="alert"><p>(.*?)</p>', re.S)


# --- helpers ------------------------------------------------------------------------------

class Browser:
    """An independent browser with its own cookie jar, so several people (or one person on
    two devices) can be signed in at the same time against the same app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.http = ClientSession(cookie_jar=CookieJar(unsafe=True))
        self.csrf = ""

    async def _done(self, response: ClientResponse) -> ClientResponse:
        await response.read()  # cache the body and give the connection back
        return response

    async def get(self, path: str, **kw: Any) -> ClientResponse:
        return await self._done(await self.http.get(self.client.make_url(path),
                                                    allow_redirects=False, **kw))

    async def post(self, path: str, **kw: Any) -> ClientResponse:
        return await self._done(await self.http.post(self.client.make_url(path),
                                                     allow_redirects=False, **kw))

    async def post_form(self, path: str, data: dict[str, Any] | None = None) -> ClientResponse:
        return await self.post(path, data=dict(data or {}, csrf_token=self.csrf))

    async def page_csrf(self, path: str) -> str:
        match = CSRF_FIELD.search(await (await self.get(path)).text())
        assert match, f"no CSRF field on {path}"
        return match.group(1)

    async def sign_in(self, email: str, password: str = PASSWORD) -> ClientResponse:
        token = await self.page_csrf("/login")
        response = await self.post("/login", data={"email": email, "password": password,
                                                   "csrf_token": token, "next": "/account"})
        if response.status == 303:
            await forget_last_code(self.client.app[keys.DB], email)
            csrf = await self.page_csrf("/login/factor?next=/account")
            done = await self.post("/login/factor", data={
                "code": pyotp.TOTP(TOTP_SECRET).now(), "csrf_token": csrf, "next": "/account"})
            assert done.status == 303, await done.text()
            self.csrf = await self.page_csrf("/account")
        return response

    def cookie(self, name: str = SESSION) -> str | None:
        return next((c.value for c in self.http.cookie_jar if c.key == name), None)


@pytest.fixture
async def browsers(client: TestClient) -> Any:
    made: list[Browser] = []

    def make() -> Browser:
        browser = Browser(client)
        made.append(browser)
        return browser

    yield make
    for browser in made:
        await browser.http.close()


def jar_cookie(client: TestClient, name: str = SESSION) -> str | None:
    return next((c.value for c in client.session.cookie_jar if c.key == name), None)


def set_cookie_header(response: ClientResponse, name: str) -> str:
    headers = [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.getall("Set-Cookie", [])
    return headers[0]


def attributes(header: str) -> set[str]:
    """The lower-cased attributes of one Set-Cookie header (without the name=value pair)."""
    return {part.strip().lower() for part in header.split(";")[1:]}


async def post_login(client: TestClient, email: str, password: str = PASSWORD,
                     next_: str = "/account", **kw: Any) -> ClientResponse:
    """Submit the real login form (fetching it first for the pre-session CSRF token); after
    a good password, prove the second factor too. Returns the password step's response."""
    token = await page_csrf(client, "/login")
    response = await client.post("/login", data={"email": email, "password": password,
                                                 "csrf_token": token, "next": next_},
                                 allow_redirects=False, **kw)
    if response.status == 303:
        await second_factor(client, email)
    return response


async def prove_factor(db: Any, cookie: str) -> None:
    """For tests of the cookie itself (sent by hand): the session has proved its factor."""
    await move_session(db, cookie, factor_at=now())


def after_password(location: str) -> str | None:
    """Where the second-factor page will send the person on to."""
    url = URL(location)
    assert url.path == "/login/factor", location
    return url.query.get("next")


async def session_row(db: Any, cookie: str) -> StaffSession:
    async with db() as s:
        row = await s.scalar(select(StaffSession)
                             .where(StaffSession.token_hash == token_hash(cookie)))
    assert row is not None, "no session row for this cookie"
    return row


async def move_session(db: Any, cookie: str, **values: Any) -> None:
    async with db.begin() as s:
        await s.execute(update(StaffSession)
                        .where(StaffSession.token_hash == token_hash(cookie)).values(**values))


async def throttle_rows(db: Any) -> dict[str, LoginThrottle]:
    async with db() as s:
        return {r.key: r for r in (await s.scalars(select(LoginThrottle))).all()}


async def session_count(db: Any) -> int:
    async with db() as s:
        return int(await s.scalar(select(func.count()).select_from(StaffSession)) or 0)


# --- signing in ---------------------------------------------------------------------------

async def test_login_success_sets_http_session_cookie(client, db, world):
    response = await post_login(client, world.users["alice"].email, next_="/caseload")

    assert response.status == 303
    assert after_password(response.headers["Location"]) == "/caseload"
    header = set_cookie_header(response, SESSION)
    flags = attributes(header)
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # plain http (base_url is http://): a Secure cookie would be lost
    assert not any(f.startswith("domain=") for f in flags)
    cookie = jar_cookie(client)
    assert cookie
    row = await session_row(db, cookie)
    assert row.user_id == world.users["alice"].id
    assert row.revoked_at is None
    assert row.token_hash != cookie  # only the hash is stored
    assert row.expires_at > now()
    # the cookie really signs the browser in
    me = await client.get("/api/v1/me")
    assert me.status == 200
    assert (await me.json())["email"] == world.users["alice"].email


async def test_login_over_https_uses_secure_host_prefixed_cookie(settings, world,
                                                                 aiohttp_client):
    secure = replace(settings, base_url="https://rapport.example.test")
    client = await aiohttp_client(create_app(secure))
    form = await client.get("/login")
    # Over https the signed-out CSRF cookie is __Host- prefixed too (outside test defect 7),
    # and every response asks the browser to keep to https.
    pre_name = f"__Host-{PRE_CSRF}"
    pre_header = set_cookie_header(form, pre_name)
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes(pre_header)
    assert not [h for h in form.headers.getall("Set-Cookie") if h.startswith(f"{PRE_CSRF}=")]
    assert form.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    pre_cookie = form.cookies[pre_name].value
    token = CSRF_FIELD.search(await form.text()).group(1)

    # The test client talks plain http, so its jar would withhold Secure cookies: send it by hand.
    client.session.cookie_jar.clear()
    response = await client.post("/login", data={"email": world.users["alice"].email,
                                                 "password": PASSWORD, "csrf_token": token},
                                 headers={"Cookie": f"{pre_name}={pre_cookie}"},
                                 allow_redirects=False)

    assert response.status == 303
    assert "Strict-Transport-Security" in response.headers
    assert {"secure", "path=/"} <= attributes(set_cookie_header(response, "__Host-rapport_device"))
    header = set_cookie_header(response, "__Host-rapport")
    flags = attributes(header)
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags
    assert not any(f.startswith("domain=") for f in flags)  # required by the __Host- prefix
    assert not [h for h in response.headers.getall("Set-Cookie") if h.startswith(f"{SESSION}=")]
    value = response.cookies["__Host-rapport"].value
    await prove_factor(client.app[keys.DB], value)
    client.session.cookie_jar.clear()
    me = await client.get("/api/v1/me", headers={"Cookie": f"__Host-rapport={value}"})
    assert me.status == 200
    # over https the plain-http cookie name means nothing
    client.session.cookie_jar.clear()
    other = await client.get("/api/v1/me", headers={"Cookie": f"{SESSION}={value}"})
    assert other.status == 401


async def test_logout_over_https_clears_cookie_with_secure_attribute(settings, world,
                                                                   aiohttp_client):
    secure = replace(settings, base_url="https://rapport.example.test")
    client = await aiohttp_client(create_app(secure))
    form = await client.get("/login")
    pre_cookie = form.cookies[f"__Host-{PRE_CSRF}"].value
    token = CSRF_FIELD.search(await form.text()).group(1)
    client.session.cookie_jar.clear()
    login = await client.post("/login", data={"email": world.users["alice"].email,
                                              "password": PASSWORD, "csrf_token": token},
                              headers={"Cookie": f"__Host-{PRE_CSRF}={pre_cookie}"},
                              allow_redirects=False)
    value = login.cookies["__Host-rapport"].value
    client.session.cookie_jar.clear()
    cookie = {"Cookie": f"__Host-rapport={value}"}
    account = await client.get("/account", headers=cookie)
    csrf = CSRF_FIELD.search(await account.text()).group(1)
    client.session.cookie_jar.clear()
    response = await client.post("/logout", data={"csrf_token": csrf}, headers=cookie,
                                 allow_redirects=False)
    assert response.status == 303
    assert "secure" in attributes(set_cookie_header(response, "__Host-rapport"))


async def test_login_email_is_case_and_space_insensitive(client, world):
    response = await post_login(client, "  ALICE@Example.TEST ")
    assert response.status == 303
    assert (await (await client.get("/api/v1/me")).json())["name"] == "Alice"


# Where the browser goes after signing in: only local paths are followed.
@pytest.mark.parametrize("target, expected", [
    ("/team", "/team"),
    ("/clients/1?tab=contacts", "/clients/1?tab=contacts"),
    # open-redirect attempts fall back to the home page, which sends each role to its start
    ("//evil.example/", "/"),
    ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("", "/"),
])
async def test_login_redirects_only_to_local_paths(client, world, target, expected):
    response = await post_login(client, world.users["sue"].email, next_=target)
    assert response.status == 303
    assert after_password(response.headers["Location"]) == expected


async def _deactivate(db: Any, user: Any) -> None:
    async with db.begin() as s:
        await s.execute(update(User).where(User.id == user.id).values(active=False))


# Every failed sign-in looks the same, so the page never tells whether an account exists.
@pytest.mark.parametrize("case", [
    "wrong-password",       # a real, active account
    "unknown-email",        # nobody has this address
    "deactivated-account",  # the right password, but the account is switched off
    "empty-password",
])
async def test_login_failure_is_generic(client, db, world, case):
    alice = world.users["alice"]
    email, password = {
        "wrong-password": (alice.email, "not-the-password-at-all"),
        "unknown-email": ("nobody@example.test", PASSWORD),
        "deactivated-account": (alice.email, PASSWORD),
        "empty-password": (alice.email, ""),
    }[case]
    if case == "deactivated-account":
        await _deactivate(db, alice)

    response = await post_login(client, email, password)

    assert response.status == 401
    body = await response.text()
    errors = ERROR_SUMMARY.findall(body)
    assert errors == [GENERIC_FAILURE]
    assert "not found" not in body.lower() and "deactivated" not in body.lower()
    assert PASSWORD not in body  # the password is never echoed back
    assert not [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(SESSION)]
    assert await session_count(db) == 0
    assert (await client.get("/api/v1/me")).status == 401


async def test_failure_page_is_identical_for_known_and_unknown_email(client, world):
    """Apart from the echoed email, the two pages must not differ at all."""
    known = await post_login(client, world.users["bob"].email, "wrong-password-123")
    unknown = await post_login(client, "nobody@example.test", "wrong-password-123")
    assert known.status == unknown.status == 401

    def normalise(text: str, email: str) -> str:
        text = text.replace(email, "EMAIL")
        return CSRF_FIELD.sub("CSRF", text)

    assert normalise(await known.text(), world.users["bob"].email) == \
        normalise(await unknown.text(), "nobody@example.test")


# --- throttling ---------------------------------------------------------------------------

async def fail(client: TestClient, email: str, times: int) -> None:
    for _ in range(times):
        response = await post_login(client, email, "wrong-password-123")
        assert response.status == 401


async def test_right_password_is_refused_after_too_many_failures(client, db, world, settings):
    alice = world.users["alice"]
    await fail(client, alice.email, settings.login_max_failures)

    response = await post_login(client, alice.email)

    assert response.status == 429
    retry = int(response.headers["Retry-After"])
    assert 0 < retry <= settings.login_max_lockout_minutes * 60
    assert "Too many failed sign-in attempts" in await response.text()
    assert await session_count(db) == 0
    rows = await throttle_rows(db)
    pair = next(r for k, r in rows.items() if k.startswith(f"pair:{alice.email}|"))
    assert pair.failures == settings.login_max_failures
    assert pair.blocked_until is not None
    assert pair.blocked_until - now() <= timedelta(minutes=settings.login_max_lockout_minutes)
    # the account-wide limit is higher, so the person is not locked out everywhere
    assert rows[f"acct:{alice.email}"].blocked_until is None


async def test_blocked_attempts_do_not_extend_the_block(client, db, world, settings):
    alice = world.users["alice"]
    await fail(client, alice.email, settings.login_max_failures)
    before = await throttle_rows(db)
    for _ in range(3):
        assert (await post_login(client, alice.email, "wrong-password-123")).status == 429
    after = await throttle_rows(db)
    assert {k: (r.failures, r.blocked_until) for k, r in after.items()} == \
        {k: (r.failures, r.blocked_until) for k, r in before.items()}


async def test_block_grows_but_never_exceeds_the_cap(client, db, world, settings):
    alice = world.users["alice"]
    cap = timedelta(minutes=settings.login_max_lockout_minutes)
    await fail(client, alice.email, settings.login_max_failures)
    lengths = []
    for _ in range(7):
        rows = await throttle_rows(db)
        pair_key = next(k for k in rows if k.startswith("pair:"))
        block = rows[pair_key].blocked_until - now()
        assert block <= cap
        lengths.append(round(block.total_seconds() / 60))
        # the block has run out (but the window has not): one more failure
        async with db.begin() as s:
            await s.execute(update(LoginThrottle).where(LoginThrottle.key == pair_key)
                            .values(blocked_until=now() - timedelta(seconds=1)))
        assert (await post_login(client, alice.email, "wrong-password-123")).status == 401
        response = await post_login(client, alice.email)
        assert response.status == 429
        assert int(response.headers["Retry-After"]) <= cap.total_seconds()
    # it doubles with each further failure, up to the cap
    assert lengths == [1, 2, 4, 8, 15, 15, 15]
    assert settings.login_max_lockout_minutes == 15


async def test_block_runs_out(client, db, world, settings):
    alice = world.users["alice"]
    await fail(client, alice.email, settings.login_max_failures)
    assert (await post_login(client, alice.email)).status == 429
    async with db.begin() as s:
        await s.execute(update(LoginThrottle).values(blocked_until=now() - timedelta(seconds=1)))
    assert (await post_login(client, alice.email)).status == 303


async def test_success_clears_the_accounts_counters(client, db, world, settings):
    alice = world.users["alice"]
    await fail(client, alice.email, settings.login_max_failures - 1)
    assert (await post_login(client, alice.email)).status == 303

    rows = await throttle_rows(db)
    assert not [k for k in rows if alice.email in k]  # pair and account counters gone
    assert [k for k in rows if k.startswith("addr:")]  # the address's counter stays
    # counting starts again: another limit-1 failures do not block
    client.session.cookie_jar.clear()
    await fail(client, alice.email, settings.login_max_failures - 1)
    assert (await post_login(client, alice.email)).status == 303


async def test_old_failures_outside_the_window_are_forgotten(client, db, world, settings):
    alice = world.users["alice"]
    await fail(client, alice.email, settings.login_max_failures - 1)
    async with db.begin() as s:
        await s.execute(update(LoginThrottle).values(
            window_started_at=now() - timedelta(minutes=settings.login_window_minutes + 1)))
    await fail(client, alice.email, 1)
    rows = await throttle_rows(db)
    assert all(r.failures == 1 for r in rows.values())
    assert all(r.blocked_until is None for r in rows.values())
    assert (await post_login(client, alice.email)).status == 303


async def test_other_account_from_same_address_is_not_blocked(client, db, world, settings):
    await fail(client, world.users["alice"].email, settings.login_max_failures)
    assert (await post_login(client, world.users["alice"].email)).status == 429

    response = await post_login(client, world.users["bob"].email)

    assert response.status == 303
    rows = await throttle_rows(db)
    addr = next(r for k, r in rows.items() if k.startswith("addr:"))
    assert addr.blocked_until is None  # the address limit is far higher than the pair's


async def test_unknown_email_is_throttled_like_a_real_one(client, db, settings):
    """Otherwise the 429 would reveal which addresses have accounts."""
    await fail(client, "nobody@example.test", settings.login_max_failures)
    assert (await post_login(client, "nobody@example.test")).status == 429


async def test_throttle_block_is_capped_even_after_many_rounds(db, settings):
    """A long window with a short cap lets failures pile up far past the limit; the
    doubling must stay capped (and must not overflow) however many there are."""
    tight = replace(settings, login_window_minutes=24 * 60, login_max_lockout_minutes=1)
    limits = throttle.throttle_keys("mallory@example.test", "203.0.113.9", tight)
    cap = timedelta(minutes=tight.login_max_lockout_minutes)
    for _ in range(80):
        async with db.begin() as s:
            await throttle.record_failure(s, limits, tight)
        async with db.begin() as s:
            until = await throttle.blocked_until(s, limits)
            assert until is None or until - now() <= cap
            # let every block run out before the next guess
            await s.execute(update(LoginThrottle).where(LoginThrottle.blocked_until.is_not(None))
                            .values(blocked_until=now() - timedelta(seconds=1)))
    rows = await throttle_rows(db)
    assert rows["pair:mallory@example.test|203.0.113.9"].failures == 80


async def test_long_failure_history_still_blocks_instead_of_crashing(client, db, world,
                                                                     settings):
    """Through the form: a pair key with a long history of failures (blocks all run out,
    window still open) must answer 401 then 429, never 500 (which would let guessing go on
    unthrottled, because the failed transaction records nothing)."""
    alice = world.users["alice"]
    pair = f"pair:{alice.email}|127.0.0.1"
    async with db.begin() as s:
        s.add(LoginThrottle(key=pair, failures=100, window_started_at=now(),
                            blocked_until=now() - timedelta(seconds=1)))

    response = await post_login(client, alice.email, "wrong-password-123")

    assert response.status == 401
    row = (await throttle_rows(db))[pair]
    assert row.failures == 101
    assert row.blocked_until - now() <= timedelta(minutes=settings.login_max_lockout_minutes)
    assert (await post_login(client, alice.email)).status == 429


async def test_throttle_block_doubles_per_failure_over_the_limit(db, settings):
    limits = throttle.throttle_keys("eve@example.test", "198.51.100.7", settings)
    pair = "pair:eve@example.test|198.51.100.7"
    blocks = []
    for _ in range(settings.login_max_failures + 3):
        async with db.begin() as s:
            await throttle.record_failure(s, limits, settings)
        row = (await throttle_rows(db))[pair]
        if row.blocked_until is not None:
            blocks.append(round((row.blocked_until - row.window_started_at).total_seconds() / 60))
            async with db.begin() as s:
                await s.execute(update(LoginThrottle).where(LoginThrottle.key == pair)
                                .values(blocked_until=now() - timedelta(seconds=1)))
    # limit reached: 1 minute, then 2, 4, 8 (well under the 15-minute cap)
    assert blocks == [1, 2, 4, 8]


# --- session lifetime and rotation --------------------------------------------------------

async def test_each_login_rotates_the_session(client, db, world):
    alice = world.users["alice"]
    assert (await post_login(client, alice.email)).status == 303
    first = jar_cookie(client)
    assert first

    # sign in again from the same browser (the old cookie is still sent)
    assert (await post_login(client, alice.email)).status == 303
    second = jar_cookie(client)

    assert second and second != first
    assert (await session_row(db, first)).revoked_at is not None
    assert (await session_row(db, second)).revoked_at is None
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/me", headers={"Cookie": f"{SESSION}={first}"})).status == 401
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/me", headers={"Cookie": f"{SESSION}={second}"})).status == 200


async def test_signing_in_as_someone_else_revokes_the_previous_session(client, db, world):
    assert (await post_login(client, world.users["alice"].email)).status == 303
    first = jar_cookie(client)
    assert (await post_login(client, world.users["bob"].email)).status == 303
    assert (await session_row(db, first)).revoked_at is not None
    assert (await (await client.get("/api/v1/me")).json())["email"] == world.users["bob"].email


async def test_a_planted_cookie_is_not_adopted(client, db, world):
    """Session fixation: a cookie chosen before sign-in never becomes the session."""
    planted = "attacker-chosen-value"
    client.session.cookie_jar.update_cookies({SESSION: planted}, client.make_url("/"))
    response = await post_login(client, world.users["alice"].email)
    assert response.status == 303
    assert jar_cookie(client) != planted
    async with db() as s:
        found = await s.scalar(select(StaffSession).where(
            StaffSession.token_hash == token_hash(planted)))
    assert found is None


# After a session ends, pages send the browser to /login, the API answers 401.
EXPIRED_REQUESTS = [
    ("/caseload", 303),
    ("/account", 303),
    ("/api/v1/me", 401),
]


async def assert_signed_out(client: TestClient, path: str, status: int) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == status
    if status == 303:
        assert response.headers["Location"] == f"/login?next={path}"
    else:
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["status"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path, status", EXPIRED_REQUESTS)
async def test_idle_session_expires(client, db, world, login, settings, path, status):
    await login(world.users["alice"])
    cookie = jar_cookie(client)
    await move_session(db, cookie, last_seen_at=now() - timedelta(
        minutes=settings.session_idle_minutes, seconds=5))
    await assert_signed_out(client, path, status)


async def test_activity_keeps_the_session_alive(client, db, world, login, settings):
    await login(world.users["alice"])
    cookie = jar_cookie(client)
    long_ago = now() - timedelta(minutes=settings.session_idle_minutes - 1)
    await move_session(db, cookie, last_seen_at=long_ago)

    assert (await client.get("/api/v1/me")).status == 200

    touched = (await session_row(db, cookie)).last_seen_at
    assert touched > long_ago + timedelta(minutes=settings.session_idle_minutes - 2)
    # the old activity would now be past the idle limit, but the touch renewed it
    assert (await client.get("/api/v1/me")).status == 200


@pytest.mark.parametrize("path, status", EXPIRED_REQUESTS)
async def test_absolute_session_lifetime(client, db, world, login, path, status):
    await login(world.users["alice"])
    cookie = jar_cookie(client)
    await move_session(db, cookie, expires_at=now() - timedelta(seconds=1),
                       last_seen_at=now())
    await assert_signed_out(client, path, status)


async def test_session_lasts_absolute_hours(client, db, world, login, settings):
    await login(world.users["alice"])
    row = await session_row(db, jar_cookie(client))
    assert row.expires_at - row.created_at == timedelta(hours=settings.session_absolute_hours)


async def test_deactivated_user_session_stops_working(client, db, world, login):
    alice = await login(world.users["alice"])
    assert (await alice.get("/api/v1/me")).status == 200
    await _deactivate(db, world.users["alice"])
    await assert_signed_out(client, "/caseload", 303)


# --- logging out --------------------------------------------------------------------------

async def test_logout_revokes_only_this_session(db, world, browsers):
    laptop, phone = browsers(), browsers()
    for browser in (laptop, phone):
        assert (await browser.sign_in(world.users["alice"].email)).status == 303
    laptop_cookie, phone_cookie = laptop.cookie(), phone.cookie()

    response = await laptop.post_form("/logout")

    assert response.status == 303
    assert response.headers["Location"] == "/login"
    assert laptop.cookie() in (None, "")  # the cookie was deleted
    assert (await session_row(db, laptop_cookie)).revoked_at is not None
    assert (await session_row(db, phone_cookie)).revoked_at is None
    assert (await phone.get("/api/v1/me")).status == 200
    # replaying the old cookie does not bring the session back
    replay = await laptop.get("/api/v1/me", headers={"Cookie": f"{SESSION}={laptop_cookie}"})
    assert replay.status == 401


async def test_logout_everywhere_revokes_all_of_the_users_sessions(db, world, browsers):
    laptop, phone, bobs = browsers(), browsers(), browsers()
    for browser, who in ((laptop, "alice"), (phone, "alice"), (bobs, "bob")):
        assert (await browser.sign_in(world.users[who].email)).status == 303
    phone_cookie = phone.cookie()

    response = await laptop.post_form("/logout/everywhere")

    assert response.status == 303
    assert (await phone.get("/api/v1/me")).status == 401
    assert (await phone.get("/caseload")).headers["Location"] == "/login?next=/caseload"
    assert (await session_row(db, phone_cookie)).revoked_at is not None
    async with db() as s:
        live = (await s.scalars(select(StaffSession.user_id)
                                .where(StaffSession.revoked_at.is_(None)))).all()
    assert live == [world.users["bob"].id]
    assert (await bobs.get("/api/v1/me")).status == 200


async def test_logout_needs_a_session(client, world):
    response = await client.post("/logout", allow_redirects=False)
    assert response.status == 401


# --- CSRF ---------------------------------------------------------------------------------

# Form posts riding on the session cookie: each variant must be refused before the handler.
@pytest.mark.parametrize("variant", [
    "no-token",
    "wrong-token",
    "token-from-another-session",
    # the right token does not help when the browser says the post came from elsewhere
    "foreign-origin",
    "cross-site-fetch-metadata",
    "null-origin-cross-site",
    # an opaque origin is tolerated only because the token still has to match
    "null-origin-without-token",
])
async def test_form_post_without_valid_csrf_is_refused(db, world, browsers, variant):
    alice, bob = browsers(), browsers()
    assert (await alice.sign_in(world.users["alice"].email)).status == 303
    assert (await bob.sign_in(world.users["bob"].email)).status == 303
    data: dict[str, str] = {"csrf_token": alice.csrf}
    headers: dict[str, str] = {}
    if variant in ("no-token", "null-origin-without-token"):
        del data["csrf_token"]
    if variant == "wrong-token":
        data["csrf_token"] = "x" * 43
    if variant == "token-from-another-session":
        data["csrf_token"] = bob.csrf
    if variant == "foreign-origin":
        headers["Origin"] = "https://evil.example"
    if variant in ("null-origin-cross-site", "null-origin-without-token"):
        headers["Origin"] = "null"
    if variant in ("cross-site-fetch-metadata", "null-origin-cross-site"):
        headers["Sec-Fetch-Site"] = "cross-site"

    response = await alice.post("/logout", data=data, headers=headers)

    assert response.status == 403
    assert "did not come from Rapport" in await response.text()
    assert (await alice.get("/api/v1/me")).status == 200  # still signed in


# Form posts with the right token are accepted with whatever origin signals a browser of
# our own pages sends.
@pytest.mark.parametrize("headers", [
    {},                                           # no Origin at all (older browsers)
    {"Origin": "http://127.0.0.1:8080"},          # settings.base_url
    # Chromium under our `Referrer-Policy: no-referrer`: an opaque origin on every POST
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
])
async def test_form_post_with_token_from_our_pages_is_accepted(db, world, browsers, settings,
                                                               headers):
    assert settings.base_url == "http://127.0.0.1:8080"
    alice = browsers()
    assert (await alice.sign_in(world.users["alice"].email)).status == 303
    response = await alice.post("/account/tokens",
                                data={"csrf_token": alice.csrf, "name": "laptop", "days": "7"},
                                headers=headers)
    assert response.status == 201
    async with db() as s:
        assert len((await s.scalars(select(ApiToken))).all()) == 1


async def test_login_form_works_as_chromium_posts_it(client, db, world):
    """The login form, with the headers Chromium sends under `Referrer-Policy: no-referrer`."""
    token = await page_csrf(client, "/login")
    response = await client.post("/login", data={"email": world.users["alice"].email,
                                                 "password": PASSWORD, "csrf_token": token},
                                 headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
                                 allow_redirects=False)
    assert response.status == 303
    assert await session_count(db) == 1


async def test_csrf_token_is_accepted_as_header_for_forms(world, browsers):
    alice = browsers()
    assert (await alice.sign_in(world.users["alice"].email)).status == 303
    response = await alice.post("/logout", headers={"X-CSRF-Token": alice.csrf})
    assert response.status == 303


# JSON API calls with the session cookie need the X-CSRF-Token header.
@pytest.mark.parametrize("header, status", [
    (None, 403),
    ("wrong-token", 403),
    ("right", 201),
])
async def test_json_api_post_with_session_needs_csrf_header(db, world, browsers, header, status):
    alice = browsers()
    assert (await alice.sign_in(world.users["alice"].email)).status == 303
    headers = {} if header is None else {
        "X-CSRF-Token": alice.csrf if header == "right" else header}

    response = await alice.post("/api/v1/tokens", json={"name": "ci", "days": 7},
                                headers=headers)

    assert response.status == status
    if status == 403:
        assert response.content_type == "application/problem+json"
        assert (await response.json())["status"] == 403
    async with db() as s:
        made = (await s.scalars(select(ApiToken))).all()
    assert len(made) == (1 if status == 201 else 0)


async def test_csrf_token_in_json_body_does_not_count(world, browsers):
    alice = browsers()
    assert (await alice.sign_in(world.users["alice"].email)).status == 303
    response = await alice.post("/api/v1/tokens",
                                json={"name": "ci", "days": 7, "csrf_token": alice.csrf})
    assert response.status == 403


# The login form itself is protected by a pre-session token kept in a cookie.
@pytest.mark.parametrize("variant", [
    "no-cookie-no-token",
    "token-without-cookie",   # a token scraped from somebody else's page
    "cookie-without-token",
    "mismatched",
    "foreign-origin",
    "cross-site-fetch-metadata",
])
async def test_login_form_needs_the_pre_session_token(client, db, world, variant):
    alice = world.users["alice"]
    token = await page_csrf(client, "/login")  # sets the rapport_csrf cookie
    assert jar_cookie(client, PRE_CSRF) == token
    data = {"email": alice.email, "password": PASSWORD}
    headers: dict[str, str] = {}
    if variant in ("no-cookie-no-token", "token-without-cookie"):
        client.session.cookie_jar.clear()
    if variant in ("token-without-cookie", "foreign-origin", "cross-site-fetch-metadata"):
        data["csrf_token"] = token
    if variant == "mismatched":
        data["csrf_token"] = token[::-1]
    if variant == "foreign-origin":
        headers["Origin"] = "https://evil.example"
    if variant == "cross-site-fetch-metadata":
        headers["Sec-Fetch-Site"] = "cross-site"

    response = await client.post("/login", data=data, headers=headers, allow_redirects=False)

    assert response.status == 403
    assert await session_count(db) == 0
    assert await throttle_rows(db) == {}  # refused before the password was even looked at


async def test_login_form_sets_the_pre_session_cookie_once(client):
    first = await client.get("/login")
    header = set_cookie_header(first, PRE_CSRF)
    assert {"httponly", "samesite=lax", "path=/"} <= attributes(header)
    token = CSRF_FIELD.search(await first.text()).group(1)
    assert first.cookies[PRE_CSRF].value == token
    again = await client.get("/login")
    assert not [h for h in again.headers.getall("Set-Cookie", []) if h.startswith(PRE_CSRF)]
    assert CSRF_FIELD.search(await again.text()).group(1) == token


async def test_signed_in_pages_carry_the_session_csrf_token(client, db, world, login):
    staff = await login(world.users["alice"])
    row = await session_row(db, jar_cookie(client))
    assert staff.csrf == row.csrf_token
    assert staff.csrf != jar_cookie(client, PRE_CSRF)


async def test_bearer_token_calls_need_no_csrf_token(client, world, login):
    alice = await login(world.users["alice"])
    created = await alice.post_json("/api/v1/tokens", {"name": "script", "days": 7})
    assert created.status == 201
    body = await created.json()
    client.session.cookie_jar.clear()  # no cookies at all: the token alone

    response = await client.post(f"/api/v1/tokens/{body['id']}/revoke",
                                 headers={"Authorization": f"Bearer {body['token']}"})

    assert response.status == 200
    assert (await response.json())["revoked_at"] is not None


async def test_logout_with_an_api_token_is_refused_and_ends_no_session(client, db, world, login):
    alice = await login(world.users["alice"])
    created = await alice.post_json("/api/v1/tokens", {"name": "script", "days": 1})
    token = (await created.json())["token"]
    response = await client.post("/logout", headers={"Authorization": f"Bearer {token}"},
                                 allow_redirects=False)
    assert response.status == 400
    assert "revoke it on your account page" in await response.text()
    assert (await alice.get("/api/v1/me")).status == 200  # the browser session lives on


async def test_stale_token_does_not_break_public_pages(client):
    headers = {"Authorization": "Bearer rpt_not-a-token"}
    assert (await client.get("/healthz", headers=headers)).status == 200
    assert (await client.get("/api/v1/openapi.json", headers=headers)).status == 200
    assert (await client.get("/api/v1/me", headers=headers)).status == 401


async def test_anonymous_head_of_a_page_redirects_like_get(client):
    response = await client.head("/caseload", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/login")


async def test_simultaneous_first_failures_are_both_counted(client, db, world):
    """Two failures at once for a new key must not race on INSERT (one used to get a 500)."""
    async def attempt():
        token = await page_csrf(client, "/login")
        return await client.post("/login", data={"email": "nobody@example.test",
                                                 "password": "wrong-password-here",
                                                 "csrf_token": token}, allow_redirects=False)

    responses = await asyncio.gather(attempt(), attempt(), attempt())
    assert [r.status for r in responses] == [401, 401, 401]
    async with db() as s:
        row = await s.scalar(select(LoginThrottle).where(
            LoginThrottle.key == "acct:nobody@example.test"))
    assert row.failures == 3


async def test_sign_in_returns_to_the_page_asked_for_with_its_query(client, world):
    asked = await client.get("/caseload?sort=name&page=2", allow_redirects=False)
    location = asked.headers["Location"]
    assert URL(location).query["next"] == "/caseload?sort=name&page=2"
    form = await client.get(location)
    assert 'name="next" value="/caseload?sort=name&amp;page=2"' in await form.text()
