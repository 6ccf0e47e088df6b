"""Driving the call page in headless Chromium: open it as each person, answer the checklist,
admit, and check that media really flows (inbound RTP bytes rising on every connection).

The page exposes a read-only `window.rapportCall` (state, peers, stats); tests read it
instead of guessing from pixels. Everything a person does goes through the real controls,
found by their accessible names.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import TimeoutError as PlaywrightTimeout

from policies import load_default_policy
from server.store.models import User
from signalling.keys import BUS
from tests.browser.conftest import LiveServer, NewContext, sign_in

WITHIN = 20.0  # seconds for anything network-shaped on a loaded CI machine
POLICY = load_default_policy()


def safe_answers(role: str) -> dict[str, bool]:
    """Every item of a checklist role answered the safe way, by item id."""
    return {i.id: i.safe_answer for i in POLICY.checklists.items if i.role.value == role}


def wording(item_id: str) -> str:
    return next(i.wording for i in POLICY.checklists.items if i.id == item_id)


async def answer_checklist(page: Any, answers: dict[str, bool], *,
                           to_waiting: bool = True) -> None:
    """Answer each question by its wording (each is a labelled group of Yes/No), confirm.

    A person who joined by link goes through the journey (web/static/journey.js): the
    privacy step first (clients), then the questions two to a screen ("Next"), then the
    check; `to_waiting` goes on to the waiting room (skipping a check still running)."""
    journey = await page.get_attribute("#call", "data-step")
    if journey == "privacy":
        await page.locator("#journey-privacy-next").click()
    await page.get_by_role("heading", name="Before you start").wait_for()
    for item_id, value in answers.items():
        group = page.get_by_role("group", name=wording(item_id), exact=True)
        if journey and not await group.is_visible():
            await page.locator("#checklist").get_by_role("button", name="Next").click()
        await group.get_by_label("Yes" if value else "No", exact=True).check()
    await page.get_by_role("button", name="Confirm").click()
    if journey and to_waiting:
        await through_check(page)


async def through_check(page: Any) -> None:
    """From the journey's check step to the waiting room: continue, or skip the check if it
    is still running (a failed checklist, or admission, ends the steps too)."""
    await page.wait_for_function(
        "() => ['check', 'wait', 'done'].includes(document.getElementById('call').dataset.step)"
        " || !document.getElementById('checklist-failed').hidden", timeout=WITHIN * 1000)
    # "Continue" once the check has a result, "Skip the check" while it runs (a test that
    # needs the verdict waits for it first, with to_waiting=False). The check may finish, or
    # the page move on, between looking and clicking: look again until the step is over.
    deadline = time.monotonic() + WITHIN
    while await page.get_attribute("#call", "data-step") == "check":
        if time.monotonic() > deadline:
            raise AssertionError("the journey stayed on its check step")
        with contextlib.suppress(PlaywrightTimeout):
            await page.locator("#precall-done, #precall-skip").locator("visible=true").first \
                .click(timeout=1000)


async def phase(page: Any, wanted: str, within: float = WITHIN) -> None:
    await page.wait_for_function(
        "wanted => window.rapportCall && rapportCall.state().phase === wanted", arg=wanted,
        timeout=within * 1000)


async def state(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("() => rapportCall.state()")
    return result


async def practitioner_page(new_context: NewContext, user: User, appointment_id: int, *,
                            checklist: bool = True) -> Any:
    """The practitioner signed in, on the call page, checklist answered (office)."""
    context = await new_context()
    page = await context.new_page()
    await sign_in(page, user)
    await page.goto(f"/appointments/{appointment_id}/call")
    if checklist:
        await answer_checklist(page, safe_answers("practitioner_premises"))
        await phase(page, "in")
    return page


def path_of(link: str) -> str:
    """Links carry the configured public address; tests open the path on the live server."""
    return urlsplit(link).path


async def open_link(new_context: NewContext, link: str, *, birth: tuple[int, int, int] | None
                    = (1990, 1, 1), name: str = "") -> Any:
    """A fresh browser opens an invitation link and gets through the first page."""
    context = await new_context()
    page = await context.new_page()
    await page.goto(path_of(link) if "://" in link else f"/join/{link}")
    if birth is not None:
        year, month, day = birth
        await page.get_by_label("Day").fill(str(day))
        await page.get_by_label("Month").fill(str(month))
        await page.get_by_label("Year").fill(str(year))
    else:
        await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Continue").click()
    return page


async def joined(new_context: NewContext, link: str, role: str = "client", *,
                 name: str = "", answers: dict[str, bool] | None = None) -> Any:
    """A client (or interpreter) through the link, the checklist answered, waiting."""
    page = await open_link(new_context, link, birth=(1990, 1, 1) if role == "client" else None,
                           name=name)
    await page.wait_for_url("**/join")
    await answer_checklist(page, answers if answers is not None else safe_answers(role))
    return page


async def admit(practitioner: Any, name: str) -> None:
    await practitioner.get_by_role("button", name=f"Let in: {name}").click()


async def stats(page: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await page.evaluate("() => rapportCall.stats()")
    return result


async def media_flows(page: Any, peers: int, within: float = WITHIN) -> list[dict[str, Any]]:
    """Wait until the page holds `peers` connections, each connected and receiving both audio
    and video bytes that keep rising; returns the last sample."""
    deadline = asyncio.get_running_loop().time() + within
    before: dict[int, dict[str, Any]] = {}
    last: list[dict[str, Any]] = []
    while asyncio.get_running_loop().time() < deadline:
        last = await stats(page)
        now = {s["id"]: s for s in last}
        if len(now) == peers and before.keys() == now.keys() and all(
                s["ice"] in ("connected", "completed")
                and s["audioBytes"] > before[i]["audioBytes"] > 0
                and s["videoBytes"] > before[i]["videoBytes"] > 0 for i, s in now.items()):
            return last
        before = now
        await asyncio.sleep(0.7)
    raise AssertionError(f"media did not flow to {peers} peer(s) within {within}s: "
                         f"{json.dumps(last)}; state {json.dumps(await state(page))}; peers "
                         f"{json.dumps(await page.evaluate('() => rapportCall.peers()'))}")


async def drop_signalling(live: LiveServer, appointment_id: int, participant_id: int) -> None:
    """Cut one person's WebSocket at the TCP level, as a network drop would (no close frame):
    the browser sees code 1006 and must reconnect by itself."""
    rooms = live.app[BUS]._rooms  # noqa: SLF001 - a test reaching into the in-process bus
    deliver = rooms[appointment_id][participant_id][1]
    connection = deliver.__self__  # type: ignore[attr-defined]
    transport = connection.request.transport
    assert transport is not None
    transport.abort()
