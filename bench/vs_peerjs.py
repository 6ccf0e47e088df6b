"""Rapport's `/signal` side by side with the PeerJS server (npm `peer` 1.0.2), issue #17.

Run: `python -m bench.vs_peerjs [--quick] [--no-write]`. Installs PeerJS with npm into
bench/.peerjs (git-ignored) when absent. Both servers run on 127.0.0.1, each pinned to core 0
(`taskset`), and this process, the load generator for both, to core 1. Rapport: a fresh
SQLite database, `python -m server.cli serve` (uvloop when installed), and admitted pairs
joined through the public interface exactly as bench/signalling.py does (sign-in, link, date
of birth, `hello`, checklists, admission). PeerJS: pairs of sockets with ids. Then, for each
load in turn, alternating which server goes first each round: pairs bounce candidates
(bench/relay_load.py), and the server's CPU time (from /proc) over the messages it relayed is
the CPU per relayed message. Opening is every connection at once (Rapport: every admitted
page reconnecting with `resume`, until all are welcomed; PeerJS: as many new sockets with
ids, opened at once beside the pairs already open, then closed).

Memory per idle admitted connection is marginal: the server's RSS (from /proc) once the
first half of the pairs are in, against its RSS once all are, each read after a pause of
`SETTLE` seconds with every socket idle, divided by the connections the second half added
(Rapport: the practitioner's and the client's, both admitted; PeerJS: two sockets with
ids). So what the first connections cost once (imports, caches, pools, the heap's warm-up)
is left out, and what each further idle connection costs is in, whatever made it (the
join's leftovers and heap fragmentation included). The generator keeps no idle HTTP
connection to either server: the sign-in, link and date of birth requests each close their
connection once answered (`bench.signalling.browser`), as a browser's closes when the
server's keep-alive ends, so only the WebSockets stay open. `--quick` joins
`QUICK_MEMORY_PAIRS` pairs for this figure (a few hundred connections: fewer and the
allocator's arenas, a MiB at a time, are all one sees), the full run 1,000.

The per-connection rate limit is lifted on the Rapport server (RAPPORT_SIGNAL_BURST and
RAPPORT_SIGNAL_RATE, so the closed loop can run); each message still goes through the bucket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench import signalling as rapport_bench
from bench.relay_load import Pair, peerjs_pairs, run_closed, run_paced
from bench.report import write_section
from server.settings import Settings
from tests.calls import Peer

HERE = Path(__file__).resolve().parent
PEERJS_DIR = HERE / ".peerjs"
PEERJS_VERSION = "1.0.2"
HEADING = "Signalling against PeerJS"
SERVER_CORE, LOAD_CORE = 0, 1
SETTLE = 3.0  # seconds idle before reading a server's RSS
QUICK_MEMORY_PAIRS = 200


@dataclass
class Load:
    name: str
    pairs: int
    rate: float | None  # sends a second per pair; None: closed loop
    seconds: float


@dataclass
class Figures:
    cpu: dict[str, float] = field(default_factory=dict)  # seconds
    messages: dict[str, int] = field(default_factory=dict)  # relayed
    rtts: dict[str, list[float]] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)  # pairs whose socket closed, so far


def ensure_peerjs() -> Path:
    script = PEERJS_DIR / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"
    if not script.exists():
        PEERJS_DIR.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to install PeerJS (apt-get install npm)")
        subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(PEERJS_DIR),
             f"peer@{PEERJS_VERSION}"], check=True)
    return script


def pin(pid: int, core: int) -> None:
    """Every thread of `pid` (and those it starts later) on `core`."""
    subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)],  # noqa: S603,S607
                   check=True, stdout=subprocess.DEVNULL)


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def settled_rss(pid: int) -> int:
    """The server's RSS after `SETTLE` seconds in which nothing is sent to it."""
    await asyncio.sleep(SETTLE)
    return proc_rss_kib(pid)


async def start_peerjs(port: int, log: Path) -> asyncio.subprocess.Process:
    script = ensure_peerjs()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            "taskset", "-c", str(SERVER_CORE), shutil.which("node") or "node", str(script),
            "--port", str(port), "--host", "127.0.0.1", "--concurrent_limit", "100000",
            "--alive_timeout", "3600000", "--expire_timeout", "3600000",
            stdout=out, stderr=out)
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/") as response:
                    if response.status < 500:
                        return process
            await asyncio.sleep(0.05)
    raise RuntimeError(f"PeerJS did not start; see {log}")


async def rapport_pairs(base: str, staff: list[aiohttp.ClientSession],
                        rooms: list[tuple[int, str, int]]) -> tuple[list[Pair], list[Peer]]:
    # At most 50 joining at once: a joining practitioner's socket is not read by the script
    # while its client signs in (a browser answers pings whatever it does), so a join
    # slower than the server's 45 s silence limit would be closed (4408).
    gate = asyncio.Semaphore(50)

    async def one(appointment: int, token: str, who: int) -> tuple[Pair, rapport_bench.Live]:
        async with gate:
            live = await rapport_bench.join(base, staff[who], appointment, token)
        pair = Pair(live.doctor.ws, live.person.ws, live.client_id,
                    live.doctor.seen[0]["you"]["id"], peerjs=False)
        # Read from the moment the pair is in, as a browser does: a pair left unread until
        # all 1,000 have joined (over a minute) stops answering pings and is closed as
        # silent after 45 s (what lost 166–247 pairs in earlier runs).
        pair.start()
        return pair, live

    joined = list(await asyncio.gather(*(one(a, token, who) for a, token, who in rooms)))
    return [pair for pair, _ in joined], [p for _, live in joined
                                          for p in (live.doctor, live.person)]


async def reopen(base: str, peers: list[Peer], staff_of: list[aiohttp.ClientSession | None],
                 appointments: list[int | None]) -> float:
    """Every page reconnects at once with `resume`; seconds until all are welcomed."""
    for peer in peers:
        await peer.ws.close()
    began = time.perf_counter()

    async def one(peer: Peer, session: aiohttp.ClientSession | None,
                  appointment: int | None) -> None:
        assert session is not None  # the practitioner's, or the page's own
        again = Peer(await session.ws_connect(f"{base}/signal", origin=base), None)
        hello = {"type": "hello", "version": 1, "resume": True}
        if appointment is not None:
            hello["appointment"] = appointment
        await again.send(**hello)
        await again.expect("welcome", 300)
        peer.ws = again.ws

    await asyncio.gather(*(one(p, s, a) for p, s, a in zip(
        peers, [s or p.session for s, p in zip(staff_of, peers, strict=True)], appointments,
        strict=True)))
    return time.perf_counter() - began


async def peerjs_opening(http: aiohttp.ClientSession, base: str, count: int) -> float:
    """Seconds to open `count` more PeerJS pairs at once (closed again after)."""
    began = time.perf_counter()
    pairs = await peerjs_pairs(http, base, count, "r")
    seconds = time.perf_counter() - began
    for pair in pairs:
        for reader in pair.readers:
            reader.cancel()
        await pair.a.close()
        await pair.b.close()
    return seconds


def us(cpu: float, messages: int) -> str:
    return f"{1e6 * cpu / messages:.1f} µs" if messages else "n/a"


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(0.99 * len(ordered)) - 1)] if ordered else float("nan")


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"


async def main_async(quick: bool) -> str:
    os.sched_setaffinity(0, {LOAD_CORE})
    loads = ([Load("20 pairs × 5 msg/s", 20, 5.0, 4.0), Load("50 pairs × 2 msg/s", 50, 2.0, 4.0),
              Load("closed loop, 10 pairs", 10, None, 3.0)] if quick else
             [Load("200 pairs × 5 msg/s", 200, 5.0, 10.0),
              Load("1000 pairs × 2 msg/s", 1000, 2.0, 10.0),
              Load("closed loop, 100 pairs", 100, None, 8.0)])
    rounds = 1 if quick else 2
    most = max([QUICK_MEMORY_PAIRS if quick else 0] + [load.pairs for load in loads])
    half = most // 2
    folder = Path(tempfile.mkdtemp(prefix="rapport-vs-peerjs-"))
    port, peer_port = rapport_bench.free_port(), rapport_bench.free_port()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{folder}/bench.db", host="127.0.0.1",
                        port=port, base_url=f"http://127.0.0.1:{port}", migrate_on_start=False,
                        log_json=False)
    seeded = await rapport_bench.seed(settings, most)
    server = rapport_bench.Server(settings, folder / "server.log", {
        "RAPPORT_SIGNAL_BURST": "100000", "RAPPORT_SIGNAL_RATE": "100000"})
    await server.start()
    assert server.process is not None
    rapport_pid = server.process.pid
    pin(rapport_pid, SERVER_CORE)
    peerjs = await start_peerjs(peer_port, folder / "peerjs.log")
    base = settings.base_url
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # 2 × pairs at once
    staff: list[aiohttp.ClientSession] = []
    pages: list[Peer] = []
    try:
        staff = [await rapport_bench.sign_in(base, email) for email in seeded.emails]
        began = time.perf_counter()
        ours, pages = await rapport_pairs(base, staff, seeded.rooms[:half])
        rss0 = await settled_rss(rapport_pid)
        more, more_pages = await rapport_pairs(base, staff, seeded.rooms[half:])
        ours, pages = ours + more, pages + more_pages
        joined_seconds = time.perf_counter() - began - SETTLE
        ours_kib = (await settled_rss(rapport_pid) - rss0) / (2 * (most - half))
        peer_base = f"http://127.0.0.1:{peer_port}"
        theirs = await peerjs_pairs(http, peer_base, half, "p")
        rss0 = await settled_rss(peerjs.pid)
        theirs += await peerjs_pairs(http, peer_base, most - half, "q")
        theirs_kib = (await settled_rss(peerjs.pid) - rss0) / (2 * (most - half))
        results: list[tuple[Load, Figures]] = []
        for load in loads:
            figures = Figures()
            for n in range(rounds):
                order = [("Rapport", rapport_pid, ours), ("PeerJS", peerjs.pid, theirs)]
                for name, pid, pairs in order if n % 2 == 0 else order[::-1]:
                    chosen = [p for p in pairs if not p.lost][:load.pairs]
                    for pair in chosen:
                        pair.rtts.clear()
                    cpu = proc_cpu(pid)
                    sent = (await run_paced(chosen, load.rate, load.seconds) if load.rate
                            else await run_closed(chosen, load.seconds))
                    figures.cpu[name] = figures.cpu.get(name, 0.0) + proc_cpu(pid) - cpu
                    figures.messages[name] = figures.messages.get(name, 0) + sent
                    figures.lost[name] = sum(1 for p in pairs if p.lost)
                    figures.rtts.setdefault(name, []).extend(r for p in chosen for r in p.rtts)
                    errors = [e for p in chosen for e in p.errors]
                    if errors:
                        raise RuntimeError(f"{name} answered errors: {errors[:3]}")
                    await asyncio.sleep(0.5)
            results.append((load, figures))
        # Opening: every Rapport page reconnects at once; PeerJS: as many new sockets at once.
        staff_of = [staff[who] if i % 2 == 0 else None
                    for _a, _t, who in seeded.rooms for i in range(2)]
        appointments = [a if i % 2 == 0 else None for a, _t, _w in seeded.rooms for i in range(2)]
        ours_open = await reopen(base, pages, staff_of, appointments)
        theirs_open = await peerjs_opening(http, peer_base, most)
    finally:
        await http.close()
        for session in staff + [p.session for p in pages if p.session is not None]:
            await session.close()
        problems = await server.stop()
        peerjs.send_signal(signal.SIGTERM)
        await peerjs.wait()
    for name, pairs in (("Rapport", ours), ("PeerJS", theirs)):
        reasons = sorted({p.lost for p in pairs if p.lost})
        if reasons:
            print(f"  {name}: pairs lost: {reasons[:5]}", file=sys.stderr)
    for line in problems[:10]:
        print(f"  rapport: {line}", file=sys.stderr)
    return body(results, most, ours_kib, theirs_kib, ours_open, theirs_open, joined_seconds,
                rounds, quick)


def body(results: list[tuple[Load, Figures]], most: int, ours_kib: float, theirs_kib: float,
         ours_open: float, theirs_open: float, joined: float, rounds: int, quick: bool) -> str:
    rows = ["| figure | Rapport | PeerJS | ratio (Rapport / PeerJS) |", "|---|---|---|---|"]
    for load, f in results:
        r, p = ("Rapport", "PeerJS")
        ours = f.cpu[r] / max(1, f.messages[r])
        theirs = f.cpu[p] / max(1, f.messages[p])
        rows.append(f"| CPU per relayed message, {load.name} | {us(f.cpu[r], f.messages[r])} "
                    f"| {us(f.cpu[p], f.messages[p])} | {ratio(ours, theirs)} |")
    busiest = max((load.pairs for load, _ in results), default=0)
    for load, f in results:
        if load.rate is not None and load.pairs == busiest:
            a, b = p99(f.rtts["Rapport"]), p99(f.rtts["PeerJS"])
            rows.append(f"| RTT p99 (two relays), {load.name} | {a * 1000:.2f} ms "
                        f"| {b * 1000:.2f} ms | {ratio(a, b)} |")
            rows.append(f"| RTT median, {load.name} | "
                        f"{statistics.median(f.rtts['Rapport']) * 1000:.2f} ms | "
                        f"{statistics.median(f.rtts['PeerJS']) * 1000:.2f} ms | |")
    rows.append(f"| memory per idle admitted connection (marginal, {2 * (most // 2)} → "
                f"{2 * most} connections) | {ours_kib:.1f} KiB | {theirs_kib:.1f} KiB "
                f"| {ratio(ours_kib, theirs_kib)} |")
    rows.append(f"| opening {2 * most} connections at once | {ours_open:.2f} s "
                f"({2 * most / ours_open:.0f}/s) | {theirs_open:.2f} s "
                f"({2 * most / theirs_open:.0f}/s) | {ratio(ours_open, theirs_open)} |")
    lost = results[-1][1].lost if results else {}
    if any(lost.values()):
        rows.append(f"| pairs whose socket closed during the run (left out after) | "
                    f"{lost.get('Rapport', 0)} | {lost.get('PeerJS', 0)} | |")
    command = "python -m bench.vs_peerjs" + (" --quick" if quick else "")
    return (f"`{command}` (see its docstring) measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
            f"on {platform.python_implementation()} {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Node {node_version()}, PeerJS "
            f"{PEERJS_VERSION}; {rounds} round(s) per load, alternating which server goes "
            "first; every figure of a row from the same run. **The machine is shared with "
            "other work and was loaded while this ran**: absolute figures vary from run to "
            "run; the ratios, measured side by side, are the figures to compare. Joining the "
            f"{most} Rapport pairs through the public interface took {joined:.1f} s.\n\n"
            + "\n".join(rows) + "\n")


def node_version() -> str:
    found = subprocess.run(["node", "--version"], capture_output=True, text=True,  # noqa: S607
                           check=False)
    return found.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small loads, a minute or two")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    began = time.perf_counter()
    text = asyncio.run(main_async(args.quick))
    print(text)
    print(f"{time.perf_counter() - began:.1f} s", file=sys.stderr)
    if not args.no_write:
        write_section(HEADING + (" (quick)" if args.quick else ""), text)
        print("updated docs/performance.md", file=sys.stderr)


if __name__ == "__main__":
    main()
