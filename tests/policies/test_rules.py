"""Every rule and the combinations that matter, as tables: facts in, decision out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest

import server.store.models as models
from policies import (
    ChecklistAnswer,
    ChecklistError,
    ChecklistRole,
    ContactOutcome,
    Facts,
    FactsError,
    Outcome,
    Policy,
    RiskOutcome,
    RoshLevel,
    SafeguardingFlag,
    check_checklist,
    decide,
)
from policies import facts as facts_module
from policies.policy import (
    InPersonFirst,
    LastFaceToFace,
    MappaRule,
    RemoteShare,
    RiskRule,
)

from .factories import (
    AUDIO,
    DEFAULT,
    F2F,
    NOW,
    OTHER_PRACTITIONER,
    PHONE,
    PRACTITIONER,
    SETTLED,
    VIDEO,
    all_safe,
    approval,
    client,
    contact,
    facts,
)

A = Outcome.ALLOWED
N = Outcome.NEEDS_APPROVAL
B = Outcome.BLOCKED

Tweak = Callable[[Policy], Policy]


def same(policy: Policy) -> Policy:
    return policy


def with_(**changes: object) -> Tweak:
    """Replace top-level policy sections, or risk rules given as risk_<name>."""
    def tweak(policy: Policy) -> Policy:
        risk = {k.removeprefix("risk_"): v for k, v in changes.items() if k.startswith("risk_")}
        top = {k: v for k, v in changes.items() if not k.startswith("risk_")}
        if risk:
            top["risk"] = dataclasses.replace(policy.risk, **risk)
        return dataclasses.replace(policy, **top)
    return tweak


CASES: list[tuple[str, Facts, Tweak, Outcome, set[str]]] = [
    # --- not remote: rules do not apply --------------------------------------------------
    ("in-person session, no history", facts(remote=False), same, A, set()),
    ("in-person session, very high risk",
     facts(remote=False, who=client(rosh=RoshLevel.VERY_HIGH)), same, A, set()),

    # --- rule 1: in person first ---------------------------------------------------------
    ("no contact at all", facts(), same, B, {"in_person_first", "cadence.last_face_to_face",
                                             "cadence.remote_share"}),
    ("only remote contacts", facts(contacts=(contact(VIDEO, 3), contact(PHONE, 10))), same, B,
     {"in_person_first", "cadence.last_face_to_face", "cadence.remote_share"}),
    ("face-to-face not attended",
     facts(contacts=(contact(F2F, 3, outcome=ContactOutcome.FAILED_TO_ATTEND),
                     contact(F2F, 5, outcome=ContactOutcome.CANCELLED),
                     contact(F2F, 6, outcome=ContactOutcome.RESCHEDULED))),
     same, B, {"in_person_first", "cadence.last_face_to_face", "cadence.remote_share"}),
    ("face-to-face recorded in the future does not count",
     facts(contacts=(contact(F2F, -1),)), same, B,
     {"in_person_first", "cadence.last_face_to_face", "cadence.remote_share"}),
    ("one face-to-face contact", facts(contacts=(contact(F2F, 3),)), same, A, set()),
    ("two required, one recorded", facts(contacts=(contact(F2F, 3),)),
     with_(in_person_first=InPersonFirst(min_face_to_face=2)), B, {"in_person_first"}),
    ("two required, two recorded", facts(contacts=(contact(F2F, 3), contact(F2F, 10))),
     with_(in_person_first=InPersonFirst(min_face_to_face=2)), A, set()),
    ("rule 1 switched off, no contact: cadence still asks for approval", facts(),
     with_(in_person_first=InPersonFirst(enabled=False)), N,
     {"cadence.last_face_to_face", "cadence.remote_share"}),
    ("current practitioner option: only with the previous practitioner",
     facts(contacts=(contact(F2F, 3, practitioner=OTHER_PRACTITIONER),)),
     with_(in_person_first=InPersonFirst(with_current_practitioner=True)), B,
     {"in_person_first"}),
    ("current practitioner option: met the current practitioner",
     facts(contacts=(contact(F2F, 3),)),
     with_(in_person_first=InPersonFirst(with_current_practitioner=True)), A, set()),
    ("current practitioner option: met them before they were allocated",
     facts(who=client(allocated_at=NOW - timedelta(days=5)),
           contacts=(contact(F2F, 30), contact(F2F, 3, practitioner=OTHER_PRACTITIONER))),
     with_(in_person_first=InPersonFirst(with_current_practitioner=True)), B,
     {"in_person_first"}),
    ("option off: a previous practitioner's meeting counts",
     facts(contacts=(contact(F2F, 3, practitioner=OTHER_PRACTITIONER),)), same, A, set()),
    ("approval never overrides rule 1", facts(approvals=(approval(),)), same, B,
     {"in_person_first", "cadence.last_face_to_face", "cadence.remote_share"}),

    # --- rule 2a: last face-to-face contact ----------------------------------------------
    ("last face-to-face exactly 28 days before", facts(contacts=(contact(F2F, 28),)), same, A,
     set()),
    ("last face-to-face 29 days before", facts(contacts=(contact(F2F, 29),)), same, N,
     {"cadence.last_face_to_face"}),
    ("measured from the session start, not now", facts(contacts=(contact(F2F, 20),),
                                                        starts_in_days=10), same, N,
     {"cadence.last_face_to_face"}),
    ("limit of 14 days", facts(contacts=(contact(F2F, 20),)),
     with_(last_face_to_face=LastFaceToFace(max_days=14)), N, {"cadence.last_face_to_face"}),
    ("configured as blocked", facts(contacts=(contact(F2F, 40),)),
     with_(last_face_to_face=LastFaceToFace(outcome=B)), B, {"cadence.last_face_to_face"}),
    ("switched off", facts(contacts=(contact(F2F, 40),)),
     with_(last_face_to_face=LastFaceToFace(enabled=False)), A, set()),
    ("too old, approved", facts(contacts=(contact(F2F, 40),), approvals=(approval(),)), same,
     A, {"cadence.last_face_to_face"}),
    ("too old, blocked outcome, approval does not help",
     facts(contacts=(contact(F2F, 40),), approvals=(approval(),)),
     with_(last_face_to_face=LastFaceToFace(outcome=B)), B, {"cadence.last_face_to_face"}),

    # --- rule 2b: remote share -----------------------------------------------------------
    ("one face to face then this remote: 50 %", facts(contacts=(contact(F2F, 3),)), same, A,
     set()),
    ("second remote in a row: 67 %", facts(contacts=(contact(F2F, 10), contact(VIDEO, 3))),
     same, N, {"cadence.remote_share"}),
    ("audio and phone count as remote",
     facts(contacts=(contact(F2F, 10), contact(AUDIO, 3), contact(PHONE, 5))), same, N,
     {"cadence.remote_share"}),
    ("failed remote contacts do not count",
     facts(contacts=(contact(F2F, 10),
                     contact(VIDEO, 3, outcome=ContactOutcome.TECHNICAL_FAILURE))),
     same, A, set()),
    ("remote contacts outside the window do not count",
     facts(contacts=(contact(F2F, 10), contact(VIDEO, 91), contact(VIDEO, 120))), same, A,
     set()),
    ("share limit 75 %", facts(contacts=(contact(F2F, 10), contact(VIDEO, 3))),
     with_(remote_share=RemoteShare(max_percent=75)), A, set()),
    ("share limit 0 %: no remote at all", facts(contacts=SETTLED),
     with_(remote_share=RemoteShare(max_percent=0)), N, {"cadence.remote_share"}),
    ("share limit 100 %", facts(contacts=(contact(F2F, 10), contact(VIDEO, 3), contact(VIDEO, 5))),
     with_(remote_share=RemoteShare(max_percent=100)), A, set()),
    ("share switched off", facts(contacts=(contact(F2F, 10), contact(VIDEO, 3))),
     with_(remote_share=RemoteShare(enabled=False)), A, set()),
    ("share configured as blocked", facts(contacts=(contact(F2F, 10), contact(VIDEO, 3))),
     with_(remote_share=RemoteShare(outcome=B)), B, {"cadence.remote_share"}),
    ("both cadence rules broken",
     facts(contacts=(contact(F2F, 40), contact(VIDEO, 3), contact(VIDEO, 10))), same, N,
     {"cadence.last_face_to_face", "cadence.remote_share"}),
    ("both cadence rules broken, approved",
     facts(contacts=(contact(F2F, 40), contact(VIDEO, 3), contact(VIDEO, 10)),
           approvals=(approval(),)), same, A,
     {"cadence.last_face_to_face", "cadence.remote_share"}),

    # --- rule 3: risk and safeguarding ---------------------------------------------------
    ("very high RoSH needs approval", facts(who=client(rosh=RoshLevel.VERY_HIGH),
                                            contacts=SETTLED), same, N, {"risk.very_high_rosh"}),
    ("very high RoSH, approved", facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
                                       approvals=(approval(),)), same, A,
     {"risk.very_high_rosh"}),
    ("high RoSH is not a factor", facts(who=client(rosh=RoshLevel.HIGH), contacts=SETTLED),
     same, A, set()),
    ("very high RoSH switched off", facts(who=client(rosh=RoshLevel.VERY_HIGH),
                                          contacts=SETTLED),
     with_(risk_very_high_rosh=RiskRule(enabled=False)), A, set()),
    ("very high RoSH blocked", facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
                                     approvals=(approval(),)),
     with_(risk_very_high_rosh=RiskRule(outcome=RiskOutcome.BLOCKED)), B,
     {"risk.very_high_rosh"}),
    ("MAPPA 1 is not a factor", facts(who=client(mappa=1), contacts=SETTLED), same, A, set()),
    ("MAPPA 2", facts(who=client(mappa=2), contacts=SETTLED), same, N, {"risk.mappa"}),
    ("MAPPA 3", facts(who=client(mappa=3), contacts=SETTLED), same, N, {"risk.mappa"}),
    ("MAPPA levels configured to 1",
     facts(who=client(mappa=1), contacts=SETTLED),
     with_(risk_mappa=MappaRule(levels=frozenset({1}))), N, {"risk.mappa"}),
    ("national security", facts(who=client(flags=(SafeguardingFlag.NATIONAL_SECURITY,)),
                                contacts=SETTLED), same, N, {"risk.national_security"}),
    ("youth flag, supplementing face to face", facts(who=client(youth=True), contacts=SETTLED),
     same, A, {"risk.youth"}),
    ("youth case flag, replacing face to face",
     facts(who=client(flags=(SafeguardingFlag.YOUTH_CASE,)), contacts=(contact(F2F, 40),)),
     same, N, {"risk.youth", "cadence.last_face_to_face"}),
    ("domestic abuse, supplementing", facts(who=client(flags=(SafeguardingFlag.DOMESTIC_ABUSE,)),
                                           contacts=SETTLED), same, A, {"risk.domestic_abuse"}),
    ("domestic abuse, cadence off, still only a supplement",
     facts(who=client(flags=(SafeguardingFlag.DOMESTIC_ABUSE,)), contacts=(contact(F2F, 40),)),
     with_(last_face_to_face=LastFaceToFace(enabled=False),
           remote_share=RemoteShare(enabled=False)), N, {"risk.domestic_abuse"}),
    ("domestic abuse, remote share too high even with cadence off",
     facts(who=client(flags=(SafeguardingFlag.DOMESTIC_ABUSE,)),
           contacts=(contact(F2F, 10), contact(VIDEO, 3))),
     with_(remote_share=RemoteShare(enabled=False)), N, {"risk.domestic_abuse"}),
    ("domestic abuse replacing face to face, approved",
     facts(who=client(flags=(SafeguardingFlag.DOMESTIC_ABUSE,)), contacts=(contact(F2F, 40),),
           approvals=(approval(),)), same, A,
     {"risk.domestic_abuse", "cadence.last_face_to_face"}),
    ("child protection and child in need both reported",
     facts(who=client(flags=(SafeguardingFlag.CHILD_PROTECTION, SafeguardingFlag.CHILD_IN_NEED)),
           contacts=(contact(F2F, 40),)),
     same, N, {"risk.child_protection", "risk.child_in_need", "cadence.last_face_to_face"}),
    ("sexual conviction configured as blocked",
     facts(who=client(flags=(SafeguardingFlag.SEXUAL_CONVICTION,)), contacts=SETTLED),
     with_(risk_sexual_conviction=RiskRule(outcome=RiskOutcome.BLOCKED)), B,
     {"risk.sexual_conviction"}),
    ("several factors: blocked beats needs approval",
     facts(who=client(rosh=RoshLevel.VERY_HIGH, mappa=3,
                      flags=(SafeguardingFlag.DOMESTIC_ABUSE,)), contacts=SETTLED),
     with_(risk_domestic_abuse=RiskRule(outcome=RiskOutcome.BLOCKED)), B,
     {"risk.very_high_rosh", "risk.mappa", "risk.domestic_abuse"}),
    ("risk plus no face to face: blocked by rule 1",
     facts(who=client(rosh=RoshLevel.VERY_HIGH), approvals=(approval(),)), same, B,
     {"in_person_first", "cadence.last_face_to_face", "cadence.remote_share",
      "risk.very_high_rosh"}),

    # --- rule 4: approvals ---------------------------------------------------------------
    ("expired approval", facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
                               approvals=(approval(granted_days_ago=40, valid_days=30),)),
     same, N, {"risk.very_high_rosh"}),
    ("approval not yet granted", facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
                                       approvals=(approval(granted_days_ago=-1),)),
     same, N, {"risk.very_high_rosh"}),
    ("approval expires before the session",
     facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED, starts_in_days=10,
           approvals=(approval(granted_days_ago=1, valid_days=5),)), same, N,
     {"risk.very_high_rosh"}),
    ("revoked approval", facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
                               approvals=(approval(revoked=True),)), same, N,
     {"risk.very_high_rosh"}),
    ("approval for another client", facts(who=client(rosh=RoshLevel.VERY_HIGH),
                                          contacts=SETTLED, approvals=(approval(client_id=2),)),
     same, N, {"risk.very_high_rosh"}),
    ("approval without a rationale", facts(who=client(rosh=RoshLevel.VERY_HIGH),
                                           contacts=SETTLED,
                                           approvals=(approval(rationale="  "),)),
     same, N, {"risk.very_high_rosh"}),
    ("practitioner approving their own session",
     facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
           approvals=(approval(supervisor=PRACTITIONER),)), same, N, {"risk.very_high_rosh"}),
    ("approval longer than allowed",
     facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
           approvals=(approval(valid_days=365),)), same, N, {"risk.very_high_rosh"}),
    ("one bad and one good approval", facts(who=client(rosh=RoshLevel.VERY_HIGH),
                                            contacts=SETTLED,
                                            approvals=(approval(revoked=True), approval())),
     same, A, {"risk.very_high_rosh"}),
    ("approvals switched off", facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
                                     approvals=(approval(),)),
     with_(approval=dataclasses.replace(DEFAULT.approval, enabled=False)), N,
     {"risk.very_high_rosh"}),
]


@pytest.mark.parametrize(("name", "given", "tweak", "outcome", "rules"), CASES,
                         ids=[c[0] for c in CASES])
def test_decision_table(name: str, given: Facts, tweak: Tweak, outcome: Outcome,
                        rules: set[str]) -> None:
    decision = decide(given, tweak(DEFAULT))
    assert decision.outcome is outcome, [r.text() for r in decision.reasons]
    assert decision.rule_ids == rules
    assert decision.policy_version == DEFAULT.version
    for reason in decision.reasons:
        assert reason.text() and reason.remedy_text() and reason.title


# --- rule 5: checklists at admission -------------------------------------------------------

CLIENT_ROLE = ChecklistRole.CLIENT
PREMISES = ChecklistRole.PRACTITIONER_PREMISES
HOME = ChecklistRole.PRACTITIONER_HOME
INTERPRETER = ChecklistRole.INTERPRETER


def answers_with(policy: Policy, roles: tuple[ChecklistRole, ...],
                 wrong: str | None = None, drop: str | None = None) -> tuple[ChecklistAnswer, ...]:
    result = []
    for answer in all_safe(policy, *roles):
        if answer.item_id == drop:
            continue
        if answer.item_id == wrong:
            answer = dataclasses.replace(answer, answer=not answer.answer)
        result.append(answer)
    return tuple(result)


CHECKLIST_CASES: list[tuple[str, dict[str, object], tuple[ChecklistRole, ...], str | None,
                            str | None, Outcome, int]] = [
    # name, session options, roles answering, item answered wrongly, item left out,
    # outcome, number of checklist reasons
    ("all safe, on premises", {}, (CLIENT_ROLE, PREMISES), None, None, A, 0),
    ("all safe, from home", {"at_home": True}, (CLIENT_ROLE, HOME), None, None, A, 0),
    ("all safe, with interpreter", {"interpreter": True},
     (CLIENT_ROLE, PREMISES, INTERPRETER), None, None, A, 0),
    ("client driving", {}, (CLIENT_ROLE, PREMISES), "client.not_driving_confirmed", None, B, 1),
    ("someone at risk present", {}, (CLIENT_ROLE, PREMISES),
     "client.nobody_at_risk_confirmed", None, B, 1),
    ("low battery is advisory", {}, (CLIENT_ROLE, PREMISES), "client.charged", None, A, 1),
    ("home: not a work device", {"at_home": True}, (CLIENT_ROLE, HOME),
     "practitioner_home.work_device", None, B, 1),
    ("home: background advisory", {"at_home": True}, (CLIENT_ROLE, HOME),
     "practitioner_home.neutral_background", None, A, 1),
    ("safeguarding check not done", {}, (CLIENT_ROLE, PREMISES),
     "practitioner_premises.case_checked", None, B, 1),
    ("client has not answered", {}, (PREMISES,), None, None, B, 1),
    ("one client item missing", {}, (CLIENT_ROLE, PREMISES), None, "client.private", B, 1),
    ("interpreter has not answered", {"interpreter": True}, (CLIENT_ROLE, PREMISES), None,
     None, B, 1),
    ("nobody has answered", {"interpreter": True, "at_home": True}, (), None, None, B, 3),
]


@pytest.mark.parametrize(("name", "options", "roles", "wrong", "drop", "outcome", "count"),
                         CHECKLIST_CASES, ids=[c[0] for c in CHECKLIST_CASES])
def test_checklists_at_admission(name: str, options: dict[str, object],
                                 roles: tuple[ChecklistRole, ...], wrong: str | None,
                                 drop: str | None, outcome: Outcome, count: int) -> None:
    given = facts(contacts=SETTLED, answers=answers_with(DEFAULT, roles, wrong, drop),
                  **options)
    decision = decide(given, DEFAULT)
    assert decision.outcome is outcome, [r.text() for r in decision.reasons]
    assert len([r for r in decision.reasons if r.rule_id == "checklist"]) == count


def test_checklist_not_assessed_while_booking() -> None:
    assert decide(facts(contacts=SETTLED, answers=None), DEFAULT).allowed


def test_checklists_switched_off() -> None:
    policy = dataclasses.replace(DEFAULT, checklists=dataclasses.replace(DEFAULT.checklists,
                                                                           enabled=False))
    assert decide(facts(contacts=SETTLED, answers=()), policy).allowed


def test_approval_does_not_override_a_failed_check() -> None:
    given = facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED,
                  approvals=(approval(),),
                  answers=answers_with(DEFAULT, (CLIENT_ROLE, PREMISES),
                                       "client.not_driving_confirmed"))
    decision = decide(given, DEFAULT)
    assert decision.outcome is B
    assert decision.approval is not None  # shown, but cannot lift a block


def test_failed_check_names_the_item() -> None:
    given = facts(contacts=SETTLED,
                  answers=answers_with(DEFAULT, (CLIENT_ROLE, PREMISES),
                                       "client.not_driving_confirmed"))
    (reason,) = decide(given, DEFAULT).reasons_for(B)
    assert reason.title == "You are not driving. Is that right?"
    assert reason.params["item"] == "client.not_driving_confirmed"
    assert "rebook face to face" in reason.remedy_text()


# --- check_checklist on its own ------------------------------------------------------------

def test_check_checklist_reports_missing_and_failed() -> None:
    answers = [ChecklistAnswer(CLIENT_ROLE, "client.private", True),
               ChecklistAnswer(CLIENT_ROLE, "client.not_driving_confirmed", False),
               ChecklistAnswer(CLIENT_ROLE, "client.charged", False)]
    result = check_checklist(CLIENT_ROLE, answers, DEFAULT)
    assert [i.id for i in result.missing] == [
        "client.speak_freely", "client.nobody_at_risk_confirmed"]
    assert [i.id for i in result.failed_blocking] == ["client.not_driving_confirmed"]
    assert [i.id for i in result.failed_advisory] == ["client.charged"]
    assert not result.passed and not result.complete


def test_check_checklist_all_safe_passes() -> None:
    result = check_checklist(HOME, all_safe(DEFAULT, HOME), DEFAULT)
    assert result.passed and result.complete


@pytest.mark.parametrize(("role", "answer", "message"), [
    (CLIENT_ROLE, ChecklistAnswer(CLIENT_ROLE, "client.teleported", True),
     "unknown checklist item 'client.teleported'"),
    (CLIENT_ROLE, ChecklistAnswer(HOME, "practitioner_home.work_device", True),
     "was given as 'practitioner_home', but this is the 'client' checklist"),
    (CLIENT_ROLE, ChecklistAnswer(CLIENT_ROLE, "practitioner_home.work_device", True),
     "is for 'practitioner_home', not 'client'"),
], ids=["unknown item", "answer from the wrong role", "item of another role"])
def test_check_checklist_refuses_bad_answers(role: ChecklistRole, answer: ChecklistAnswer,
                                              message: str) -> None:
    with pytest.raises(ChecklistError, match=message):
        check_checklist(role, [answer], DEFAULT)


def test_check_checklist_refuses_duplicate_answers() -> None:
    answer = ChecklistAnswer(CLIENT_ROLE, "client.private", True)
    with pytest.raises(ChecklistError, match="answered twice"):
        check_checklist(CLIENT_ROLE, [answer, answer], DEFAULT)


def test_answers_from_a_role_not_in_the_session_are_refused() -> None:
    answers = (*all_safe(DEFAULT, CLIENT_ROLE, PREMISES), *all_safe(DEFAULT, INTERPRETER))
    with pytest.raises(ChecklistError, match="no part in this session"):
        decide(facts(contacts=SETTLED, answers=answers), DEFAULT)


# --- messages and facts --------------------------------------------------------------------

def test_messages_read_as_specified() -> None:
    no_f2f = decide(facts(), DEFAULT).reasons_for(B)[0]
    assert no_f2f.text() == "No face-to-face contact has been recorded with this client yet."
    assert no_f2f.remedy_text() == "Book an in-person appointment first."
    old = decide(facts(contacts=(contact(F2F, 40),)), DEFAULT).reasons[0]
    assert old.text() == "The last face-to-face contact was 40 days ago; the limit is 28."
    risky = decide(facts(who=client(rosh=RoshLevel.VERY_HIGH), contacts=SETTLED), DEFAULT)
    assert risky.reasons[0].text() == (
        "Remote contact for this client needs a senior probation officer's approval.")
    share = decide(facts(contacts=(contact(F2F, 10), contact(VIDEO, 3))), DEFAULT).reasons[0]
    assert share.text() == (
        "With this session, 67% of contacts in the last 90 days would be remote; "
        "the limit is 50%.")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(FactsError, match="timezone-aware"):
        contact(F2F, 1).__class__(kind=F2F, happened_at=NOW.replace(tzinfo=None),
                                  practitioner_id=PRACTITIONER)


def test_enumerations_match_the_store() -> None:
    for ours, theirs in [(facts_module.RoshLevel, models.RoshLevel),
                         (facts_module.ContactKind, models.ContactKind),
                         (facts_module.ContactOutcome, models.ContactOutcome),
                         (facts_module.SafeguardingFlag, models.SafeguardingFlag)]:
        assert ours is theirs  # one vocabulary: the store uses the policy's enumerations
