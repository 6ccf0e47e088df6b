"""Short versions of the benchmarks in CI (the full runs and their figures are in bench/ and
docs/performance.md): each runs end to end on a small load and must finish without error, so a
benchmark that no longer matches the product is found by CI, not by the next person to run it.

They need PostgreSQL and Redis as a fleet does, so they run in the PostgreSQL pass of
`scripts/test` (RAPPORT_TEST_DATABASE_URL set to PostgreSQL) and are skipped in the SQLite one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = os.environ.get("RAPPORT_TEST_DATABASE_URL", "").startswith("postgresql")


@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL pass (needs a fleet's engines)")
@pytest.mark.timeout(600)
def test_scaleout_benchmark_runs_on_a_small_load() -> None:
    url = os.environ["RAPPORT_TEST_DATABASE_URL"].rsplit("/", 1)[0] + "/"
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.scaleout", "--processes", "1", "2", "--rooms", "4",
         "--seconds", "2", "--storm-rooms", "4", "--no-write"],
        cwd=ROOT, env={**os.environ, "RAPPORT_BENCH_POSTGRES_URL": url},
        capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| 2 | 4 |" in done.stdout and "SIGKILL of 1 of 2 processes | 4 | 4 |" in done.stdout
