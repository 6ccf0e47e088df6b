"""The call set-up benchmark's short version in CI: `python -m bench.call` on two calls.

The full run (`--runs 15`, figures in docs/performance.md "Call set-up in the browser") times
"Let in" to two-way media step by step inside the pages; this one runs the same code, so a
benchmark that no longer matches the journey (it once timed out on a new step) or a call
whose steps stop happening is found by CI. It serves its own Rapport on its own SQLite
(`bench.live.served`), so it runs once, in the SQLite pass of `scripts/test`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = os.environ.get("RAPPORT_TEST_DATABASE_URL", "").startswith("postgresql")


@pytest.mark.skipif(ON_POSTGRES, reason="the benchmark uses its own SQLite: the SQLite pass")
@pytest.mark.timeout(600)
def test_call_set_up_is_timed_step_by_step(chromium_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.call", "--runs", "2", "--no-write"],
        cwd=ROOT, capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps = dict(re.findall(r"^\| ([^|]+?) \| (\d+) ms \| \d+ ms \|$", done.stdout, re.M))
    assert len(steps) == 7, done.stdout
    times = [int(ms) for ms in steps.values()]
    # Each step happens, in order (medians of two runs: each no earlier than the one before,
    # but the step from roster to offer may take under a millisecond).
    assert all(0 <= a <= b for a, b in zip(times, times[1:], strict=False)), steps
    assert '"Let in" → audio and video flowing both ways | 2 |' in done.stdout
