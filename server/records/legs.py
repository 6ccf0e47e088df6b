"""Legs in the contact record (issue #13): which pairs could not reach each other, when, for
how long, and whether they recovered. Pure: the `leg_failed` and `leg_recovered` events
(signalling/legs.py) in, one entry per failure out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from server.records.facts import Event, Person, iso


def leg_failures(people: Sequence[Person], events: Sequence[Event],
                 end: datetime | None) -> list[dict[str, Any]]:
    """Each failure of a leg, in order; one still open at the end did not recover."""
    by_id = {p.id: p for p in people}
    open_: dict[tuple[int, int], dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for e in events:
        if e.kind not in ("leg_failed", "leg_recovered"):
            continue
        a, b = int(e.detail.get("a", 0)), int(e.detail.get("b", 0))
        key = (a, b)
        if e.kind == "leg_failed" and key not in open_:
            open_[key] = {"a": a, "b": b, "roles": sorted(
                by_id[x].role for x in key if x in by_id),
                "names": [by_id[x].name for x in key if x in by_id], "failed_at": e.at}
        elif e.kind == "leg_recovered" and key in open_:
            done.append(_closed(open_.pop(key), e.at, True))
    done += [_closed(leg, end, False) for leg in open_.values()]
    return sorted(done, key=lambda leg: str(leg["failed_at"]))


def _closed(leg: dict[str, Any], at: datetime | None, recovered: bool) -> dict[str, Any]:
    started: datetime = leg["failed_at"]
    seconds = round((at - started).total_seconds(), 1) if at is not None else None
    return {**leg, "failed_at": iso(started), "recovered": recovered,
            "recovered_at": iso(at) if recovered else None, "seconds": seconds}


def interpreter_could_not_reach_client(failures: Sequence[dict[str, Any]]) -> bool:
    """The client–interpreter leg failed and never came back: the appointment could not be
    held as planned, a technical failure."""
    return any(leg["roles"] == ["client", "interpreter"] and not leg["recovered"]
               for leg in failures)
