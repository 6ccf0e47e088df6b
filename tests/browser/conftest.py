"""Browser test harness: the real app on a real port, driven by Debian's headless Chromium.

Fixtures for later work (live calls with several people) as well as today's page tests:

- `live_server`: the app served by `AppRunner` + `TCPSite` on 127.0.0.1 and a free port,
  inside the test's own event loop; yields a `LiveServer` (base URL and the app).
- `db`: overrides the parent fixture so that `world` (tests/conftest.py) seeds through the
  live app's own session factory instead of the aiohttp test client.
- `browser`: one headless Chromium per test (Playwright async API, never Playwright's own
  browser download).
- `new_context`: a factory for isolated browser contexts (one per person in a call), each
  pointed at the live server, closed after the test.
- `sign_in(page, user)`: signs in through the real login page.

Chromium must be at /usr/bin/chromium. Without it the tests are skipped, unless `CI` is set,
where that is a failure. Test modules here set `pytestmark = pytest.mark.browser`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import keys
from server.store.models import User
from tests.conftest import PASSWORD, TOTP_SECRET, forget_last_code

# RAPPORT_TEST_CHROMIUM may point elsewhere (it also lets the missing-browser path be tried).
CHROMIUM = Path(os.environ.get("RAPPORT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]
# Generous enough for a loaded CI machine, short enough that a broken page fails quickly.
ACTION_TIMEOUT_MS = 10_000
# The live server of the running test, so that `sign_in(page, user)` can forget the last
# authenticator code used (one person signs in several times within 30 seconds in tests).
# The live servers of the running test (the second-factor helper reads their database).
RUNNING: list[LiveServer] = []

@dataclass
class LiveServer:
    """The app served on a real socket."""

    url: str
    app: web.Application

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self.app[keys.DB]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is missing; browser tests need Debian's Chromium: "
                   "run `apt-get install -y chromium` (never `playwright install`)")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
async def live_server(app: web.Application) -> AsyncIterator[LiveServer]:
    """The real app (tables emptied by the `app` fixture) on 127.0.0.1 and a free port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server = LiveServer(f"http://{host}:{port}", app)
    RUNNING.append(server)
    try:
        yield server
    finally:
        RUNNING.remove(server)
        await runner.cleanup()


@pytest.fixture
def db(live_server: LiveServer) -> async_sessionmaker[AsyncSession]:
    """The live app's session factory; lets the shared `world` fixture seed the live app."""
    return live_server.db


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


NewContext = Callable[..., Awaitable[Any]]


@pytest.fixture
async def new_context(browser: Any, live_server: LiveServer) -> AsyncIterator[NewContext]:
    """`await new_context(**options)`: an isolated context (own cookies) on the live server.

    Defaults: the organisation's time zone, British English, camera and microphone allowed
    (fake devices), short timeouts. Any Playwright `new_context` option may be overridden.
    """
    contexts: list[Any] = []

    async def _new(**options: Any) -> Any:
        defaults: dict[str, Any] = dict(
            base_url=live_server.url, timezone_id="Europe/London", locale="en-GB",
            permissions=["camera", "microphone"])
        context = await browser.new_context(**{**defaults, **options})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context

    try:
        yield _new
    finally:
        for context in contexts:
            await context.close()


@pytest.fixture
async def page(new_context: NewContext) -> Any:
    """A page in a fresh context on the live server."""
    context = await new_context()
    return await context.new_page()


async def sign_in(page: Any, user: User | str, password: str = PASSWORD,
                  expect_path: str = "/diary") -> None:
    """Sign in through the real login page and wait for the page it leads to."""
    email = user if isinstance(user, str) else user.email
    await page.goto("/login")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(password)
    await submit(page, page.get_by_role("button", name="Sign in"), "/login")
    await pass_second_factor(page, email)
    await page.wait_for_url(f"**{expect_path}")


CODE_LABEL = "Code from your authenticator app, or a recovery code"


async def pass_second_factor(page: Any, email: str) -> None:
    """After the password: type the seeded person's authenticator code."""
    await page.wait_for_url("**/login/factor?**")
    secret = await forget_last_code(RUNNING[-1].db, email) or TOTP_SECRET
    await page.get_by_label(CODE_LABEL).fill(pyotp.TOTP(secret).now())
    await submit(page, page.get_by_role("button", name="Continue"), "/login/factor")


async def submit(page: Any, trigger: Any, action: str) -> Any:
    """Send a form: `trigger` is its submit button (clicked) or a coroutine function (e.g.
    pressing Enter). Fails with the page's own words unless the POST to `action` answers
    with a redirect (303), the app's way of saying the form was accepted."""
    async with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith(action)
    ) as info:
        await (trigger() if callable(trigger) else trigger.click())
    response = await info.value
    if response.status != 303:
        await page.wait_for_load_state()
        words = " ".join((await page.locator("main").inner_text()).split())
        origin = await response.request.header_value("origin")
        pytest.fail(f"POST {action} answered {response.status} (Origin sent: {origin!r}): "
                    f"{words}", pytrace=False)
    return response
