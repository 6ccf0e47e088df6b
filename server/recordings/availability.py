"""Whether a recording may be played or downloaded today: a small pure decision.

A recording is played only while what everyone agreed to still covers it:

- deleted (its retention ended, or a withdrawal discarded it): gone, 410;
- its retention has ended but the hourly sweeper has not deleted it yet: gone, 410 — the
  consent said "kept for N days", not "until the sweeper runs";
- withheld: someone withdrew their consent and the wording they agreed to did not say the
  part before a withdrawal is kept (`recording.2026-12-keep`): gone, 410, even in the moment
  before its files are discarded;
- still being recorded (asking, recording, paused): 409, it can be played once it stops.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from consent.wording import KEEP_VERSION
from server.errors import N_, AppError, Conflict, Gone
from server.store.models import Recording, RecordingState


class Unplayable(enum.StrEnum):
    DELETED_RETENTION = "deleted-retention"
    DELETED_WITHDRAWN = "deleted-withdrawn"
    DELETED = "deleted"
    EXPIRED = "expired"
    WITHHELD = "withheld"
    RUNNING = "running"


@dataclass(frozen=True)
class Refusal:
    why: Unplayable
    when: datetime | None  # when it was deleted, or its retention ended


_RUNNING = (RecordingState.ASKING, RecordingState.RECORDING, RecordingState.PAUSED)


def refusal(row: Recording, at: datetime) -> Refusal | None:
    """None when the recording may be played at `at`; else why not."""
    if row.deleted_at is not None:
        why = {"retention": Unplayable.DELETED_RETENTION,
               "withdrawn": Unplayable.DELETED_WITHDRAWN}.get(row.deleted_reason,
                                                             Unplayable.DELETED)
        return Refusal(why, row.deleted_at)
    if row.state in _RUNNING:
        return Refusal(Unplayable.RUNNING, None)
    if row.retention_until <= at:
        return Refusal(Unplayable.EXPIRED, row.retention_until)
    if row.stopped_reason == "withdrawn" and row.wording_version != KEEP_VERSION:
        return Refusal(Unplayable.WITHHELD, row.stopped_at)
    return None


_SAYS = {
    Unplayable.DELETED_RETENTION: N_("This recording was deleted on {when}, when the time it "
                                     "could be kept ended."),
    Unplayable.DELETED_WITHDRAWN: N_("This recording was deleted on {when}, because someone in "
                                     "the call stopped the recording."),
    Unplayable.DELETED: N_("This recording was deleted on {when}."),
    Unplayable.EXPIRED: N_("The time this recording could be kept ended on {when}. It can no "
                           "longer be played and will be deleted shortly."),
    Unplayable.WITHHELD: N_("Someone in the call stopped this recording, and nobody agreed to "
                            "keep what was recorded before that, so it cannot be played. It "
                            "is being deleted."),
    Unplayable.RUNNING: N_("This recording is still running. It can be played once it has "
                           "stopped."),
}


def refusal_error(found: Refusal, when: str) -> AppError:
    """The refusal as the error a page or the media URL answers with (410, or 409)."""
    kind: type[AppError] = Conflict if found.why is Unplayable.RUNNING else Gone
    return kind(_SAYS[found.why], when=when) if "{when}" in _SAYS[found.why] \
        else kind(_SAYS[found.why])


def ensure_playable(row: Recording, at: datetime, zone: ZoneInfo) -> None:
    """Raise the refusal (410 or 409, dates shown in `zone`) unless it may be played."""
    found = refusal(row, at)
    if found is not None:
        raise refusal_error(found, found.when.astimezone(zone).strftime("%d %b %Y %H:%M")
                            if found.when else "")
