"""A call between two homes behind NAT that only TURN can join (issue #13).

The practitioner's browser runs in one network namespace and the client's in another, each
behind its own masquerading router (tests/netns.py); neither can reach the other, both reach
the app and coturn on the core address (10.13.10.1). The call must connect through coturn,
come back after one home's line is cut and restored, and keep flowing on a poor mobile line
at the other home: what it sends out waits 150 ms ± 50 ms and 2 % of it is lost (`tc netem`
where the kernel has it, else tests/impairment.py through NFQUEUE: tests/netns.py). On the
poor line audio and video bytes keep rising on both sides and the remote video keeps
playing; the selected candidate pair's `currentRoundTripTime` shows the delay is real: a
median under 50 ms before, at least 90 % of the answers 100 ms or more (the delay's least) and
a median of at least 130 ms over 24 s on both sides while on, and under 50 ms again once
restored, with audio flowing (the pages may have fallen back to audio only on the poor line,
fallback.js, and never turn video back on by themselves). Never skipped in CI: without root,
iproute2 or iptables it fails there (tests/netns.py).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from server import keys
from server.settings import Settings
from tests.browser.calls import admit, joined, media_flows, phase, practitioner_page, stats
from tests.browser.conftest import ACTION_TIMEOUT_MS, CHROMIUM_ARGS, RUNNING, LiveServer
from tests.browser.test_call_legs import audio_flows
from tests.calls import remote_call
from tests.conftest import World
from tests.netns import CORE, behind_nat, cut, launcher, poor_line, restore
from tests.turnserver import Coturn, running_coturn

pytestmark = pytest.mark.browser
# Round trips (s): through coturn on this machine, and on the poor line, whose every packet
# out of home B waits 100 ms at the least (150 ms ± 50 ms): no answer can come sooner, and
# some 20 answers average 150 ms (a standard error of 7 ms) or more on a loaded machine.
QUICK, FLOOR, SLOW = 0.05, 0.1, 0.13
ROUND_TRIPS_S = 24.0


@pytest.fixture
def homes() -> Iterator[dict[str, str]]:
    with behind_nat() as made:
        yield made


@pytest.fixture
async def coturn(tmp_path: Path, homes: dict[str, str]) -> AsyncIterator[Coturn]:
    async with running_coturn(tmp_path / "coturn", host=CORE) as server:
        yield server


@pytest.fixture
def settings(database_url: str, coturn: Coturn) -> Settings:
    """TURN (coturn on the core address) and nothing else; relay not forced, so the pages
    try their host and server-reflexive candidates too, and find they lead nowhere."""
    return coturn.settings(Settings(database_url=database_url, migrate_on_start=False,
                                    log_json=False, base_url=f"http://{CORE}:8080"))


@pytest.fixture
async def live_server(app: web.Application, homes: dict[str, str]
                      ) -> AsyncIterator[LiveServer]:
    """The app on the core address, where both homes can reach it."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, CORE, 0)
    await site.start()
    port = runner.addresses[0][1]
    server = LiveServer(f"http://{CORE}:{port}", app)
    RUNNING.append(server)
    try:
        yield server
    finally:
        RUNNING.remove(server)
        await runner.cleanup()


async def _browser_in(playwright: Any, folder: Path, ns: str, chromium: Path, url: str) -> Any:
    # Camera and microphone need a secure context: loopback is one, the core address is not.
    return await playwright.chromium.launch(
        executable_path=str(launcher(folder, ns, chromium)), headless=True,
        args=[*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={url}"])


async def round_trips(page: Any, seconds: float) -> list[float]:
    """The selected pair's `currentRoundTripTime` (s) as it changes over `seconds`: each
    value is one connectivity check's answer (Chromium checks the pair every few seconds)."""
    values: list[float] = []
    for _ in range(int(seconds / 0.25)):
        [sample] = await stats(page)
        if sample["rtt"] is not None and (not values or sample["rtt"] != values[-1]):
            values.append(sample["rtt"])
        await asyncio.sleep(0.25)
    return values


async def sampled(pages: dict[str, Any], first: str) -> dict[str, list[float]]:
    """Each page's round trips over ROUND_TRIPS_S, from the first one that meets `first`
    (a condition on `rtt`, e.g. "rtt >= 0.1"), all pages at once."""
    async def one(page: Any) -> list[float]:
        await until(page, "() => rapportCall.stats().then(s => s.length === 1 "
                    f"&& s[0].rtt !== null && s[0].{first})", f"a round trip with {first}")
        return await round_trips(page, ROUND_TRIPS_S)
    found = await asyncio.gather(*(one(page) for page in pages.values()))
    return dict(zip(pages, found, strict=True))


async def video_plays(page: Any) -> None:
    """The remote tile's video is playing: its time moves on by a second and more."""
    remote = "#tiles li:not(.me) video"
    start = await page.eval_on_selector(remote, "v => v.currentTime")
    await until(page, f"""start => {{ const v = document.querySelector('{remote}');
        return v && !v.paused && v.videoWidth > 0 && v.currentTime > start + 1; }}""",
                "the remote video playing", start)


async def until(page: Any, script: str, what: str, arg: Any = None) -> None:
    """`page.wait_for_function` for 60 s, failing with what the page saw."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_function(script, arg=arg, timeout=60_000)
    except PlaywrightTimeout:
        seen = await page.evaluate("async () => [await rapportCall.stats(), rapportCall.peers()]")
        raise AssertionError(f"{what}: not within 60 s; stats and peers {seen}") from None


@pytest.mark.timeout(600)
async def test_a_call_behind_two_nats_connects_through_turn_and_recovers(
        live_server: LiveServer, world: World, homes: dict[str, str], coturn: Coturn,
        tmp_path: Path, chromium_path: Path) -> None:
    from playwright.async_api import async_playwright

    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    async with async_playwright() as playwright:
        browsers = [await _browser_in(playwright, tmp_path, homes[h], chromium_path,
                                      live_server.url) for h in ("a", "b")]
        try:
            def maker(browser: Any) -> Any:
                async def new_context(**options: Any) -> Any:
                    context = await browser.new_context(
                        base_url=live_server.url, locale="en-GB", timezone_id="Europe/London",
                        permissions=["camera", "microphone"], **options)
                    context.set_default_timeout(ACTION_TIMEOUT_MS * 3)
                    return context
                return new_context

            prac = await practitioner_page(maker(browsers[0]), alice, call.appointment.id)
            client = await joined(maker(browsers[1]), call.client_token)
            await admit(prac, person.full_name)
            await phase(client, "in", within=60)
            for page in (prac, client):
                try:
                    await media_flows(page, peers=1, within=60)
                except AssertionError as exc:
                    other = client if page is prac else prac
                    seen = await other.evaluate(
                        "async () => [rapportCall.peers(), await rapportCall.stats(), "
                        "document.querySelector('#tiles li.me video')?.srcObject?.getTracks()"
                        ".map(t => [t.kind, t.readyState]), document.querySelector("
                        "'#media-note')?.textContent, rapportCall.failure()]")
                    raise AssertionError(f"{exc}\nthe other side: {seen}\ncoturn:\n"
                                         f"{coturn.log()[-1500:]}") from None
            # Nothing went direct: the selected pair is relayed through coturn.
            for page in (prac, client):
                [sample] = await stats(page)
                assert "relay" in (sample["localCandidate"], sample["remoteCandidate"]), sample

            # Home A's line is cut, then restored: the call comes back by itself.
            cut("a")
            await prac.wait_for_function(
                "() => rapportCall.peers().every(p => p.ice !== 'connected')", timeout=60_000)
            restore("a")
            for page in (prac, client):
                await audio_flows(page, peers=1)

            # Before the poor line: the round trip through coturn is short (once the checks
            # answered while home A's line came back are past).
            pages = {"practitioner": prac, "client": client}
            quick = await sampled(pages, f"rtt < {QUICK}")
            assert all(statistics.median(v) < QUICK for v in quick.values()), quick

            # A poor mobile line at home B: 150 ms ± 50 ms on the way out, 2 % loss. Media
            # keeps flowing both ways, the remote video keeps playing on both sides, and
            # both browsers see the delay in the round trip of their selected pair: no
            # answer sooner than the delay's least, and about its middle on average.
            how = poor_line("b")
            for page in (prac, client):
                await media_flows(page, peers=1, within=60)
            await asyncio.gather(video_plays(prac), video_plays(client))
            slow = await sampled(pages, f"rtt >= {FLOOR}")
            every = [rtt for values in slow.values() for rtt in values]
            # Nearly every answer at least the line's smallest delay (one odd sample, a
            # consent check answered from before the rule or the like, was seen once under
            # load), and their median well above it.
            delayed = sum(1 for rtt in every if rtt >= FLOOR)
            assert delayed >= 0.9 * len(every) and statistics.median(every) >= SLOW, (how, slow)
            # Its bitrate estimate may have sent a page to audio only meanwhile (fallback.js,
            # which never turns video back on by itself): audio is what must come back.
            fell_back = [await page.evaluate("() => rapportCall.peers()[0].video")
                         for page in (prac, client)]
            summary = restore("b")
            for page in (prac, client):
                await until(page, f"() => rapportCall.stats().then(s => s[0]?.rtt < {QUICK})",
                            "a short round trip once the line is good again")
                await audio_flows(page, peers=1)
            print(f"poor line by {how}: {summary}\nround trips (s) before: {quick}\n"
                  f"on the poor line: {slow}\nvideo senders at its end: {fell_back}")
        finally:
            for browser in browsers:
                await browser.close()
