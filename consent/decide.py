"""May recording run now? A pure function of the ledger, the request and who is present.

No I/O and no clock: the signalling layer reads the facts, calls `decide`, and starts or stops
the recorder from the answer. The one invariant everything else leans on: if any person who is
present (admitted and connected) lacks a current "given" for this very request, shown the
wording of this request's version, the verdict is never `RECORD`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from consent.ledger import ConsentEvent, ConsentKind, RecordingRequest


class Verdict(enum.StrEnum):
    """What the recorder should do now."""

    OFF = "off"  # nothing asked (or recording not allowed): never record
    WAIT = "wait"  # asked; someone present has not (yet) said yes: do not record
    RECORD = "record"  # everyone present said yes to this request
    STOP = "stop"  # someone declined or withdrew: this request is over


class Why(enum.StrEnum):
    NO_REQUEST = "no_request"
    NOT_ALLOWED = "not_allowed"
    NOBODY_PRESENT = "nobody_present"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    AWAITING = "awaiting"
    ALL_GIVEN = "all_given"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    why: Why
    # Present people without a current "given" (the ones the recording waits for).
    missing: frozenset[int] = frozenset()
    # Who said no or withdrew (ends the request).
    refused_by: frozenset[int] = frozenset()

    @property
    def record(self) -> bool:
        return self.verdict is Verdict.RECORD


def _relevant(ledger: Iterable[ConsentEvent], request: RecordingRequest) -> list[ConsentEvent]:
    """This request's events, in ledger order; events of other sessions or purposes never count."""
    return sorted((e for e in ledger
                   if e.request_id == request.id
                   and e.call_session_id == request.call_session_id
                   and e.purpose == request.purpose
                   and e.wording.version == request.wording_version),
                  key=lambda e: e.seq)


def current_consent(ledger: Iterable[ConsentEvent], request: RecordingRequest
                    ) -> dict[int, ConsentKind]:
    """Each person's latest word on this request."""
    latest: dict[int, ConsentKind] = {}
    for event in _relevant(ledger, request):
        latest[event.participant_id] = event.kind
    return latest


def decide(ledger: Iterable[ConsentEvent], request: RecordingRequest | None,
           present: frozenset[int], *, allowed: bool) -> Decision:
    """The verdict for `request` given the ledger and the people present now."""
    if request is None:
        return Decision(Verdict.OFF, Why.NO_REQUEST)
    if not allowed:
        return Decision(Verdict.OFF, Why.NOT_ALLOWED)
    events = _relevant(ledger, request)
    # One "no" or one withdrawal ends the request for good: asking again is a new request,
    # so nobody's earlier "yes" can be reused without their knowing.
    withdrawn = frozenset(e.participant_id for e in events if e.kind is ConsentKind.WITHDRAWN)
    declined = frozenset(e.participant_id for e in events if e.kind is ConsentKind.DECLINED)
    if withdrawn:
        return Decision(Verdict.STOP, Why.WITHDRAWN, refused_by=withdrawn | declined)
    if declined:
        return Decision(Verdict.STOP, Why.DECLINED, refused_by=declined)
    if not present:
        return Decision(Verdict.WAIT, Why.NOBODY_PRESENT)
    latest = current_consent(events, request)
    missing = frozenset(p for p in present if latest.get(p) is not ConsentKind.GIVEN)
    if missing:
        return Decision(Verdict.WAIT, Why.AWAITING, missing=missing)
    return Decision(Verdict.RECORD, Why.ALL_GIVEN)
