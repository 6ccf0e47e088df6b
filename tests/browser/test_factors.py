"""The second factor in a real browser: an authenticator app set up at first sign-in and used
to sign in, a recovery code, a passkey on Chromium's virtual authenticator (DevTools
protocol), and the factor asked again before creating an API token."""

from __future__ import annotations

import re
import socket
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from aiohttp import web
from sqlalchemy import delete, select, update

from server import keys
from server.app import create_app
from server.clock import now
from server.staff import recovery
from server.store.models import AuditEvent, Passkey, StaffSession, TotpFactor, User
from tests.browser.conftest import (
    CODE_LABEL,
    LiveServer,
    NewContext,
    pass_second_factor,
    sign_in,
    submit,
)
from tests.conftest import PASSWORD, World, forget_last_code, make_user

pytestmark = pytest.mark.browser


async def _newcomer(db: Any, world: World, name: str = "nia") -> User:
    """A practitioner with no second factor yet (as an admin has just created them)."""
    async with db.begin() as s:
        person = await make_user(s, world.org, world.team, name, set(world.users["alice"].roles))
        await s.flush()
        await s.execute(delete(TotpFactor).where(TotpFactor.user_id == person.id))
        await s.execute(update(User).where(User.id == person.id).values(second_factor=False))
    return person


async def _password(page: Any, email: str, path: str = "/login") -> None:
    await page.goto(path)
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await submit(page, page.get_by_role("button", name="Sign in"), "/login")
    await page.wait_for_url("**/login/factor?**")


async def _sign_out(page: Any) -> None:
    await submit(page, page.get_by_role("button", name="Sign out"), "/logout")
    await page.wait_for_url("**/login")


async def test_authenticator_app_enrolment_and_sign_in(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    nia = await _newcomer(live_server.db, world)
    page = await (await new_context()).new_page()
    await _password(page, nia.email)

    await page.get_by_role("heading", name="Set up a second factor").wait_for()
    assert await page.locator("figure.qr svg").is_visible()
    secret = (await page.locator("#totp-secret").inner_text()).strip()
    await page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Set up the app").click()
    await page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert await page.locator("#recovery-codes li").count() == recovery.COUNT
    await page.get_by_role("link", name="I have kept my codes: continue").click()
    await page.wait_for_url("**/diary")  # a practitioner's home page

    await _sign_out(page)
    await _password(page, nia.email)
    await page.get_by_role("heading", name="Second factor").wait_for()
    await forget_last_code(live_server.db, nia.email)
    await page.get_by_label(CODE_LABEL).fill(pyotp.TOTP(secret).now())
    await submit(page, page.get_by_role("button", name="Continue"), "/login/factor")
    await page.wait_for_url("**/diary")  # a practitioner's home page


async def test_a_recovery_code_signs_in_once(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice = world.users["alice"]
    async with live_server.db.begin() as s:
        codes = await recovery.replace_codes(s, alice.id)
    page = await (await new_context()).new_page()
    await _password(page, alice.email)
    await page.get_by_label(CODE_LABEL).fill(codes[0])
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("heading", name="Recovery code used").wait_for()
    assert f"Recovery codes left: {recovery.COUNT - 1}" in await page.locator(
        "#recovery-left").inner_text()
    await page.get_by_role("link", name="Continue").click()
    await page.wait_for_url("**/diary")  # a practitioner's home page

    await _sign_out(page)
    await _password(page, alice.email)
    await page.get_by_label(CODE_LABEL).fill(codes[0])
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_text("That code is not right, or it was already used.").wait_for()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _virtual_authenticator(context: Any, page: Any) -> Any:
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return cdp


async def test_passkey_enrolment_and_sign_in_with_a_virtual_authenticator(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    # WebAuthn needs a domain, not an IP address: this app's RP id is "localhost".
    port = _free_port()
    settings = replace(live_server.app[keys.SETTINGS], base_url=f"http://localhost:{port}")
    runner = web.AppRunner(create_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        nia = await _newcomer(live_server.db, world)
        context = await new_context(base_url=f"http://localhost:{port}")
        page = await context.new_page()
        await _virtual_authenticator(context, page)
        await _password(page, nia.email)
        await page.get_by_label("Name for this passkey").fill("Test laptop")
        await page.get_by_role("button", name="Add a passkey").click()
        await page.get_by_role("heading", name="Your recovery codes").wait_for()
        assert await page.locator("#passkey-codes-list li").count() == recovery.COUNT
        await page.get_by_role("link", name="I have kept my codes: continue").click()
        await page.wait_for_url("**/diary")  # a practitioner's home page

        await _sign_out(page)
        await _password(page, nia.email)
        await page.get_by_role("button", name="Use your passkey").click()
        await page.wait_for_url("**/diary")  # a practitioner's home page
        async with live_server.db() as s:
            keys_ = (await s.scalars(select(Passkey).where(Passkey.user_id == nia.id))).all()
            methods = [e.detail.get("method") for e in (await s.scalars(
                select(AuditEvent).where(AuditEvent.action.in_(
                    ["factor.enrol", "factor.verify"])).order_by(AuditEvent.id))).all()]
        assert [k.name for k in keys_] == ["Test laptop"]
        assert keys_[0].last_used_at is not None
        assert methods == ["passkey", "passkey"]
    finally:
        await runner.cleanup()


async def test_creating_an_api_token_asks_for_the_factor_again(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice = world.users["alice"]
    page = await (await new_context()).new_page()
    await sign_in(page, alice)
    minutes = live_server.app[keys.SETTINGS].reauth_minutes + 1
    async with live_server.db.begin() as s:
        await s.execute(update(StaffSession).values(factor_at=now() - timedelta(minutes=minutes)))
    await page.goto("/account")
    await page.get_by_label("Token name").fill("case system")
    await page.get_by_role("button", name="Create token").click()
    await page.get_by_role("heading", name="Confirm it is you").wait_for()
    await pass_second_factor(page, alice.email)
    await page.wait_for_url("**/account")
    await page.get_by_label("Token name").fill("case system")
    await page.get_by_role("button", name="Create token").click()
    token = await page.locator("#new-token").inner_text()
    assert re.fullmatch(r"rpt_[A-Za-z0-9_-]{40,}", token)
