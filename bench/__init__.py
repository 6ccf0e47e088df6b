"""Benchmarks: `python -m bench.<name>`; results are written to docs/performance.md."""
