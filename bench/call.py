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
POLL_MS = 5  # how often each page looks at its own statistics: the resolution of the timings

# In both pages, before anything loads: the moment of each step, on the pages' own clocks
# (one machine, so one clock): the click on "Let in", the first of each kind of signalling
# message sent and received after `__marks` is reset, the peer connection connected, the
# first audio and video bytes received.
MARKS = """(() => {
window.__marks = {};
const mark = (k) => {
  if (!(k in window.__marks)) window.__marks[k] = performance.timeOrigin + performance.now();
};
document.addEventListener("click", (e) => {
  if (e.target.closest && e.target.closest(".admit")) mark("let_in");
}, true);
const kind = (text) => (/"type":\\s*"([a-z-]+)"/.exec(String(text)) || [])[1];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (e) => { const k = kind(e.data); if (k) mark("recv " + k); });
  }
  send(data) { const k = kind(data); if (k) mark("send " + k); return super.send(data); }
};
})();
"""

MEDIA_BOTH_WAYS = f"""async () => {{
  const mark = (k) => {{
    if (!(k in window.__marks)) window.__marks[k] = performance.timeOrigin + performance.now();
  }};
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {{
    if (rapportCall.peers().some((p) => p.connection === "connected")) mark("connected");
    const all = await rapportCall.stats();
    if (all.length === 1 && all[0].videoBytes > 0 && all[0].audioBytes > 0) {{
      mark("connected");  // if it connected while the statistics were being read
      mark("media");
      return window.__marks;
    }}
    await new Promise((done) => setTimeout(done, {POLL_MS}));
  }}
  const status = document.getElementById("call-status")?.textContent;
  throw new Error("no media both ways within 20 s: " + status);
}}"""

# The steps of the breakdown: (label, page, mark); the times are from the click on "Let in".
STEPS = (
    ("the practitioner's page has the roster saying the client is in (the server's decision)",
     "prac", "recv roster"),
    ("… and has sent its offer", "prac", "send offer"),
    ("the client's page has the offer", "client", "recv offer"),
    ("… and has sent its answer", "client", "send answer"),
    ("the practitioner's page has the answer", "prac", "recv answer"),
    ("both peer connections connected (ICE and DTLS)", "both", "connected"),
    ("audio and video flowing both ways", "both", "media"),
)


async def one_call(browser: Any, app: web.Application, base: str) -> dict[str, float]:
    """Seconds from opening the link to waiting ("join"), and from the click on "Let in" to
    each of `STEPS` (by mark)."""
    settings = app[keys.SETTINGS]
    async with app[keys.DB].begin() as db:
        result = await demo.load(db, settings)
    call = await fresh_call(app, result)  # a fresh appointment: nobody has answered yet
    email, password = result.logins["practitioner"]
    options = {"base_url": base, "permissions": ["camera", "microphone"], "locale": "en-GB"}

    prac_ctx = await browser.new_context(**options)
    client_ctx = await browser.new_context(**options)
    try:
        for context in (prac_ctx, client_ctx):
            await context.add_init_script(MARKS)
        prac = await prac_ctx.new_page()
        await practitioner_in(app, prac, email, password, call.appointment_id)
        client = await client_ctx.new_page()
        opened = time.monotonic()
        await walk_in(client, call.client_link, "client", result.client_date_of_birth)
        waiting = time.monotonic()

        let_in = prac.get_by_role("button", name="Let in: Casey Morgan")
        await let_in.wait_for()
        await asyncio.sleep(0.5)  # the waiting room settled (pre-call figures in)
        for page in (prac, client):
            await page.evaluate("() => { window.__marks = {}; }")
        await let_in.click()
        marks = dict(zip(("prac", "client"), await asyncio.gather(
            prac.evaluate(MEDIA_BOTH_WAYS), client.evaluate(MEDIA_BOTH_WAYS)), strict=True))
        start = marks["prac"]["let_in"]
        out = {"join": waiting - opened}
        for _label, page_name, mark in STEPS:
            pages = ("prac", "client") if page_name == "both" else (page_name,)
            out[mark] = (max(marks[p][mark] for p in pages) - start) / 1000
        return out
    finally:
        await prac_ctx.close()
        await client_ctx.close()


async def run(runs: int) -> list[dict[str, float]]:
    async with served() as (app, base, browser):
        return [await one_call(browser, app, base) for _ in range(runs)]


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    calls = asyncio.run(run(args.runs))

    def row(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return (f"| {name} | {len(values)} | {ms(statistics.median(values))} | {ms(p95)} | "
                f"{ms(max(values))} |")

    table = "\n".join([
        "| step | runs | median | p95 | max |", "|---|---|---|---|---|",
        row("link opened → in the waiting room (date of birth, checklist)",
            [c["join"] for c in calls]),
        row('"Let in" → audio and video flowing both ways', [c["media"] for c in calls])])
    steps = "\n".join([
        '| from the click on "Let in" until | median | p95 |', "|---|---|---|",
        *(f"| {label} | {ms(statistics.median(c[mark] for c in calls))} | "
          f"{ms(sorted(c[mark] for c in calls)[round(0.95 * (len(calls) - 1))])} |"
          for label, _page, mark in STEPS)])
    table = f"{table}\n\nWhere the time goes (each step's median over the same runs):\n\n{steps}"
    print(table)
    if args.no_write:
        return
    body = f"""`python -m bench.call` runs the demo's call in headless Chromium (fake camera and
microphone) on one machine: the practitioner signs in and opens the call page, the client
opens the link, enters the date of birth and answers the checklist; then the practitioner
presses "Let in" and the clock runs until both pages receive audio and video bytes. Each
step is timed in the pages themselves, on their own clock (`performance`, one machine): from
the click event on "Let in" to the first signalling message of each kind sent or received
(a wrapper around the page's WebSocket), the peer connection connected, and the first audio
and video bytes in `getStats()` (each page polls every {POLL_MS} ms). The first row is timed
from the test driver and includes Playwright typing into the form, so it is an upper bound
for the software. Issue #17's goal: "Let in" → two-way media ≤ 150 ms median.

{table}

Measured {datetime.now(UTC):%Y-%m-%d} on CPython {platform.python_version()},
{platform.machine()}, Chromium from Debian, SQLite, loopback network (no TURN). A real network
adds its round trips to ICE (a few for host or server-reflexive candidates, more through TURN).
"""
    write_section(HEADING, body)


if __name__ == "__main__":
    main()
