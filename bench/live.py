"""A fresh Rapport (its own temporary SQLite, migrated) on a free loopback port, and Debian's
headless Chromium to drive it: what the browser benchmarks share."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine

from server import demo, keys
from server.app import create_app
from server.clock import now
from server.joining import invitations
from server.settings import Settings
from server.staff.tokens import token_hash
from server.store import migrate
from server.store.models import Appointment, Invitation, InvitationRole, TotpFactor, User
from tests.browser.calls import answer_checklist, safe_answers

CHROMIUM = "/usr/bin/chromium"
INTERPRETER = "Ines Interpreter"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@asynccontextmanager
async def served(**settings: Any) -> AsyncIterator[tuple[web.Application, str, Any]]:
    """The app, its base address and a launched Chromium; all closed on leaving. `settings`:
    more `Settings` fields (a recording key, say); recordings go to the temporary folder."""
    from playwright.async_api import async_playwright

    folder = Path(tempfile.mkdtemp(prefix="rapport-bench-"))
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    engine = create_async_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    app = create_app(Settings(database_url=url, migrate_on_start=False, log_json=False,
                              base_url="http://127.0.0.1:8080",
                              recordings_dir=str(folder / "recordings"), **settings))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=ARGS)
            try:
                yield app, f"http://{host}:{port}", browser
            finally:
                await browser.close()
    finally:
        await runner.cleanup()


CODE_LABEL = "Code from your authenticator app, or a recovery code"


async def enrol_app(app: web.Application, email: str) -> str:
    """Give a demo person an authenticator app, as if enrolled (the demo asks each person to
    enrol one at first sign-in); returns its secret. Any earlier app is replaced."""
    secret = pyotp.random_base32()
    async with app[keys.DB].begin() as db:
        user = await db.scalar(select(User).where(User.email == email))
        assert user is not None, email
        await db.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
        db.add(TotpFactor(user_id=user.id, secret=secret, created_at=now(), confirmed_at=now()))
        user.second_factor = True
    return secret


async def staff_sign_in(app: web.Application, page: Any, email: str, password: str) -> None:
    """Sign a demo person in through the real pages: password, then the app's code."""
    secret = await enrol_app(app, email)
    await page.goto("/login")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/login/factor**")
    await page.get_by_label(CODE_LABEL).fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(lambda url: "/login" not in url)


@dataclass
class FreshCall:
    appointment_id: int
    client_link: str
    interpreter_link: str


async def fresh_call(app: web.Application, result: demo.DemoResult) -> FreshCall:
    """An appointment of its own, like the demo's (same client, practitioner and time), with
    new client and interpreter links: the demo keeps one appointment for today, whose people
    have already answered once an earlier run used it."""
    settings = app[keys.SETTINGS]
    async with app[keys.DB].begin() as db:
        invitation = await db.scalar(select(Invitation).where(Invitation.token_hash == token_hash(
            urlsplit(result.client_link).path.rsplit("/", 1)[-1])))
        assert invitation is not None
        template = await db.get(Appointment, invitation.appointment_id)
        practitioner = await db.scalar(select(User).where(
            User.email == result.logins["practitioner"][0]))
        assert template is not None and practitioner is not None
        columns = {c.key: getattr(template, c.key) for c in Appointment.__mapper__.column_attrs
                   if c.key != "id"}
        copy = Appointment(**columns)
        db.add(copy)
        await db.flush()
        _, client = await invitations.mint(db, copy, InvitationRole.CLIENT, practitioner,
                                           settings)
        _, interpreter = await invitations.mint(db, copy, InvitationRole.INTERPRETER,
                                                practitioner, settings)
        return FreshCall(copy.id, invitations.link(settings, client),
                         invitations.link(settings, interpreter))


async def phase(page: Any, wanted: str, within: float = 60.0) -> None:
    """Wait until the call page is in `wanted` (joining, waiting, in …); says where it was."""
    try:
        await page.wait_for_function(
            "w => window.rapportCall && rapportCall.state().phase === w", arg=wanted,
            timeout=within * 1000)
    except Exception as exc:
        seen = await page.evaluate(
            "() => window.rapportCall && JSON.stringify([rapportCall.state(), "
            "document.getElementById('call-status')?.textContent])")
        raise AssertionError(f"not {wanted} within {within}s: {seen}") from exc


async def practitioner_in(app: web.Application, page: Any, email: str, password: str,
                          appointment_id: int, within: float = 60.0) -> None:
    """The practitioner signs in, opens the appointment's call, answers their checklist and
    is in the call (waiting for the others)."""
    await staff_sign_in(app, page, email, password)
    await page.goto(f"/appointments/{appointment_id}/call")
    await answer_checklist(page, safe_answers("practitioner_premises"))
    await phase(page, "in", within)


async def walk_in(page: Any, link: str, role: str, born: Any, within: float = 60.0) -> Any:
    """A client (date of birth) or the interpreter (their name) follows their link, answers
    the safe-space checklist and waits to be let in."""
    await page.goto(urlsplit(link).path)
    if role == "client":
        await page.get_by_label("Day").fill(str(born.day))
        await page.get_by_label("Month").fill(str(born.month))
        await page.get_by_label("Year").fill(str(born.year))
    else:
        await page.get_by_label("Your name").fill(INTERPRETER)
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/join")
    await answer_checklist(page, safe_answers(role))
    await phase(page, "waiting", within)
    return page
