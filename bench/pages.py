"""How heavy and how quick the client's pages are on a poor phone line.

Run: `python -m bench.pages [--runs N] [--no-write]` (needs Debian's Chromium). Each page of
the client's journey is opened in a fresh browser context (cold cache) under Chromium's
"slow 3G" emulation (CDP `Network.emulateNetworkConditions`: 400 ms round trip, 400 kbit/s
down and up). Counted: the bytes transferred on the wire (`encodedDataLength`, headers
included) for the page's HTML, CSS, JS, fonts and images; the pre-call check's own traffic
(the echo test and its result) is media, not page weight, and is left out. Timed: from the
start of navigation to DOMContentLoaded (the page can be read and used: scripts are modules,
so they have run) and to the load event. Writes the "Client pages on slow 3G" section of
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bench.live import served
from bench.report import write_section
from server import demo, keys

HEADING = "Client pages on slow 3G"
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8,
           "uploadThroughput": 400_000 / 8}
PAGE_TYPES = {"Document", "Stylesheet", "Script", "Font", "Image"}
BUDGET = 100_000  # bytes: "well under 100 KB" per page


async def measure(page: Any, go: Any) -> tuple[int, float, float]:
    """(bytes of page resources on the wire, ms to DOMContentLoaded, ms to load)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    await cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    kinds: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on("Network.responseReceived", lambda e: kinds.__setitem__(e["requestId"], e["type"]))
    cdp.on("Network.loadingFinished",
           lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    await go()
    await page.wait_for_load_state("load")
    await asyncio.sleep(0.5)  # let the last loadingFinished events arrive
    timing = await page.evaluate("""() => { const n = performance.getEntriesByType(
        "navigation")[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd]; }""")
    total = sum(size for rid, size in sizes.items() if kinds.get(rid) in PAGE_TYPES)
    return total, float(timing[0]), float(timing[1])


async def journey(browser: Any, app: web.Application, base: str) -> dict[str, tuple[int, float,
                                                                                    float]]:
    async with app[keys.DB].begin() as db:
        result = await demo.load(db, app[keys.SETTINGS])
    token = urlsplit(result.client_link).path.rsplit("/", 1)[-1]
    year, month, day = result.client_date_of_birth.year, result.client_date_of_birth.month, \
        result.client_date_of_birth.day
    out: dict[str, tuple[int, float, float]] = {}

    async def fresh() -> Any:
        context = await browser.new_context(base_url=base, locale="en-GB", is_mobile=True,
                                            viewport={"width": 360, "height": 740},
                                            permissions=["camera", "microphone"])
        return await context.new_page()

    page = await fresh()
    out["link page (identity check)"] = await measure(page, lambda: page.goto(f"/join/{token}"))
    await page.fill("#day", "1")
    await page.fill("#month", "1")
    await page.fill("#year", "1901")
    out["wrong date of birth"] = await measure(
        page, lambda: page.locator("form button[type=submit]").click())
    await page.fill("#day", str(day))
    await page.fill("#month", str(month))
    await page.fill("#year", str(year))
    out["call page (check, checklist, waiting room, call)"] = await measure(
        page, lambda: page.locator("form button[type=submit]").click())
    await page.context.close()
    page = await fresh()
    out["link that does not work"] = await measure(page, lambda: page.goto("/join/expired"))
    await page.context.close()
    return out


async def run(runs: int) -> dict[str, list[tuple[int, float, float]]]:
    results: dict[str, list[tuple[int, float, float]]] = {}
    async with served() as (app, base, browser):
        for _ in range(runs):
            for name, value in (await journey(browser, app, base)).items():
                results.setdefault(name, []).append(value)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    results = asyncio.run(run(args.runs))
    rows = ["| page | bytes on the wire | budget | usable (DOMContentLoaded), median | "
            "load, median |", "|---|---|---|---|---|"]
    for name, values in results.items():
        size = max(v[0] for v in values)
        rows.append(f"| {name} | {size / 1000:.1f} KB | {'within' if size < BUDGET else 'OVER'} "
                    f"100 KB | {statistics.median(v[1] for v in values) / 1000:.2f} s | "
                    f"{statistics.median(v[2] for v in values) / 1000:.2f} s |")
    table = "\n".join(rows)
    print(table)
    if args.no_write:
        return
    body = f"""`python -m bench.pages` opens each page of the client's journey in headless Chromium
on a 360 px phone viewport, cold cache, under "slow 3G" emulation (400 ms round trip,
400 kbit/s each way) and counts the bytes on the wire for HTML, CSS, JS, fonts and images
(headers included; the pre-call check's media test is not page weight). "Usable" is
DOMContentLoaded: the page's module scripts have run. {args.runs} runs; sizes are the largest
seen, times the median.

{table}

Measured {datetime.now(UTC):%Y-%m-%d} on CPython {platform.python_version()},
{platform.machine()}, Chromium from Debian, SQLite, loopback plus the emulated line. The
machine (2 cores) was shared with other work at the time, so the times are noisy upper bounds;
the byte counts are exact. There are no web fonts (system fonts only) and no images.
The call page is measured at the journey's first step; its in-call code (layout, chat, call
quality: `web/static/call_extras.js`, issue #14) and `layout.css` load when the client
reaches the waiting room, so they are not counted here (about 9 KB more, before the call).
"""
    write_section(HEADING, body)


if __name__ == "__main__":
    main()
