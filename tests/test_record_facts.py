"""The record's facts from plain events: attendance, modality, lateness, drops (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.records.facts import Event, Person, Session, attendance, presences, work_out

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DOCTOR, CLIENT = Person(1, "practitioner", "Pat"), Person(2, "client", "Casey")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(who: Person, kind: str, minute: float, **detail: object) -> Event:
    return Event(who.id, kind, at(minute), 1, dict(detail))


START = [ev(DOCTOR, "started", 0), ev(DOCTOR, "joined", 0)]


@pytest.mark.parametrize(("events", "expected"), [
    # --- never came
    ([], "failed_to_attend"),
    # --- came but never let in
    ([ev(CLIENT, "joined", 1), ev(CLIENT, "denied", 3)], "cancelled"),
    ([ev(CLIENT, "joined", 1), ev(CLIENT, "left", 3)], "cancelled"),
    ([ev(CLIENT, "joined", 1), ev(CLIENT, "disconnected", 3)], "technical_failure"),
    # --- let in
    ([ev(CLIENT, "joined", 1), ev(CLIENT, "admitted", 2), ev(CLIENT, "left", 30)], "attended"),
    # dropped for good one minute after being let in: technical failure
    ([ev(CLIENT, "joined", 1), ev(CLIENT, "admitted", 2), ev(CLIENT, "disconnected", 3)],
     "technical_failure"),
    # dropped for good after ten minutes: a contact took place
    ([ev(CLIENT, "joined", 1), ev(CLIENT, "admitted", 2), ev(CLIENT, "disconnected", 12)],
     "attended"),
    # dropped early but came back
    ([ev(CLIENT, "joined", 1), ev(CLIENT, "admitted", 2), ev(CLIENT, "disconnected", 3),
      ev(CLIENT, "reconnected", 4), ev(CLIENT, "left", 5)], "attended"),
])
def test_attendance(events, expected):
    facts = work_out([DOCTOR, CLIENT], [Session(1, T0, at(40))], START + events)
    assert facts.attendance.value == expected


@pytest.mark.parametrize(("events", "modality"), [
    # --- camera on, off, or mostly off
    ([ev(CLIENT, "joined", 0), ev(CLIENT, "admitted", 0)], "video"),
    ([ev(CLIENT, "joined", 0), ev(CLIENT, "media", 0, audio=True, video=False),
      ev(CLIENT, "admitted", 0)], "audio"),
    ([ev(CLIENT, "joined", 0), ev(CLIENT, "admitted", 0),
      ev(CLIENT, "media", 10, audio=True, video=False)], "audio"),
    ([ev(CLIENT, "joined", 0), ev(CLIENT, "admitted", 0),
      ev(CLIENT, "media", 30, audio=True, video=False)], "video"),
    # --- nobody in the call with the client
    ([], "none"),
])
def test_modality(events, modality):
    assert work_out([DOCTOR, CLIENT], [Session(1, T0, at(40))], START + events).modality \
        == modality


def test_lateness_early_leave_drops_and_time_in_call():
    events = START + [ev(CLIENT, "joined", 8), ev(CLIENT, "admitted", 9),
                      ev(CLIENT, "disconnected", 15), ev(CLIENT, "reconnected", 16),
                      ev(CLIENT, "left", 20), ev(CLIENT, "disconnected", 20),
                      ev(DOCTOR, "ended", 25)]
    (doctor, client) = presences([DOCTOR, CLIENT], events, at(25))
    out = client.as_json(T0, at(30))
    assert (out["late"], out["late_minutes"], out["left_early"]) == (True, 8, True)
    assert (out["dropped_connections"], out["reconnects"]) == (1, 1)
    assert out["minutes_in_call"] == 10.0  # 9→15 and 16→20
    assert out["how_left"] == "left" and out["left_at"] == "2026-11-23T10:20:00.000Z"
    assert doctor.as_json(T0, at(30))["how_left"] == "ended"


def test_statuses_and_actual_times():
    sessions = [Session(1, T0, at(25))]
    base = START + [ev(CLIENT, "joined", 2), ev(CLIENT, "admitted", 3)]
    assert work_out([DOCTOR, CLIENT], [], []).status == "not_held"
    facts = work_out([DOCTOR, CLIENT], sessions, base + [ev(DOCTOR, "ended", 25)])
    assert (facts.status, facts.actual_start, facts.actual_end) == ("ended", at(3), at(25))
    left = work_out([DOCTOR, CLIENT], sessions,
                    base + [ev(DOCTOR, "ended", 25, reason="everyone left")])
    assert left.status == "everyone_left"
    cut = work_out([DOCTOR, CLIENT], sessions, base + [ev(CLIENT, "interrupted", 25)])
    assert cut.status == "interrupted"
    assert attendance(None).value == "failed_to_attend"
