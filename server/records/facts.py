"""The contact record of a remote appointment, worked out from what the store kept.

Pure functions: the stored participant events, sessions and people go in, the record's
facts (attendance, modality, timings, each person's arrival and departure) come out. Nothing
here reads a clock or a database, so every rule is tested with plain tables
(`tests/test_record_facts.py`). `server.records` reads the rows and writes the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from policies.facts import ContactKind, ContactOutcome

# Arriving more than this after the scheduled start counts as late.
LATE_AFTER = timedelta(minutes=5)
# An admitted client whose connection dropped for good within this time of being let in
# had a technical failure rather than a contact.
TECHNICAL_FAILURE_WITHIN = timedelta(minutes=2)

# Events that put a person out of the room (until they join again).
OUT = frozenset({"left", "ended", "removed", "denied", "interrupted"})


@dataclass(frozen=True, slots=True)
class Event:
    participant_id: int
    kind: str
    at: datetime
    session_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    role: str
    name: str


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    started_at: datetime
    ended_at: datetime | None


@dataclass(slots=True)
class Presence:
    """One person's part in the appointment, read from their events in order."""

    person: Person
    joined_at: datetime | None = None
    admitted_at: datetime | None = None
    left_at: datetime | None = None
    how_left: str | None = None
    drops: int = 0
    reconnects: int = 0
    in_call_seconds: float = 0.0
    video_seconds: float = 0.0
    # Internal walk state.
    _inside: bool = False
    _admitted: bool = False
    _connected: bool = False
    _since: datetime | None = None
    _camera: bool = True

    def _stop_clock(self, at: datetime) -> None:
        if self._since is not None:
            seconds = max(0.0, (at - self._since).total_seconds())
            self.in_call_seconds += seconds
            self.video_seconds += seconds if self._camera else 0.0
            self._since = None

    def _start_clock(self, at: datetime) -> None:
        if self._admitted and self._connected and self._since is None:
            self._since = at

    def apply(self, event: Event) -> None:
        """Advance this person's state by one of their events."""
        kind, at = event.kind, event.at
        if kind == "joined" or (kind == "reconnected" and not self._inside):
            self.joined_at = self.joined_at or at
            self._inside, self._connected = True, True
            self.left_at = self.how_left = None
            self._start_clock(at)
        elif kind == "reconnected":
            if not self._connected:
                self.reconnects += 1
                self.left_at = self.how_left = None
            self._connected = True
            self._start_clock(at)
        elif kind in ("admitted", "started"):
            self.admitted_at = self.admitted_at or at
            self._admitted = True
            self._start_clock(at)
        elif kind == "disconnected":
            if self._inside and self._connected:
                self.drops += 1
                self.left_at, self.how_left = at, "connection lost"
            self._connected = False
            self._stop_clock(at)
        elif kind == "media":
            # Split the time in the call at each camera change.
            running = self._since is not None
            self._stop_clock(at)
            self._camera = bool(event.detail.get("video", True))
            if running:
                self._start_clock(at)
        elif kind in OUT:
            if self._inside:
                self.left_at, self.how_left = at, kind
            self._inside = self._admitted = False
            self._stop_clock(at)

    def finish(self, at: datetime | None) -> None:
        """The appointment's last session ended at `at`: stop the clock."""
        if at is not None:
            self._stop_clock(at)
        if self._inside and self._connected and at is not None:
            self.left_at, self.how_left = at, "ended"

    @property
    def video(self) -> bool:
        """Their camera was on for most of their time in the call."""
        return self.in_call_seconds > 0 and self.video_seconds * 2 >= self.in_call_seconds

    @property
    def dropped_at_end(self) -> bool:
        return self.how_left == "connection lost"

    def as_json(self, scheduled_start: datetime, scheduled_end: datetime) -> dict[str, Any]:
        late = (self.joined_at is not None and self.person.role != "practitioner"
                and self.joined_at - scheduled_start > LATE_AFTER)
        left_early = (self.left_at is not None and self.how_left in ("left", "connection lost")
                      and self.left_at < scheduled_end)
        return {
            "id": self.person.id, "role": self.person.role, "name": self.person.name,
            "joined_at": iso(self.joined_at), "admitted_at": iso(self.admitted_at),
            "left_at": iso(self.left_at), "how_left": self.how_left,
            "late": late, "late_minutes": _late_minutes(self.joined_at, scheduled_start),
            "left_early": left_early, "dropped_connections": self.drops,
            "reconnects": self.reconnects, "minutes_in_call": round(self.in_call_seconds / 60, 1),
            "video": self.video,
        }


def iso(moment: datetime | None) -> str | None:
    """UTC, to the millisecond, with a Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _late_minutes(joined: datetime | None, start: datetime) -> int:
    if joined is None or joined <= start:
        return 0
    return int((joined - start).total_seconds() // 60)


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What the record says, before the practitioner adds anything."""

    status: str
    attendance: ContactOutcome
    modality: str
    actual_start: datetime | None
    actual_end: datetime | None
    people: tuple[Presence, ...]

    @property
    def contact_kind(self) -> ContactKind:
        return ContactKind.AUDIO if self.modality == "audio" else ContactKind.VIDEO


def presences(people: Sequence[Person], events: Sequence[Event],
              end: datetime | None) -> tuple[Presence, ...]:
    """Each person's arrival, admission, departure, drops and time in the call."""
    by_id = {p.id: Presence(p) for p in people}
    for event in events:
        presence = by_id.get(event.participant_id)
        if presence is not None:
            presence.apply(event)
    for presence in by_id.values():
        presence.finish(end)
    return tuple(by_id.values())


def attendance(client: Presence | None) -> ContactOutcome:
    """Attended, failed to attend, technical failure, or cancelled (let in never)."""
    if client is None or client.joined_at is None:
        return ContactOutcome.FAILED_TO_ATTEND
    if client.admitted_at is None:
        # They came but the session never took place with them: a connection that failed
        # in the waiting room is technical; otherwise it was turned away or not let in.
        return (ContactOutcome.TECHNICAL_FAILURE if client.dropped_at_end
                else ContactOutcome.CANCELLED)
    if client.dropped_at_end and client.in_call_seconds < TECHNICAL_FAILURE_WITHIN.total_seconds():
        return ContactOutcome.TECHNICAL_FAILURE
    return ContactOutcome.ATTENDED


def status(sessions: Sequence[Session], events: Sequence[Event]) -> str:
    """How the appointment's last session ended."""
    if not sessions:
        return "not_held"
    last = sessions[-1].id
    kinds = [e for e in events if e.session_id == last]
    if any(e.kind == "interrupted" for e in kinds):
        return "interrupted"
    reasons = {str(e.detail.get("reason")) for e in kinds if e.kind == "ended"}
    if "abandoned" in reasons:
        return "abandoned"
    if "everyone left" in reasons:
        return "everyone_left"
    return "ended"


def work_out(people: Sequence[Person], sessions: Sequence[Session],
             events: Sequence[Event]) -> RecordFacts:
    """The record's facts from the appointment's sessions, people and events (in order)."""
    end = max((s.ended_at for s in sessions if s.ended_at is not None), default=None)
    found = presences(people, events, end)
    client = next((p for p in found if p.person.role == "client"), None)
    outcome = attendance(client)
    admitted_client = client is not None and client.admitted_at is not None
    modality = "none"
    if admitted_client:
        assert client is not None
        modality = "video" if client.video else "audio"
    start = client.admitted_at if admitted_client and client is not None else (
        sessions[0].started_at if sessions else None)
    return RecordFacts(status=status(sessions, events), attendance=outcome, modality=modality,
                       actual_start=start, actual_end=end, people=found)
