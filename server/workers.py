"""`rapport serve --workers N`: a supervisor and N worker processes on one port.

Each worker is a whole Rapport process (`rapport serve` with `RAPPORT_WORKER=1`) listening on
the same address with SO_REUSEPORT, so the kernel spreads new connections between them; they
share rooms through the Redis room bus, which several workers therefore require. The
supervisor migrates a brand-new database once, starts the workers, restarts one that dies
(its people reconnect to the others meanwhile), and on SIGTERM or SIGINT passes the signal
on, so every worker drains, and waits for them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from server.settings import Settings

RESTART_PAUSE = 1.0


def check(settings: Settings, workers: int) -> str | None:
    """Why these settings cannot run `workers` processes, or None."""
    if workers < 1 or workers > 64:
        return "--workers must be between 1 and 64"
    if workers > 1 and not settings.room_bus:
        return ("several workers share rooms through Redis: set RAPPORT_ROOM_BUS "
                "(e.g. redis://127.0.0.1:6379/0)")
    return None


def supervise(workers: int, argv: list[str]) -> int:
    """Run `workers` copies of `rapport serve` until told to stop; the exit status."""
    env = {**os.environ, "RAPPORT_WORKER": "1", "RAPPORT_MIGRATE_ON_START": "false"}
    command = [sys.executable, "-m", "server.cli", *argv]
    # Our own interpreter and module, with arguments from our own parser.
    children = [subprocess.Popen(command, env=env) for _ in range(workers)]  # noqa: S603
    stopping: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for index, child in enumerate(children):
            if child.poll() is not None and not stopping:
                print(f"rapport: worker {child.pid} exited ({child.returncode}); restarting",
                      file=sys.stderr, flush=True)
                time.sleep(RESTART_PAUSE)
                children[index] = subprocess.Popen(command, env=env)  # noqa: S603
        time.sleep(0.2)
    codes = [child.wait() for child in children]
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1


REALTIME_PRIORITY = 1  # the lowest real-time priority: above all ordinary work, below the rest


def prioritise() -> str | None:
    """Real-time round-robin scheduling for every thread of this process (threads started
    later inherit it); why not, or None. The kernel's real-time throttling
    (`/proc/sys/kernel/sched_rt_runtime_us`, 95 % by default) still leaves the rest of the
    machine a share even if the process spins."""
    try:
        for task in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(task), os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
    except PermissionError:
        return ("RAPPORT_REALTIME_SCHEDULING needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at "
                "least 1 (systemd: LimitRTPRIO=1; Docker: cap_add SYS_NICE and ulimits "
                "rtprio 1), or set it to false")
    except (AttributeError, FileNotFoundError, OSError) as exc:
        return f"RAPPORT_REALTIME_SCHEDULING is not available on this system: {exc}"
    return None


def event_loop() -> object | None:
    """A uvloop event loop when uvloop is installed (`pip install rapport[fast]`)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()
