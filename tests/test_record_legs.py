"""Legs in the contact record (pure): which pairs failed, when, how long, recovered or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.records.facts import Event, Person
from server.records.legs import interpreter_could_not_reach_client, leg_failures

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DOCTOR, CLIENT, INTERP = (Person(1, "practitioner", "Pat"), Person(2, "client", "Casey"),
                          Person(3, "interpreter", "Ines"))
PEOPLE = (DOCTOR, CLIENT, INTERP)


def ev(who: Person, kind: str, second: float, a: int, b: int, **more: object) -> Event:
    return Event(who.id, kind, T0 + timedelta(seconds=second), 1, {"a": a, "b": b, **more})


def test_a_failure_that_recovered_says_when_and_how_long() -> None:
    events = [ev(CLIENT, "leg_failed", 10, 2, 3), ev(INTERP, "leg_recovered", 22.5, 2, 3)]
    [leg] = leg_failures(PEOPLE, events, T0 + timedelta(minutes=30))
    assert leg["names"] == ["Casey", "Ines"] and leg["roles"] == ["client", "interpreter"]
    assert leg["failed_at"] == "2026-11-23T10:00:10.000Z"
    assert leg["recovered"] and leg["recovered_at"] == "2026-11-23T10:00:22.500Z"
    assert leg["seconds"] == 12.5


def test_a_failure_open_at_the_end_did_not_recover() -> None:
    events = [ev(DOCTOR, "leg_failed", 60, 1, 2)]
    [leg] = leg_failures(PEOPLE, events, T0 + timedelta(minutes=2))
    assert not leg["recovered"] and leg["recovered_at"] is None and leg["seconds"] == 60.0


@pytest.mark.parametrize(("events", "technical"), [
    # --- the interpreter could not reach the client: a technical failure
    ([ev(CLIENT, "leg_failed", 5, 2, 3)], True),
    # --- it came back: the appointment was held
    ([ev(CLIENT, "leg_failed", 5, 2, 3), ev(CLIENT, "leg_recovered", 9, 2, 3)], False),
    # --- another leg: the practitioner and the client still spoke through the interpreter
    ([ev(DOCTOR, "leg_failed", 5, 1, 3)], False),
    ([], False),
])
def test_interpreter_could_not_reach_the_client(events: list[Event], technical: bool) -> None:
    failures = leg_failures(PEOPLE, events, T0 + timedelta(minutes=30))
    assert interpreter_could_not_reach_client(failures) is technical
