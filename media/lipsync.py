"""When each received frame was captured, so one person's sound and picture line up.

A browser's audio and video leave on their own RTP clocks, and their first packets reach the
recorder at unrelated moments: a video key frame is large, and at the start of a connection
the sender paces it out over a few hundred milliseconds, while sound goes at once. Timing each
track from its own first arrival therefore puts the picture late (0.15 s was measured in the
browser test). Every sender also says, in its RTCP sender reports (RFC 3550 §6.4.1), which RTP
time of a stream belongs to which moment of its one wall clock (NTP); through the latest
report, each frame gets its capture time on that clock, shared by all of that sender's
tracks. That is how a receiver keeps lip sync, and it follows any drift between a stream's
RTP clock and the wall clock. Until a track has a report, only its arrival can be used.
"""

from __future__ import annotations

from typing import Any

_WRAP = 1 << 32
_NTP_UNIT = float(1 << 32)  # an NTP timestamp's fraction: seconds * 2**32


class TrackClock:
    """A received track's clocks: `anchor`, when its first packet arrived (monotonic
    seconds), and once its sender has reported, its frames' capture times."""

    def __init__(self, anchor: float | None = None) -> None:
        self.anchor = anchor
        # The RTP time the frames' timestamps count from (aiortc maps the first to 0).
        self.origin: int | None = None
        self.report: tuple[float, int] | None = None  # the latest (NTP seconds, RTP time)
        # The sender's clock to the recorder's (monotonic): the least of each report's
        # arrival less its NTP time, i.e. the clocks' difference plus the quickest delivery.
        self.offset: float | None = None

    def reported(self, ntp_timestamp: int, rtp_timestamp: int,
                 arrived: float | None = None) -> None:
        """A sender report for this track's stream, arrived at monotonic time `arrived` (on
        the event loop; read in the writer's thread, which sees either report whole)."""
        ntp = ntp_timestamp / _NTP_UNIT
        self.report = (ntp, rtp_timestamp)
        if arrived is not None:
            self.offset = arrived - ntp if self.offset is None else min(self.offset,
                                                                        arrived - ntp)

    @property
    def synced(self) -> bool:
        return self.report is not None and self.origin is not None

    def arrived(self, timestamp: int, clock_rate: int) -> float:
        """A frame's time counted from the track's first arrival (monotonic seconds)."""
        return (self.anchor or 0.0) + timestamp / clock_rate

    def captured(self, timestamp: int, clock_rate: int) -> float | None:
        """A frame's capture time on the sender's wall clock (NTP seconds), if reported."""
        report, origin = self.report, self.origin
        if report is None or origin is None:
            return None
        ntp, rtp = report
        raw = (timestamp + origin) % _WRAP
        since = (raw - rtp + _WRAP // 2) % _WRAP - _WRAP // 2  # signed, across a wrap
        return ntp + since / clock_rate


def mapped_origin(receiver: Any) -> int | None:
    """The RTP time aiortc's receiver counts its frames' timestamps from (None before the
    first frame, or in an aiortc that keeps it elsewhere)."""
    mapper = getattr(receiver, "_RTCRtpReceiver__timestamp_mapper", None)
    origin = getattr(mapper, "_origin", None)
    return origin % _WRAP if isinstance(origin, int) else None
