"""How fast a withdrawal stops the recording with three real Chromium pages, both cores busy.

Run: `python -m bench.withdrawal_browser [--withdrawals 50] [--no-write]` (Debian's Chromium
at /usr/bin/chromium). The app runs in this process (`bench.live.served`, a recording key
set) with the demo's appointment: the practitioner, the client and the interpreter each in
their own headless Chromium context (fake camera and microphone) go through the real pages
and are in the call. One busy process per core runs beside them for the whole run. Then,
again and again: the practitioner presses "Ask to record", all three press "Yes, record",
all three browsers send their media to the recorder, and after a second of it the client
presses "Stop recording".

Measured from the moment the client's page sends `withdraw` on its socket (`Date.now()` in
the page, recorded by a wrapper of `WebSocket.prototype.send`): until the server has closed
every recorder peer of the room (each aiortc `RTCPeerConnection` of the recorder in state
`closed`: the time its `connectionstatechange` event fired, the last of the room's
peers), and until each page's socket delivered the `recording` `stopped` notice
(`Date.now()` in that page's message listener).
All clocks are this machine's wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bench.live import INTERPRETER, phase, practitioner_in, served, walk_in
from bench.recorder import GOALS, quantile
from bench.report import write_section
from bench.soak import Busy
from media.sealed import new_key_entry
from server import demo, keys, workers
from server.store.models import Appointment, Client
from signalling.keys import DESK

HEADING = "Recorder: withdrawal under load, three Chromium pages"
WAIT = 60.0

# Each page keeps when it sent `withdraw` and when each `recording` `stopped` arrived.
TIMING = """(() => {
  const times = { sent: [], stopped: [] };
  window.rapportStopTimes = times;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try { if (JSON.parse(data).type === "withdraw") times.sent.push(Date.now()); } catch (e) {}
    return send.call(this, data);
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        try {
          const m = JSON.parse(event.data);
          if (m.type === "recording" && m.state === "stopped") {
            times.stopped.push([Date.now(), m.request]);
          }
        } catch (e) {}
      });
    }
  };
})();"""


@dataclass
class Stops:
    closed: list[float] = field(default_factory=list)  # seconds, withdraw → every peer closed
    told: list[float] = field(default_factory=list)  # seconds, withdraw → a page's notice
    load: list[float] = field(default_factory=list)  # 1-minute load average, per run


async def _context(browser: Any, base: str) -> Any:
    context = await browser.new_context(base_url=base, locale="en-GB",
                                        permissions=["camera", "microphone"])
    context.set_default_timeout(WAIT * 1000)
    await context.add_init_script(TIMING)
    return await context.new_page()


async def _phase(page: Any, wanted: str) -> None:
    await phase(page, wanted, WAIT)


async def _rec(page: Any, wanted: str) -> None:
    await page.wait_for_function("w => rapportCall.recording().state === w", arg=wanted,
                                 timeout=WAIT * 1000)


async def _join(browser: Any, base: str, link: str, role: str, born: Any) -> Any:
    return await walk_in(await _context(browser, base), link, role, born, WAIT)


async def _call(app: web.Application, browser: Any, base: str) -> list[Any]:
    """Practitioner, client and interpreter in the demo's call; their pages."""
    async with app[keys.DB].begin() as db:
        result = await demo.load(db, app[keys.SETTINGS])
    async with app[keys.DB]() as db:
        appointment = await db.scalar(select(Appointment).order_by(Appointment.id.desc()))
        assert appointment is not None
        person = await db.get(Client, appointment.client_id)
        assert person is not None
    email, password = result.logins["practitioner"]
    prac = await _context(browser, base)
    await practitioner_in(app, prac, email, password, appointment.id, WAIT)
    client = await _join(browser, base, result.client_link, "client",
                         result.client_date_of_birth)
    interpreter = await _join(browser, base, result.interpreter_link, "interpreter", None)
    for name, page in ((person.full_name, client), (INTERPRETER, interpreter)):
        await prac.get_by_role("button", name=f"Let in: {name}").click()
        await _phase(page, "in")
    return [prac, client, interpreter]


async def _until(check: Any, what: str, every: float = 0.002) -> float:
    """Poll `check()` until true; the wall-clock time (ms) it first was."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(every)
    return time.time() * 1000


async def _one(app: web.Application, pages: list[Any], stops: Stops) -> None:
    prac, client, _interpreter = pages
    recorder = app[DESK].recorder
    await prac.locator("#record-ask").click()
    for page in pages:
        dialog = page.get_by_role("dialog", name="May we record this session?")
        await dialog.get_by_role("button", name="Yes, record").click()
    for page in pages:
        await _rec(page, "recording")
    await _until(lambda: recorder.peer_count() == 3, "three recorder peers")
    await asyncio.sleep(1.0)  # a second of media from everyone
    request = await client.evaluate("rapportCall.recording().request")
    peers = [pc for live in recorder.live.values() for pc in live.peers.values()]
    # The wall-clock time each peer's state became "closed", taken by aiortc's own event
    # (polling would add the loop's lag to the figure).
    became: dict[int, float] = {}
    for n, pc in enumerate(peers):
        def changed(n: int = n, pc: Any = pc) -> None:
            if pc.connectionState == "closed":
                became.setdefault(n, time.time() * 1000)
        pc.on("connectionstatechange", changed)
    await client.locator("#record-stop").click()
    await _until(lambda: len(became) == len(peers), "recorder peers closed")
    closed = max(became.values())
    for page in pages:
        await _rec(page, "stopped")
    sent = (await client.evaluate("rapportStopTimes.sent"))[-1]
    stops.closed.append((closed - sent) / 1000)
    for page in pages:
        told = [t for t, r in await page.evaluate("rapportStopTimes.stopped") if r == request]
        stops.told.append((told[0] - sent) / 1000)
    stops.load.append(os.getloadavg()[0])
    await prac.locator("#record-ask").wait_for(state="visible")
    await asyncio.sleep(0.5)  # the desk writes the withdrawal down before it is asked again


def _prioritise(nice: int, realtime: bool) -> None:
    """This process's threads (the server's loop and its writers' threads; those started
    later inherit it) at `nice`, or real-time as `RAPPORT_REALTIME_SCHEDULING` makes them
    (`server.workers.prioritise`, the same code); the Chromium pages and the busy processes,
    started before, keep the default."""
    if realtime:
        if problem := workers.prioritise():
            raise SystemExit(problem)
        return
    for task in os.listdir("/proc/self/task"):
        os.setpriority(os.PRIO_PROCESS, int(task), nice)


async def measure(withdrawals: int, nice: int = 0, realtime: bool = False) -> Stops:
    stops = Stops()
    key = new_key_entry("bench")
    async with served(recording_keys=(key,), recording_key_id="bench") as (app, base, browser):
        pages = await _call(app, browser, base)
        with Busy(True):
            if nice or realtime:
                _prioritise(nice, realtime)
            for i in range(withdrawals):
                await _one(app, pages, stops)
                print(f"{i + 1}/{withdrawals}: peers closed {stops.closed[-1] * 1000:.0f} ms, "
                      f"told {' '.join(f'{t * 1000:.0f}' for t in stops.told[-3:])} ms, "
                      f"load {stops.load[-1]:.1f}", flush=True)
    return stops


def _ms(values: list[float]) -> str:
    return " / ".join(f"{quantile(values, q) * 1000:.0f}" for q in (0.5, 0.95, 0.99)) \
        + f" / {max(values) * 1000:.0f} ms"


def _body(stops: Stops, command: str, nice: int = 0, realtime: bool = False) -> str:
    closed_p99, told_p99 = quantile(stops.closed, 0.99), quantile(stops.told, 0.99)
    return "\n".join([
        f"`{command}`: {len(stops.load)} withdrawals, three headless Chromium pages "
        "(practitioner, client, interpreter; fake camera and microphone) in the demo's call, "
        "each sending its recorder copy of the camera (`recording.js`); the app in the "
        "benchmark's process, one busy process per core beside it. Each withdrawal is the "
        "client's \"Stop recording\" after a second of recording. Times from the client's "
        "page sending `withdraw` (median / p95 / p99 / max):",
        "",
        "| withdrawal → | median / p95 / p99 / max |",
        "|---|---|",
        f"| every recorder peer of the room closed (by the server) | {_ms(stops.closed)} |",
        f"| each page's `recording` `stopped` notice received | {_ms(stops.told)} |",
        "",
        f"Load average (1 min) during the runs: {min(stops.load):.1f}–{max(stops.load):.1f} "
        "on 2 cores (the two busy processes, three Chromium renderers, the app, and whatever "
        "else the machine ran). The goals, p99 ≤ "
        f"{GOALS[0] * 1000:.0f} ms to the peers closed and ≤ {GOALS[1] * 1000:.0f} ms to "
        f"everyone told, were **{'met' if closed_p99 <= GOALS[0] else 'not met'}** and "
        f"**{'met' if told_p99 <= GOALS[1] else 'not met'}** in this run.",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on a 2-core development machine: "
        "the three Chromium pages encode and send video to each other and to the recorder on "
        "the same two cores as the server and the busy processes; the server's threads "
        + ("real-time (`RAPPORT_REALTIME_SCHEDULING=true`, SCHED_RR at the lowest priority)"
           if realtime else f"at nice {nice}" if nice else "at the default priority")
        + ". Re-run on the servers to be used before sizing them.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--withdrawals", type=int, default=50)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    parser.add_argument("--server-nice", type=int, default=0,
                        help="the server's threads at this nice (e.g. -10; needs root)")
    parser.add_argument("--realtime", action="store_true",
                        help="the server's threads real-time, as RAPPORT_REALTIME_SCHEDULING")
    args = parser.parse_args()
    stops = asyncio.run(measure(args.withdrawals, args.server_nice, args.realtime))
    print("closed", _ms(stops.closed), "told", _ms(stops.told))
    if not args.no_write:
        command = f"python -m bench.withdrawal_browser --withdrawals {args.withdrawals}"
        heading = HEADING
        if args.realtime:
            command += " --realtime"
            heading += ", the server real-time"
        elif args.server_nice:
            command += f" --server-nice {args.server_nice}"
            heading += f", the server at nice {args.server_nice}"
        write_section(heading, _body(stops, command, args.server_nice, args.realtime))
        print(f"wrote the {heading!r} section of docs/performance.md")


if __name__ == "__main__":
    main()
