"""Property: nothing lets a remote session in for a client never seen face to face.

Whatever the contacts (remote of every kind, face-to-face ones that were missed, cancelled or
are dated in the future), approvals (valid or not), checklist answers and policy tuning, a
remote session for a client with no attended face-to-face contact is never allowed while
rule 1 is on.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    Approval,
    ChecklistAnswer,
    ChecklistError,
    ChecklistRole,
    ClientFacts,
    ContactFact,
    ContactKind,
    ContactOutcome,
    Facts,
    Outcome,
    Policy,
    ProposedSession,
    RiskOutcome,
    RoshLevel,
    SafeguardingFlag,
    decide,
)
from policies.policy import (
    ApprovalRule,
    Checklists,
    InPersonFirst,
    LastFaceToFace,
    RemoteShare,
    RiskRule,
)

from .factories import CLIENT, DEFAULT, NOW

PEOPLE = st.sampled_from([10, 11, 20, 21])
WHEN = st.integers(min_value=-5 * 24, max_value=3650 * 24).map(lambda h: NOW - timedelta(hours=h))


def not_attended_face_to_face() -> st.SearchStrategy[ContactFact]:
    """Any contact that is not an attended face-to-face one recorded by now."""
    remote = st.builds(ContactFact, kind=st.sampled_from([ContactKind.VIDEO, ContactKind.AUDIO,
                                                          ContactKind.PHONE]),
                       happened_at=WHEN, practitioner_id=PEOPLE,
                       outcome=st.sampled_from(ContactOutcome))
    missed = st.builds(ContactFact, kind=st.just(ContactKind.FACE_TO_FACE), happened_at=WHEN,
                       practitioner_id=PEOPLE,
                       outcome=st.sampled_from([o for o in ContactOutcome
                                                if o is not ContactOutcome.ATTENDED]))
    future = st.builds(ContactFact, kind=st.just(ContactKind.FACE_TO_FACE),
                       happened_at=st.integers(1, 1000).map(lambda m: NOW + timedelta(minutes=m)),
                       practitioner_id=PEOPLE, outcome=st.just(ContactOutcome.ATTENDED))
    return st.one_of(remote, missed, future)


@st.composite
def approvals(draw: st.DrawFn) -> Approval:
    granted = NOW - timedelta(hours=draw(st.integers(-48, 24 * 400)))
    return Approval(client_id=draw(st.sampled_from([CLIENT, CLIENT, 2])),
                    supervisor_id=draw(PEOPLE),
                    rationale=draw(st.sampled_from(["", "Works nights; reviewed weekly."])),
                    granted_at=granted,
                    expires_at=granted + timedelta(hours=draw(st.integers(1, 24 * 400))),
                    revoked_at=draw(st.sampled_from([None, NOW])))


def answers() -> st.SearchStrategy[tuple[ChecklistAnswer, ...] | None]:
    items = DEFAULT.checklists.items
    one = st.builds(ChecklistAnswer, role=st.sampled_from(ChecklistRole),
                    item_id=st.sampled_from([i.id for i in items] + ["made.up"]),
                    answer=st.booleans())
    # Often a complete, safe set of answers: the most tempting case.
    safe = st.just(tuple(ChecklistAnswer(i.role, i.id, i.safe_answer) for i in items
                         if i.role in (ChecklistRole.CLIENT,
                                       ChecklistRole.PRACTITIONER_PREMISES)))
    return st.one_of(st.none(), safe, st.lists(one, max_size=12).map(tuple))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """The default policy with everything but rule 1 tuned, switched off or made lenient."""
    risk_outcome = st.sampled_from(RiskOutcome)
    risk = dataclasses.replace(DEFAULT.risk, **{
        name: RiskRule(enabled=draw(st.booleans()), outcome=draw(risk_outcome))
        for name in ("very_high_rosh", "national_security", "youth", "domestic_abuse")})
    return dataclasses.replace(
        DEFAULT,
        in_person_first=InPersonFirst(min_face_to_face=draw(st.integers(1, 3)),
                                      with_current_practitioner=draw(st.booleans())),
        last_face_to_face=LastFaceToFace(enabled=draw(st.booleans()),
                                         max_days=draw(st.integers(1, 3660))),
        remote_share=RemoteShare(enabled=draw(st.booleans()),
                                 max_percent=draw(st.integers(0, 100))),
        risk=risk,
        approval=ApprovalRule(enabled=draw(st.booleans()),
                              max_validity_days=draw(st.integers(1, 3660))),
        checklists=Checklists(enabled=draw(st.booleans()), items=DEFAULT.checklists.items),
    )


clients = st.builds(
    ClientFacts, client_id=st.just(CLIENT), practitioner_id=PEOPLE,
    rosh_level=st.sampled_from(RoshLevel), mappa_level=st.sampled_from([None, 1, 2, 3]),
    safeguarding_flags=st.frozensets(st.sampled_from(SafeguardingFlag)), youth=st.booleans(),
    allocated_at=st.one_of(st.none(), WHEN.filter(lambda t: t <= NOW)))

sessions = st.builds(
    ProposedSession, remote=st.just(True),
    starts_at=st.integers(0, 60 * 24 * 30).map(lambda m: NOW + timedelta(minutes=m)),
    practitioner_id=PEOPLE, practitioner_at_home=st.booleans(), with_interpreter=st.booleans())


@settings(max_examples=200, deadline=None)
@given(who=clients, session=sessions,
       contacts=st.lists(not_attended_face_to_face(), max_size=40).map(tuple),
       granted=st.lists(approvals(), max_size=4).map(tuple), answered=answers(),
       policy=policies())
def test_never_remote_without_face_to_face(who: ClientFacts, session: ProposedSession,
                                           contacts: tuple[ContactFact, ...],
                                           granted: tuple[Approval, ...],
                                           answered: tuple[ChecklistAnswer, ...] | None,
                                           policy: Policy) -> None:
    facts = Facts(client=who, session=session, now=NOW, contacts=contacts, approvals=granted,
                  checklist_answers=answered)
    try:
        decision = decide(facts, policy)
    except ChecklistError:
        return  # refused outright: not admitted either
    assert decision.outcome is Outcome.BLOCKED
    assert "in_person_first" in decision.rule_ids


@settings(max_examples=100, deadline=None)
@given(who=clients, session=sessions,
       contacts=st.lists(st.builds(ContactFact, kind=st.sampled_from(ContactKind),
                                   happened_at=WHEN, practitioner_id=PEOPLE,
                                   outcome=st.sampled_from(ContactOutcome)),
                         max_size=40).map(tuple),
       granted=st.lists(approvals(), max_size=3).map(tuple))
def test_outcome_is_the_strongest_reason_and_approval_only_lifts_needs_approval(
        who: ClientFacts, session: ProposedSession, contacts: tuple[ContactFact, ...],
        granted: tuple[Approval, ...]) -> None:
    facts = Facts(client=who, session=session, now=NOW, contacts=contacts, approvals=granted)
    decision = decide(facts, DEFAULT)
    without = decide(dataclasses.replace(facts, approvals=()), DEFAULT)
    strongest = max((r.outcome for r in decision.reasons), key=lambda o: o.rank,
                    default=Outcome.ALLOWED)
    assert without.outcome is strongest
    if strongest is Outcome.NEEDS_APPROVAL and decision.approval is not None:
        assert decision.outcome is Outcome.ALLOWED
    else:
        assert decision.outcome is strongest
    assert decision.reasons == without.reasons  # approvals never change the reasons


def test_policy_strategy_is_not_vacuous() -> None:
    """Sanity: with one attended face-to-face contact the same machinery can allow."""
    facts = Facts(client=ClientFacts(client_id=CLIENT, practitioner_id=10,
                                     rosh_level=RoshLevel.LOW),
                  session=ProposedSession(remote=True, starts_at=NOW, practitioner_id=10),
                  now=NOW,
                  contacts=(ContactFact(ContactKind.FACE_TO_FACE, NOW - timedelta(days=1), 10),))
    assert decide(facts, DEFAULT).allowed
