"""The soak's short version in CI (issue #13): five three-way calls in headless Chromium, join
orders and timings drawn from a fixed seed, each checked on all six directed legs.

`python -m bench.soak` (50 calls, figures in docs/performance.md) is the full run; this one
runs the same code on five calls, so a change that loses a leg in some join order, or a soak
that no longer matches the product, is found by CI. The soak serves its own Rapport on its own
SQLite (`bench.live.served`), so it runs once, in the SQLite pass of `scripts/test`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = os.environ.get("RAPPORT_TEST_DATABASE_URL", "").startswith("postgresql")
CALLS = 5
SEED = 38  # draws all four orders and all four extras, three calls of five loaded


@pytest.mark.skipif(ON_POSTGRES, reason="the soak uses its own SQLite: it runs in the SQLite pass")
@pytest.mark.timeout(900)
def test_five_three_way_calls_connect_every_leg(chromium_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.soak", "--calls", str(CALLS), "--seed", str(SEED),
         "--no-write"],
        cwd=ROOT, capture_output=True, text=True, timeout=840, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert f"| {CALLS} | {CALLS} | 0 | {6 * CALLS} |" in done.stdout, done.stdout[-3000:]
