"""One place that says what time it is, always in UTC (tests may move it)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["UTC", "now"]


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
