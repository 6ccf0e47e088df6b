"""A person's own security: their sessions (seen and ended), changing their password with the
current one and a second factor, and what they are told at their next sign-in."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from server.staff import recovery
from server.staff.passwords import verify_password
from server.store.models import AuditEvent, StaffSession, User
from tests.conftest import (
    CSRF_FIELD,
    PASSWORD,
    TOTP_SECRET,
    forget_last_code,
    page_csrf,
    sign_in,
)
from tests.test_auth import Browser
from tests.test_factors import password_only, submit_code

NEW_PASSWORD = "a-brand-new-passphrase-77"


@pytest.fixture
async def browsers(client: Any) -> Any:
    """Other browsers (own cookie jars) on the same app: one person on several devices."""
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(client))
        return made[-1]

    yield make
    for browser in made:
        await browser.http.close()


async def test_a_person_sees_their_sessions_and_ends_one(client, db, world, browsers):
    alice = world.users["alice"]
    laptop = browsers()
    await laptop.sign_in(alice.email)  # another device, still signed in
    staff = await sign_in(client, alice)
    page = await (await staff.get("/account")).text()
    assert "This device" in page
    async with db() as s:
        rows = (await s.scalars(select(StaffSession).where(
            StaffSession.user_id == alice.id, StaffSession.revoked_at.is_(None))
            .order_by(StaffSession.id))).all()
    assert len(rows) == 2
    other = rows[0]
    assert f"/account/sessions/{other.id}/end" in page
    assert other.address in page

    ended = await staff.post_form(f"/account/sessions/{other.id}/end")
    assert ended.status == 303
    assert (await laptop.get("/api/v1/me")).status == 401
    assert (await staff.get("/api/v1/me")).status == 200
    async with db() as s:
        event = await s.scalar(select(AuditEvent).where(AuditEvent.action == "session.end"))
    assert event.target_id == str(other.id)


async def test_nobody_ends_another_persons_session(client, db, world, browsers):
    bob_browser = browsers()
    await bob_browser.sign_in(world.users["bob"].email)
    async with db() as s:
        bobs = await s.scalar(select(StaffSession.id).where(
            StaffSession.user_id == world.users["bob"].id))
    alice = await sign_in(client, world.users["alice"])
    assert (await alice.post_form(f"/account/sessions/{bobs}/end")).status == 404
    assert (await bob_browser.get("/api/v1/me")).status == 200


async def _change(staff: Any, password: str, code: str, new: str = NEW_PASSWORD) -> Any:
    return await staff.post_form("/account/password", {"password": password, "code": code,
                                                       "new_password": new})


async def test_changing_the_password_needs_the_current_one_and_a_second_factor(
        client, db, world, browsers):
    alice = world.users["alice"]
    laptop = browsers()
    await laptop.sign_in(alice.email)
    staff = await sign_in(client, alice)
    await forget_last_code(db, alice.email)
    code = pyotp.TOTP(TOTP_SECRET).now()
    assert (await _change(staff, "not-my-password-at-all", code)).status == 403
    await forget_last_code(db, alice.email)
    assert (await _change(staff, PASSWORD, "000000")).status == 403
    assert (await _change(staff, PASSWORD, code, new="short")).status == 422
    async with db() as s:
        assert await verify_password((await s.get(User, alice.id)).password_hash, PASSWORD)

    await forget_last_code(db, alice.email)
    done = await _change(staff, PASSWORD, pyotp.TOTP(TOTP_SECRET).now())
    assert done.status == 303
    async with db() as s:
        assert await verify_password((await s.get(User, alice.id)).password_hash, NEW_PASSWORD)
        actions = (await s.scalars(select(AuditEvent.action))).all()
    assert "password.change" in actions and actions.count("password.change_refused") == 2
    assert (await laptop.get("/api/v1/me")).status == 401  # other sessions ended
    assert (await staff.get("/api/v1/me")).status == 200  # this one lives on


async def test_a_recovery_code_also_counts_for_a_password_change(client, db, world):
    alice = world.users["alice"]
    staff = await sign_in(client, alice)
    async with db.begin() as s:
        codes = await recovery.replace_codes(s, alice.id)
    assert (await _change(staff, PASSWORD, codes[0])).status == 303


async def test_sign_in_tells_of_failed_attempts_and_other_sign_ins(client, db, world):
    alice = world.users["alice"]
    await sign_in(client, alice)  # the previous full sign-in
    # meanwhile: two wrong passwords, and someone who knew the password (no factor)
    for _ in range(2):
        csrf = await page_csrf(client, "/login")
        await client.post("/login", data={"email": alice.email, "password": "wrong-one-here",
                                          "csrf_token": csrf}, allow_redirects=False)
    await password_only(client, alice.email)
    await password_only(client, alice.email)
    await forget_last_code(db, alice.email)
    done = await submit_code(client, pyotp.TOTP(TOTP_SECRET).now(), next_="/caseload")
    assert done.status == 303
    assert done.headers["Location"] == "/login/news?next=/caseload"
    news = await client.get(done.headers["Location"], allow_redirects=False)
    text = await news.text()
    assert news.status == 200
    assert "Failed attempts to sign in to your account: 2." in text
    assert "Other sign-ins to your account: 1" in text

    # the next sign-in has nothing new to tell: straight on
    await password_only(client, alice.email)
    await forget_last_code(db, alice.email)
    again = await submit_code(client, pyotp.TOTP(TOTP_SECRET).now(), next_="/caseload")
    onward = await client.get(again.headers["Location"], allow_redirects=False)
    assert onward.status == 303 and onward.headers["Location"] == "/caseload"


async def test_the_news_page_is_not_for_a_password_alone(client, world):
    await password_only(client, world.users["alice"].email)
    response = await client.get("/login/news?next=/caseload", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login/factor?next=/caseload"


async def test_the_account_page_lists_the_factors(client, world, login):
    staff = await login(world.users["alice"])
    page = await (await staff.get("/account")).text()
    assert "Authenticator app: set up" in page
    assert CSRF_FIELD.search(page)
