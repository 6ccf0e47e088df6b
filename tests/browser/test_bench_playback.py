"""The playback benchmark's short version in CI: `python -m bench.playback` on a two-minute
file. The full run (an hour, figures in docs/performance.md "Recording playback: seeking")
seeks in Chromium with and without the seek index, on loopback and on a 20 Mbit/s line;
this one runs the same code, so a file the player cannot seek in, or a benchmark that no
longer matches the playback page, is found by CI. Its own Rapport on its own SQLite
(`bench.live.served`): the SQLite pass of `scripts/test` only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = os.environ.get("RAPPORT_TEST_DATABASE_URL", "").startswith("postgresql")


@pytest.mark.skipif(ON_POSTGRES, reason="the benchmark uses its own SQLite: the SQLite pass")
@pytest.mark.timeout(600)
def test_seeking_with_and_without_the_index(chromium_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.playback", "--minutes", "2", "--mbit", "20",
         "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    for line_speed in ("0", "20"):
        indexed, plain = result[f"indexed@{line_speed}"], result[f"plain@{line_speed}"]
        assert abs(indexed["duration"] - 120) < 1  # the length, from the patched Info
        assert plain["duration"] in (None, "inf", float("inf")) or plain["duration"] > 1e9
        for one in (indexed, plain):  # both seeks land on the key frame asked for
            assert [round(landed) for *_, landed in one["seeks"]] == [108, 36], one
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
