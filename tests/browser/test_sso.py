"""Single sign-on in real Chromium: the button on the sign-in page, the provider's own page
(panva's oidc-provider), back to Rapport signed in, signing out with the provider's logout
offered; the pages pass axe at 360 px."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from axe_playwright_python.async_playwright import Axe

from server.settings import Settings
from tests.browser.conftest import RUNNING, LiveServer, pass_second_factor, submit
from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    RunningProvider,
    free_port,
    running_provider,
)

pytestmark = pytest.mark.browser

AXE = Axe()
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
PORT = free_port()  # the provider must know Rapport's address before either starts
RAPPORT = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[RunningProvider]:
    with running_provider(tmp_path, email_in_id_token=True, rapport=RAPPORT) as found:
        yield found


@pytest.fixture
def settings(settings: Settings, provider: RunningProvider) -> Settings:
    return replace(settings, base_url=RAPPORT, sso_issuer=provider.issuer,
                   sso_client_id=CLIENT_ID, sso_client_secret=CLIENT_SECRET,
                   sso_label="Test ID").validate()


@pytest.fixture
async def live_server(app: web.Application) -> AsyncIterator[LiveServer]:
    """As the shared one, on the port registered at the provider."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()
    server = LiveServer(RAPPORT, app)
    RUNNING.append(server)
    try:
        yield server
    finally:
        RUNNING.remove(server)
        await runner.cleanup()


async def accessible(page: Any, step: str) -> None:
    results = await AXE.run(page)
    assert results.violations_count == 0, f"{step}:\n{results.generate_report()}"
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"{step}: the page scrolls sideways ({width} px)"


async def at_provider(page: Any, sub: str) -> None:
    """Click Rapport's button, then sign in on the provider's own page."""
    await page.goto("/login")
    await page.get_by_role("button", name="Sign in with Test ID").click()
    await page.get_by_label("Account").fill(sub)
    await page.get_by_role("button", name="Continue").click()


async def test_signing_in_and_out_with_the_provider(new_context, world):
    page = await (await new_context(**PHONE)).new_page()
    await page.goto("/login")
    await accessible(page, "the sign-in page with single sign-on")
    await at_provider(page, "alice-sub")  # the provider did multi-factor: no Rapport code
    await page.wait_for_url("**/diary")
    await page.goto("/account")
    await submit(page, page.get_by_role("button", name="Sign out", exact=True), "/logout")
    await page.wait_for_url("**/login?signed_out=sso")
    link = page.get_by_role("link", name="Sign out of Test ID too")
    assert "/session/end" in (await link.get_attribute("href") or "")
    await accessible(page, "signed out, the provider's logout offered")


async def test_without_the_providers_mfa_rapports_code_follows(new_context, world):
    page = await (await new_context()).new_page()
    await at_provider(page, "bob-sub")
    await page.wait_for_url("**/login/factor**")
    await pass_second_factor(page, "bob@example.test")
    await page.wait_for_url("**/diary")


async def test_a_refused_sign_in_is_a_readable_accessible_page(new_context, world):
    page = await (await new_context(**PHONE)).new_page()
    await at_provider(page, "stranger-sub")
    await page.locator("#sso-error").wait_for()
    assert "Ask an administrator of Rapport" in await page.locator("#sso-error").inner_text()
    await accessible(page, "no Rapport account for this person")
