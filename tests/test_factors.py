"""The second factor: enrolment at first sign-in, authenticator codes once only, recovery
codes, too many wrong codes, an admin's reset, the setting, and asking again before
sensitive acts. The browser side is in tests/browser/test_factors.py."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from server import keys
from server.app import create_app
from server.clock import now
from server.staff import recovery, totp
from server.store.models import AuditEvent, RecoveryCode, StaffSession, TotpFactor, User
from tests.conftest import (
    CSRF_FIELD,
    PASSWORD,
    TOTP_SECRET,
    TOTP_SECRET_ON_PAGE,
    forget_last_code,
    make_user,
    page_csrf,
)

CODES = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")
WRONG = "That code is not right, or it was already used."


async def password_only(client: Any, email: str, next_: str = "/account") -> Any:
    """The first step alone: the password (a session that still owes its second factor)."""
    client.session.cookie_jar.clear()
    csrf = await page_csrf(client, "/login")
    response = await client.post("/login", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": csrf, "next": next_},
                                 allow_redirects=False)
    assert response.status == 303
    return response


async def submit_code(client: Any, code: str, path: str = "/login/factor",
                      next_: str = "/account") -> Any:
    csrf = await page_csrf(client, f"/login/factor?next={next_}")
    return await client.post(path, data={"code": code, "csrf_token": csrf, "next": next_},
                             allow_redirects=False)


async def actions(db: Any) -> list[str]:
    async with db() as s:
        return list((await s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())


# --- enrolment at first sign-in -------------------------------------------------------------

async def test_a_new_account_sets_up_an_authenticator_app_at_first_sign_in(client, db, world):
    async with db.begin() as s:
        newcomer = await make_user(s, world.org, world.team, "nia", set(world.users["alice"].roles))
        await s.execute(update(User).where(User.id == newcomer.id).values(second_factor=False))
        await s.execute(TotpFactor.__table__.delete().where(TotpFactor.user_id == newcomer.id))
    await password_only(client, newcomer.email)
    account = await client.get("/account", allow_redirects=False)
    assert account.status == 303
    assert account.headers["Location"] == "/login/factor?next=/account"
    page = await client.get("/login/factor?next=/account")
    text = await page.text()
    assert "<svg" in text and "otpauth" not in text.split("<svg", 1)[0]
    assert "http" not in text.split("<svg", 1)[1].split("</svg>", 1)[0]  # drawn here, no CDN
    secret = TOTP_SECRET_ON_PAGE.search(text).group(1)

    wrong = await submit_code(client, "000000", "/login/factor/enrol")
    assert wrong.status == 422
    assert (await client.get("/account", allow_redirects=False)).status == 303

    done = await submit_code(client, pyotp.TOTP(secret).now(), "/login/factor/enrol")
    assert done.status == 200
    codes = CODES.findall(await done.text())
    assert len(codes) == recovery.COUNT and len(set(codes)) == recovery.COUNT
    assert (await client.get("/account", allow_redirects=False)).status == 200
    async with db() as s:
        stored = (await s.scalars(select(RecoveryCode.code_hash))).all()
        person = await s.get(User, newcomer.id)
    assert len(stored) == recovery.COUNT
    assert all(h.startswith("$argon2id$") for h in stored)  # hashed like passwords
    assert not any(c.replace("-", "") in h for c in codes for h in stored)
    assert person.second_factor
    assert "factor.enrol" in await actions(db)


async def test_the_second_factor_is_required_by_default(settings):
    assert settings.second_factor_required
    assert replace(settings).validate().second_factor_required


# --- authenticator codes ------------------------------------------------------------------

async def test_an_authenticator_code_is_good_once_only(client, db, world):
    alice = world.users["alice"]
    await forget_last_code(db, alice.email)
    code = pyotp.TOTP(TOTP_SECRET).now()
    await password_only(client, alice.email)
    assert (await submit_code(client, code)).status == 303
    await password_only(client, alice.email)  # someone who watched the code being typed
    again = await submit_code(client, code)
    assert again.status == 401
    assert WRONG in await again.text()
    assert (await client.get("/api/v1/me")).status == 401


@pytest.mark.parametrize(("offset", "accepted"), [
    (0, True), (-30, True), (30, True),  # one step of drift either side
    (-90, False), (90, False),
])
def test_codes_are_accepted_within_one_step_of_drift(offset, accepted):
    at = 1_800_000_000.0
    code = pyotp.TOTP(TOTP_SECRET).at(at + offset)
    assert (totp.matching_counter(TOTP_SECRET, code, at=at) is not None) is accepted


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_match_nothing(code):
    assert totp.matching_counter(TOTP_SECRET, code) is None


async def test_too_many_wrong_codes_end_the_sign_in(client, db, world, settings):
    await password_only(client, world.users["alice"].email)
    for _ in range(settings.factor_max_failures - 1):
        assert (await submit_code(client, "000000")).status == 401
    last = await submit_code(client, "000000")
    assert last.status == 401
    assert "Too many wrong codes" in await last.text()
    async with db() as s:
        rows = (await s.scalars(select(StaffSession))).all()
    assert [r.revoked_at is not None for r in rows] == [True]
    # the ended session cannot try again: it is anonymous now
    assert (await client.get("/login/factor", allow_redirects=False)).status == 303
    assert (await actions(db)).count("factor.failure") == settings.factor_max_failures


# --- recovery codes -----------------------------------------------------------------------

async def test_a_recovery_code_signs_in_once(client, db, world):
    alice = world.users["alice"]
    async with db.begin() as s:
        codes = await recovery.replace_codes(s, alice.id)
    await password_only(client, alice.email)
    used = await submit_code(client, codes[3].upper().replace("-", " "))  # as typed off paper
    assert used.status == 200
    assert f"Recovery codes left: {recovery.COUNT - 1}" in await used.text()
    assert (await client.get("/api/v1/me")).status == 200
    await password_only(client, alice.email)
    assert (await submit_code(client, codes[3])).status == 401
    async with db() as s:
        spent = (await s.scalars(select(RecoveryCode).where(
            RecoveryCode.used_at.is_not(None)))).all()
        verify = (await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "factor.verify"))).all()
    assert len(spent) == 1
    assert verify[-1].detail["method"] == "recovery"


# --- an admin's reset ----------------------------------------------------------------------

async def test_an_admin_resets_a_persons_factors_and_they_are_told(client, db, world, login):
    alice = world.users["alice"]
    adam = await login(world.users["adam"])
    users = await adam.get("/admin/users")
    assert f"/admin/users/{alice.id}/factors/reset" in await users.text()
    response = await adam.post_form(f"/admin/users/{alice.id}/factors/reset")
    assert response.status == 303
    async with db() as s:
        assert await s.scalar(select(TotpFactor).where(TotpFactor.user_id == alice.id)) is None
        person = await s.get(User, alice.id)
        event = await s.scalar(select(AuditEvent).where(AuditEvent.action == "factor.reset"))
    assert not person.second_factor and person.factors_reset_at is not None
    assert event.actor_id == world.users["adam"].id and event.target_id == str(alice.id)

    await password_only(client, alice.email)
    page = await (await client.get("/login/factor?next=/account")).text()
    assert "An administrator reset your second factors" in page
    assert TOTP_SECRET_ON_PAGE.search(page).group(1) != TOTP_SECRET


async def test_only_an_admin_of_the_same_organisation_resets_factors(client, world, login):
    alice = await login(world.users["alice"])
    assert (await alice.post_form(f"/admin/users/{world.users['bob'].id}/factors/reset")
            ).status == 403
    adam = await login(world.users["adam"])
    assert (await adam.post_form("/admin/users/999999/factors/reset")).status == 404


# --- the setting ---------------------------------------------------------------------------

async def test_without_the_requirement_a_password_suffices_unless_a_factor_is_enrolled(
        settings, world, aiohttp_client):
    client = await aiohttp_client(create_app(replace(settings, second_factor_required=False)))
    async with client.app[keys.DB].begin() as s:
        await s.execute(update(User).where(User.id == world.users["bob"].id)
                        .values(second_factor=False))
    await password_only(client, world.users["bob"].email)
    assert (await client.get("/api/v1/me")).status == 200
    await password_only(client, world.users["alice"].email)  # she chose to enrol one
    assert (await client.get("/api/v1/me")).status == 401


# --- asking again before sensitive acts -----------------------------------------------------

async def _age_factor(db: Any, minutes: int) -> None:
    async with db.begin() as s:
        await s.execute(update(StaffSession).values(factor_at=now() - timedelta(minutes=minutes)))


async def test_sensitive_acts_ask_for_the_factor_again_after_a_while(client, db, world, login,
                                                                    settings):
    alice = await login(world.users["alice"])
    assert (await alice.post_json("/api/v1/tokens", {"name": "fresh", "days": 1})).status == 201
    await _age_factor(db, settings.reauth_minutes + 1)
    api = await alice.post_json("/api/v1/tokens", {"name": "stale", "days": 1})
    assert api.status == 401
    assert (await api.json())["type"].endswith("reauthentication-required")
    page = await alice.post_form("/account/tokens", {"name": "stale", "days": "1"})
    assert page.status == 303
    assert page.headers["Location"] == "/login/factor?again=1&next=/account"
    # ordinary pages still work: only sensitive acts ask again
    assert (await alice.get("/account")).status == 200

    ask = await client.get("/login/factor?again=1&next=/account")
    assert "Confirm it is you" in await ask.text()
    await forget_last_code(db, world.users["alice"].email)
    csrf = CSRF_FIELD.search(await ask.text()).group(1)
    confirmed = await client.post("/login/factor", data={
        "code": pyotp.TOTP(TOTP_SECRET).now(), "csrf_token": csrf, "next": "/account",
        "again": "1"}, allow_redirects=False)
    assert confirmed.headers["Location"] == "/account"
    assert (await alice.post_form("/account/tokens", {"name": "again", "days": "1"})
            ).status == 201


@pytest.mark.parametrize(("who", "method", "path"), [
    ("adam", "form", "/admin/users/{bob}/deactivate"),
    ("adam", "json", "/api/v1/users/{bob}/deactivate"),
    ("adam", "json", "/api/v1/policy"),
    ("olive", "get", "/privacy/clients/{a1}/export.json"),
    ("olive", "get", "/api/v1/clients/{a1}/subject-access"),
])
async def test_every_sensitive_act_asks_again(db, world, login, settings, who, method, path):
    staff = await login(world.users[who])
    await _age_factor(db, settings.reauth_minutes + 1)
    target = path.format(bob=world.users["bob"].id, a1=world.clients["a1"].id)
    if method == "form":
        response = await staff.post_form(target)
    elif method == "json":
        response = await staff.post_json(target, {})
    else:
        response = await staff.get(target)
    if target.startswith("/api/"):
        assert response.status == 401
    else:
        assert response.status == 303
        assert response.headers["Location"].startswith("/login/factor?again=1&next=")
