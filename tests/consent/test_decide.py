"""The "may we record now?" function: tables of cases, and the invariant as a property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import (
    RECORDING,
    ConsentEvent,
    ConsentKind,
    RecordingRequest,
    Verdict,
    Why,
    current_consent,
    decide,
)
from consent.ledger import Wording
from consent.wording import KEEP_VERSION, VERSION, render

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SESSION = 7
REQ = RecordingRequest(id=1, call_session_id=SESSION, purpose=RECORDING,
                       wording_version=VERSION, requested_by=1, requested_at=T0)
WORDING = Wording(VERSION, "en", "a" * 64)
G, D, W = ConsentKind.GIVEN, ConsentKind.DECLINED, ConsentKind.WITHDRAWN


def ev(seq: int, who: int, kind: ConsentKind, *, request: int = 1, session: int = SESSION,
       purpose: str = RECORDING, version: str = VERSION) -> ConsentEvent:
    return ConsentEvent(seq=seq, participant_id=who, call_session_id=session, request_id=request,
                        purpose=purpose, kind=kind, wording=Wording(version, "en", "a" * 64),
                        at=T0 + timedelta(seconds=seq))


CASES = [
    # name, ledger, present, allowed, verdict, why, missing
    # --- nothing asked, or not allowed
    ("no request", None, [], {1, 2}, True, Verdict.OFF, Why.NO_REQUEST, set()),
    ("policy forbids", REQ, [ev(1, 1, G), ev(2, 2, G)], {1, 2}, False, Verdict.OFF,
     Why.NOT_ALLOWED, set()),
    # --- waiting for people
    ("nobody answered", REQ, [], {1, 2}, True, Verdict.WAIT, Why.AWAITING, {1, 2}),
    ("one of two", REQ, [ev(1, 1, G)], {1, 2}, True, Verdict.WAIT, Why.AWAITING, {2}),
    ("nobody present", REQ, [ev(1, 1, G)], set(), True, Verdict.WAIT, Why.NOBODY_PRESENT, set()),
    ("late joiner pauses", REQ, [ev(1, 1, G), ev(2, 2, G)], {1, 2, 3}, True, Verdict.WAIT,
     Why.AWAITING, {3}),
    # --- consents that do not count
    ("another session's yes", REQ, [ev(1, 1, G), ev(2, 2, G, session=8)], {1, 2}, True,
     Verdict.WAIT, Why.AWAITING, {2}),
    ("another request's yes", REQ, [ev(1, 1, G), ev(2, 2, G, request=2)], {1, 2}, True,
     Verdict.WAIT, Why.AWAITING, {2}),
    ("another purpose's yes", REQ, [ev(1, 1, G), ev(2, 2, G, purpose="research")], {1, 2},
     True, Verdict.WAIT, Why.AWAITING, {2}),
    ("old wording's yes", REQ, [ev(1, 1, G), ev(2, 2, G, version="recording.2019")], {1, 2},
     True, Verdict.WAIT, Why.AWAITING, {2}),
    # --- everyone said yes
    ("two yes", REQ, [ev(1, 1, G), ev(2, 2, G)], {1, 2}, True, Verdict.RECORD, Why.ALL_GIVEN,
     set()),
    ("three yes", REQ, [ev(1, 1, G), ev(2, 2, G), ev(3, 3, G)], {1, 2, 3}, True,
     Verdict.RECORD, Why.ALL_GIVEN, set()),
    ("absent person's yes is irrelevant", REQ, [ev(1, 1, G), ev(2, 2, G)], {1}, True,
     Verdict.RECORD, Why.ALL_GIVEN, set()),
    # --- no and withdrawal end the request
    ("one no", REQ, [ev(1, 1, G), ev(2, 2, D)], {1, 2}, True, Verdict.STOP, Why.DECLINED,
     set()),
    ("withdrawn after yes", REQ, [ev(1, 1, G), ev(2, 2, G), ev(3, 2, W)], {1, 2}, True,
     Verdict.STOP, Why.WITHDRAWN, set()),
    ("yes again after withdrawing does not revive", REQ,
     [ev(1, 1, G), ev(2, 2, G), ev(3, 2, W), ev(4, 2, G)], {1, 2}, True, Verdict.STOP,
     Why.WITHDRAWN, set()),
    ("withdrawal by someone who left still stops", REQ,
     [ev(1, 1, G), ev(2, 2, G), ev(3, 3, W)], {1, 2}, True, Verdict.STOP, Why.WITHDRAWN, set()),
    ("another request's withdrawal is irrelevant", REQ,
     [ev(1, 1, G), ev(2, 2, G), ev(3, 2, W, request=9)], {1, 2}, True, Verdict.RECORD,
     Why.ALL_GIVEN, set()),
    ("ledger order, not list order", REQ, [ev(2, 2, G), ev(1, 1, G)], {1, 2}, True,
     Verdict.RECORD, Why.ALL_GIVEN, set()),
]


@pytest.mark.parametrize(("name", "request_", "ledger", "present", "allowed", "verdict", "why",
                          "missing"), CASES, ids=[c[0] for c in CASES])
def test_decide(name, request_, ledger, present, allowed, verdict, why, missing) -> None:
    decision = decide(ledger, request_, frozenset(present), allowed=allowed)
    assert (decision.verdict, decision.why, set(decision.missing)) == (verdict, why, missing)
    assert decision.record is (verdict is Verdict.RECORD)


def test_refusal_names_who() -> None:
    decision = decide([ev(1, 1, G), ev(2, 3, D)], REQ, frozenset({1, 3}), allowed=True)
    assert decision.refused_by == {3}


def test_current_consent_is_the_latest_word() -> None:
    assert current_consent([ev(1, 1, G), ev(2, 1, W), ev(3, 2, G)], REQ) == {1: W, 2: G}


# --- the invariant ----------------------------------------------------------------------------

people = st.integers(min_value=1, max_value=5)
events = st.lists(st.tuples(people, st.sampled_from(list(ConsentKind)),
                            st.sampled_from([1, 1, 1, 2]), st.sampled_from([SESSION, SESSION, 8]),
                            st.sampled_from([VERSION, VERSION, "old"])), max_size=14)


@settings(max_examples=400, deadline=None)
@given(raw=events, present=st.frozensets(people, max_size=5), allowed=st.booleans())
def test_never_records_while_anyone_present_lacks_a_current_yes(raw, present, allowed) -> None:
    ledger = [ev(i, who, kind, request=r, session=s, version=v)
              for i, (who, kind, r, s, v) in enumerate(raw, start=1)]
    decision = decide(ledger, REQ, present, allowed=allowed)
    # Independently: the last word of each person on exactly this request.
    last: dict[int, ConsentKind] = {}
    for e in ledger:
        if (e.request_id, e.call_session_id, e.wording.version) == (1, SESSION, VERSION):
            last[e.participant_id] = e.kind
    if any(last.get(p) is not ConsentKind.GIVEN for p in present) or not present:
        assert decision.verdict is not Verdict.RECORD
    if decision.record:
        assert allowed and present
        assert all(last[p] is ConsentKind.GIVEN for p in present)
        assert ConsentKind.WITHDRAWN not in last.values()
        assert ConsentKind.DECLINED not in last.values()


@given(raw=events, present=st.frozensets(people, max_size=5))
def test_nothing_records_without_a_request(raw, present) -> None:
    ledger = [ev(i, who, kind) for i, (who, kind, *_rest) in enumerate(raw, start=1)]
    assert decide(ledger, None, present, allowed=True).verdict is Verdict.OFF


# --- the wording ------------------------------------------------------------------------------

def test_wording_hash_depends_on_every_word_and_the_language() -> None:
    english = render("en", 30, lambda s: s)
    assert english.paragraphs[3].startswith("How long it is kept: 30 days")
    assert len(english.sha256) == 64
    assert render("en", 30, lambda s: s).sha256 == english.sha256
    assert render("en", 31, lambda s: s).sha256 != english.sha256
    assert render("cy", 30, lambda s: s).sha256 != english.sha256
    assert render("en", 30, lambda s: s.replace("Why", "Because")).sha256 != english.sha256


def test_a_policy_that_keeps_after_a_withdrawal_says_so_before_anyone_agrees() -> None:
    discard = render("en", 30, lambda s: s)
    keep = render("en", 30, lambda s: s, keep_on_withdrawal=True)
    assert not any("kept" in p and "stops" in p for p in discard.paragraphs)
    assert keep.paragraphs[:-1] == discard.paragraphs
    assert keep.paragraphs[-1] == ("If anyone stops the recording, what was recorded until "
                                   "then is kept for 30 days, not deleted at once.")
    assert (keep.version, discard.version) == (KEEP_VERSION, VERSION)
    assert keep.sha256 != discard.sha256
