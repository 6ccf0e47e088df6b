"""The consent ledger's vocabulary: frozen, I/O-free records of who agreed to what, and when.

The store keeps one `consent_event` row per event and never updates or deletes one; these
dataclasses are what the decision function reads, built from those rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

RECORDING = "recording"  # the only purpose so far; the ledger is keyed by purpose regardless


class ConsentKind(enum.StrEnum):
    """What a person said."""

    GIVEN = "given"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Wording:
    """The exact wording a person was shown: its version, language and SHA-256."""

    version: str
    language: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One entry of the append-only ledger; `seq` orders entries (the row id)."""

    seq: int
    participant_id: int
    call_session_id: int
    request_id: int
    purpose: str
    kind: ConsentKind
    wording: Wording
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordingRequest:
    """The practitioner's request to record this session, and the wording version it asks with."""

    id: int
    call_session_id: int
    purpose: str
    wording_version: str
    requested_by: int
    requested_at: datetime
