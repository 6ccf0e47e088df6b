"""Time a real call's set-up in headless Chromium: from the practitioner pressing "Let in" to
media flowing both ways, and from opening the client's link to waiting in the waiting room.

Run: `python -m bench.call [--runs N] [--no-write]` (needs Debian's Chromium at
/usr/bin/chromium). Each run is the demo's own flow on a fresh appointment (`server.demo.load`
mints it): the practitioner signs in and opens the call page, the client opens the link,
enters the date of birth and answers the checklist, the practitioner admits. Everything runs on
127.0.0.1: the numbers are the software's own cost (signalling, policy gate, negotiation, ICE,
first frames), not a network's. Writes (or replaces) the "Call set-up in the browser" section
of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bench.live import fresh_call, practitioner_in, served, walk_in
from bench.report import write_section
from server import demo, keys

HEADING = "Call set-up in the browser"
POLL = 0.01  # seconds between looks at the pages' state: the resolution of the timings

MEDIA_BOTH_WAYS = ("() => rapportCall.stats().then(all => all.length === 1 && "
                   "all[0].videoBytes > 0 && all[0].audioBytes > 0)")


async def until(page: Any, script: str, within: float = 20.0) -> float:
    """Poll `script` in the page until it is true; the monotonic time it first was."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await page.evaluate(script):
            return time.monotonic()
        await asyncio.sleep(POLL)
    status = " ".join(await page.locator("#call-status, #lobby-refused:visible")
                       .all_inner_texts())
    raise TimeoutError(f"not true within {within}s: {script} (the page says: {status!r})")


async def one_call(browser: Any, app: web.Application, base: str) -> tuple[float, float]:
    """(link opened → waiting, "Let in" → media both ways), in seconds."""
    settings = app[keys.SETTINGS]
    async with app[keys.DB].begin() as db:
        result = await demo.load(db, settings)
    call = await fresh_call(app, result)  # a fresh appointment: nobody has answered yet
    appointment_id = call.appointment_id
    email, password = result.logins["practitioner"]
    options = {"base_url": base, "permissions": ["camera", "microphone"], "locale": "en-GB"}

    prac_ctx = await browser.new_context(**options)
    client_ctx = await browser.new_context(**options)
    try:
        prac = await prac_ctx.new_page()
        await practitioner_in(app, prac, email, password, appointment_id)

        client = await client_ctx.new_page()
        opened = time.monotonic()
        await walk_in(client, call.client_link, "client", result.client_date_of_birth)
        waiting = time.monotonic()

        let_in = prac.get_by_role("button", name="Let in: Casey Morgan")
        await let_in.wait_for()
        admitted = time.monotonic()
        await let_in.click()
        both = max(await asyncio.gather(until(prac, MEDIA_BOTH_WAYS),
                                        until(client, MEDIA_BOTH_WAYS)))
        return waiting - opened, both - admitted
    finally:
        await prac_ctx.close()
        await client_ctx.close()


async def run(runs: int) -> tuple[list[float], list[float]]:
    joins: list[float] = []
    setups: list[float] = []
    async with served() as (app, base, browser):
        for _ in range(runs):
            join, setup = await one_call(browser, app, base)
            joins.append(join)
            setups.append(setup)
    return joins, setups


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    joins, setups = asyncio.run(run(args.runs))

    def row(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return (f"| {name} | {len(values)} | {ms(statistics.median(values))} | {ms(p95)} | "
                f"{ms(max(values))} |")

    table = "\n".join([
        "| step | runs | median | p95 | max |", "|---|---|---|---|---|",
        row("link opened → in the waiting room (date of birth, checklist)", joins),
        row('"Let in" → audio and video flowing both ways', setups)])
    print(table)
    if args.no_write:
        return
    body = f"""`python -m bench.call` runs the demo's call in headless Chromium (fake camera and
microphone) on one machine: the practitioner signs in and opens the call page, the client
opens the link, enters the date of birth and answers the checklist; then the practitioner
presses "Let in" and the clock runs until both pages receive audio and video bytes (read from
`getStats()`, polled every {POLL * 1000:.0f} ms). The first row includes Playwright typing
into the form, so it is an upper bound for the software. The target is a call that starts
within a second of being let in.

{table}

Measured {datetime.now(UTC):%Y-%m-%d} on CPython {platform.python_version()},
{platform.machine()}, Chromium from Debian, SQLite, loopback network (no TURN). A real network
adds its round trips to ICE (a few for host or server-reflexive candidates, more through TURN).
"""
    write_section(HEADING, body)


if __name__ == "__main__":
    main()
