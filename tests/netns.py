"""Two homes behind NAT, made of Linux network namespaces, for a call that only TURN can join.

Not a test module. `behind_nat()` builds, and always removes afterwards:

    root namespace: a veth to each home's router; the app and its coturn listen on CORE
    (10.13.10.1, the root's end of home A's router link: every address of the root
    namespace is reachable from both homes, and containers may have no dummy interfaces).
    home A:  rc13a (the browser, 10.13.1.2) ── rc13ra (router: masquerade, 10.13.10.2) ── root
    home B:  rc13b (the browser, 10.13.2.2) ── rc13rb (router: masquerade, 10.13.20.2) ── root

Each router masquerades its home behind its outer address and drops anything bound for the
other router's outer address, so the two browsers can reach CORE but never each other: their
host and server-reflexive candidates lead nowhere and only relayed media (through coturn on
CORE) joins them. Every rule lives inside the test's own namespaces; the root namespace only
gets the router links, removed with them. `launcher(ns)` writes a
script that starts Chromium inside a namespace (Playwright's `executable_path`); `cut()`
stops a router forwarding; `poor_line()` makes a home's line a poor mobile one: everything
the home sends out waits 150 ms ± 50 ms (uniform per packet) and 2 % of it is lost, by
`tc netem` on the router's outer link where the kernel has sch_netem, else by
tests/impairment.py, a process in the router's namespace that holds each packet iptables
queues to it (NFQUEUE) for its delay; `restore()` undoes both. Anything still running in the
test's namespaces (an impairer, a browser of a run killed half-way) is ended, by pid, before
they are removed.

Needs root, `ip` (iproute2), `iptables` and `tc`; without them the test is skipped, unless
`CI` is set, where that is a failure. A kernel with neither netem nor NFQUEUE fails the test
(`poor_line()` raises): the poor line is never quietly left out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CORE = "10.13.10.1"
PREFIX = "rc13"
HOMES = {"a": 1, "b": 2}
QUEUES = {"a": 131, "b": 132}  # each home's NFQUEUE number (tests/impairment.py)
DELAY_MS, JITTER_MS, LOSS = 150, 50, 0.02  # the poor line: one-way, on the way out
_IMPAIRERS: dict[str, subprocess.Popen[str]] = {}


def run(*args: str, ns: str | None = None, check: bool = True) -> None:
    command = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")


def needed() -> None:
    """Skip (fail under CI) without root or the tools."""
    missing = [tool for tool in ("ip", "iptables", "tc") if shutil.which(tool) is None]
    problem = "not root" if os.geteuid() != 0 else (
        f"missing {', '.join(missing)} (apt-get install -y iproute2 iptables)" if missing
        else None)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the NAT test needs root and iproute2/iptables: {problem}",
                        pytrace=False)
        pytest.skip(problem)


def _remove() -> None:
    for home in HOMES:
        _stop_impairer(home)
        for ns in (f"{PREFIX}{home}", f"{PREFIX}r{home}"):
            _end_processes_in(ns)
            run("ip", "netns", "del", ns, check=False)


def _end_processes_in(ns: str) -> None:
    """Whatever an earlier run left running in one of the test's namespaces (an impairer or
    a browser of a run killed half-way) would keep the namespace alive: end it, by pid."""
    listed = subprocess.run([str(shutil.which("ip")), "netns", "pids", ns],  # noqa: S603
                            capture_output=True, text=True, timeout=30)
    for pid in listed.stdout.split() if listed.returncode == 0 else ():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _home(home: str, number: int) -> None:
    browser, router = f"{PREFIX}{home}", f"{PREFIX}r{home}"
    inner, outer = f"10.13.{number}", f"10.13.{number * 10}"
    other = f"10.13.{(3 - number) * 10}.2/32"  # the other home's router
    for ns in (browser, router):
        run("ip", "netns", "add", ns)
        run("ip", "link", "set", "lo", "up", ns=ns)
    # browser ── router
    run("ip", "link", "add", f"{PREFIX}{home}i", "netns", browser, "type", "veth", "peer",
        "name", f"{PREFIX}{home}ri", "netns", router)
    run("ip", "addr", "add", f"{inner}.2/24", "dev", f"{PREFIX}{home}i", ns=browser)
    run("ip", "link", "set", f"{PREFIX}{home}i", "up", ns=browser)
    run("ip", "route", "add", "default", "via", f"{inner}.1", ns=browser)
    run("ip", "addr", "add", f"{inner}.1/24", "dev", f"{PREFIX}{home}ri", ns=router)
    run("ip", "link", "set", f"{PREFIX}{home}ri", "up", ns=router)
    # router ── root
    run("ip", "link", "add", f"{PREFIX}{home}o", "netns", router, "type", "veth", "peer",
        "name", f"{PREFIX}{home}h")
    run("ip", "addr", "add", f"{outer}.2/24", "dev", f"{PREFIX}{home}o", ns=router)
    run("ip", "link", "set", f"{PREFIX}{home}o", "up", ns=router)
    run("ip", "route", "add", "default", "via", f"{outer}.1", ns=router)
    run("ip", "addr", "add", f"{outer}.1/24", "dev", f"{PREFIX}{home}h")
    run("ip", "link", "set", f"{PREFIX}{home}h", "up")
    # The router: forwards, masquerades its home, and never lets it reach the other home.
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=router)
    run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", f"{PREFIX}{home}o", "-j",
        "MASQUERADE", ns=router)
    run("iptables", "-A", "FORWARD", "-d", other, "-j", "DROP", ns=router)


@contextlib.contextmanager
def behind_nat() -> Iterator[dict[str, str]]:
    """The two homes; yields {"a": namespace, "b": namespace} of the browsers."""
    needed()
    _remove()  # a run killed half-way leaves nothing behind for the next
    try:
        for home, number in HOMES.items():
            _home(home, number)
        yield {home: f"{PREFIX}{home}" for home in HOMES}
    finally:
        _remove()


def launcher(folder: Path, ns: str, chromium: Path) -> Path:
    """A script that runs Chromium inside `ns` (for Playwright's executable_path)."""
    script = folder / f"chromium-{ns}"
    script.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {chromium} "$@"\n',
                      encoding="utf-8")
    script.chmod(0o755)
    return script


def _router(home: str) -> str:
    return f"{PREFIX}r{home}"


def netem_available() -> bool:
    """Whether the kernel has `tc netem` (some container kernels lack sch_netem)."""
    router = _router("a")
    device = f"{PREFIX}ao"
    probe = subprocess.run(  # noqa: S603 - fixed arguments
        [str(shutil.which("ip")), "netns", "exec", router, "tc", "qdisc", "add", "dev", device,
         "root", "netem", "delay", "1ms"], capture_output=True, timeout=30)
    run("tc", "qdisc", "del", "dev", device, "root", ns=router, check=False)
    return probe.returncode == 0


def cut(home: str) -> None:
    """The home's line goes dead: its router forwards nothing until `restore(home)`."""
    run("iptables", "-I", "FORWARD", "1", "-j", "DROP", ns=_router(home))


def _queued(home: str) -> tuple[str, ...]:
    """The FORWARD rule handing what the home sends out to its impairer."""
    return ("-o", f"{PREFIX}{home}o", "-j", "NFQUEUE", "--queue-num", str(QUEUES[home]))


def poor_line(home: str) -> str:
    """A poor mobile line at the home: 150 ms ± 50 ms delay (uniform, as netem draws it) and
    2 % loss on everything the home sends out. With `tc netem` on the router's outer link
    where the kernel has it ("netem"), else by tests/impairment.py in the router's namespace,
    which holds each packet that iptables queues to it (NFQUEUE) for its delay ("nfqueue")."""
    router, device = _router(home), f"{PREFIX}{home}o"
    if netem_available():
        run("tc", "qdisc", "add", "dev", device, "root", "netem", "delay",
            f"{DELAY_MS}ms", f"{JITTER_MS}ms", "loss", f"{LOSS * 100:g}%", ns=router)
        return "netem"
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [str(shutil.which("ip")), "netns", "exec", router, sys.executable, "-m", "tests.impairment",
         "--queue", str(QUEUES[home]), "--delay-ms", str(DELAY_MS), "--jitter-ms",
         str(JITTER_MS), "--loss", str(LOSS), "--seed", str(QUEUES[home])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=Path(__file__).resolve().parent.parent)
    _IMPAIRERS[home] = process
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    if first != "ready":
        _stop_impairer(home)
        raise RuntimeError(f"tests/impairment.py did not start: {first}")
    run("iptables", "-I", "FORWARD", "1", *_queued(home), ns=router)
    return "nfqueue"


def _stop_impairer(home: str) -> str:
    """Stop the home's impairer, if one runs; its summary line (or "")."""
    process = _IMPAIRERS.pop(home, None)
    if process is None:
        return ""
    process.terminate()
    try:
        out, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out.strip()


def restore(home: str) -> str:
    """Undo `cut` and `poor_line`; returns the impairer's summary ("delayed N dropped M mean
    X ms") when tests/impairment.py was the poor line, else ""."""
    router = _router(home)
    run("tc", "qdisc", "del", "dev", f"{PREFIX}{home}o", "root", ns=router, check=False)
    run("iptables", "-D", "FORWARD", "-j", "DROP", ns=router, check=False)
    run("iptables", "-D", "FORWARD", *_queued(home), ns=router, check=False)
    return _stop_impairer(home)
