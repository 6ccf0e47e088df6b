"""Rate limits of one signalling connection: token buckets."""

from __future__ import annotations

import time

BURST = 200
RATE = 50.0
LEG_BURST, LEG_RATE = 5, 1.0  # leg reports and repairs: a few at once, then one a second


class Bucket:
    """A token bucket: `BURST` messages at once, then `RATE` a second (a connection's own
    come from the settings `signal_burst` and `signal_rate`)."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, burst: int = BURST, rate: float = RATE) -> None:
        self.capacity, self.rate = float(burst), rate
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        moment = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (moment - self.stamp) * self.rate)
        self.stamp = moment
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
