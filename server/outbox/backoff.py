"""When to try a message again: exponential backoff, capped."""

from __future__ import annotations

from datetime import timedelta

CAP = timedelta(hours=1)


def retry_delay(attempt: int, base_seconds: int, cap: timedelta = CAP) -> timedelta:
    """The wait after the `attempt`-th failure: base, 2×base, 4×base … never more than `cap`."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return min(timedelta(seconds=base_seconds * 2 ** min(attempt - 1, 20)), cap)


def gives_up(attempt: int, max_attempts: int) -> bool:
    """After this failure, is the message failed for good?"""
    return attempt >= max_attempts
