"""The decision: may this remote session go ahead? Pure: facts and a policy in, a decision out.

`decide` applies, in order, in person first (rule 1), cadence (rule 2), risk and safeguarding
(rule 3), supervisor approval (rule 4) and, at admission, the safe-space checklists (rule 5).
Each rule adds `Reason`s; the decision is the strongest outcome among them (blocked beats
needs_approval beats allowed). A valid approval turns needs_approval into allowed, never
blocked, so it can never stand in for the face-to-face contact rule 1 requires.

Messages are English message ids marked with `N_` (in `policies.messages`); they are
translated where shown, then formatted with `params` (the remedy takes the same params).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from policies.checklist import ChecklistError, check_checklist
from policies.facts import (
    REMOTE_KINDS,
    Approval,
    ChecklistAnswer,
    ContactKind,
    ContactOutcome,
    Facts,
    RoshLevel,
    SafeguardingFlag,
)
from policies.messages import (
    ASK_APPROVAL,
    BOOK_IN_PERSON,
    BOOK_IN_PERSON_CURRENT,
    BOOK_IN_PERSON_FIRST,
    CHECK_ADVISORY,
    CHECK_FAILED,
    CHECKLIST_MISSING,
    KEEP_FACE_TO_FACE,
    LAST_FACE_TO_FACE_TOO_OLD,
    NO_FACE_TO_FACE,
    NO_FACE_TO_FACE_CURRENT,
    OFFER_ANOTHER_WAY,
    REMOTE_SHARE_TOO_HIGH,
    RISK_BLOCKED,
    RISK_NEEDS_APPROVAL,
    RISK_REPLACES,
    RISK_SUPPLEMENT_ONLY,
    TALK_IT_THROUGH,
    TOO_FEW_FACE_TO_FACE,
    TOO_FEW_FACE_TO_FACE_CURRENT,
    WAIT_FOR_CHECKS,
)
from policies.messages import TITLES as TITLES
from policies.policy import (
    CHECKLIST,
    IN_PERSON_FIRST,
    LAST_FACE_TO_FACE,
    REMOTE_SHARE,
    MappaRule,
    Outcome,
    Policy,
    RiskOutcome,
    RiskRule,
)

# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a rule asks for an outcome: stable id, translatable title, message and remedy."""

    rule_id: str
    outcome: Outcome
    title: str
    message: str
    remedy: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    def text(self) -> str:
        """The message in English, formatted (translate `message` first to show it)."""
        return self.message.format(**self.params)

    def remedy_text(self) -> str:
        return self.remedy.format(**self.params)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reasons: tuple[Reason, ...]
    policy_version: str
    # The approval that turned needs_approval into allowed (or would have, but for a block).
    approval: Approval | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED

    @property
    def rule_ids(self) -> frozenset[str]:
        return frozenset(reason.rule_id for reason in self.reasons)

    def reasons_for(self, outcome: Outcome) -> tuple[Reason, ...]:
        return tuple(reason for reason in self.reasons if reason.outcome is outcome)



# --- the decision -------------------------------------------------------------------------


@dataclass(slots=True)
class _History:
    face_to_face: int = 0
    face_to_face_current: int = 0
    last_face_to_face: datetime | None = None
    share_total: int = 0
    share_remote: int = 0
    supplement_total: int = 0
    supplement_remote: int = 0


def _history(facts: Facts, policy: Policy) -> _History:
    """One pass over the contact history: only attended contacts recorded by `now` count."""
    h = _History()
    now = facts.now
    start = facts.session.starts_at
    share_from = start - timedelta(days=policy.remote_share.window_days)
    supplement_from = start - timedelta(days=policy.risk.supplement.window_days)
    current = facts.client.practitioner_id
    allocated = facts.client.allocated_at
    attended = ContactOutcome.ATTENDED
    f2f = ContactKind.FACE_TO_FACE
    for contact in facts.contacts:
        at = contact.happened_at
        if contact.outcome is not attended or at > now:
            continue
        remote = contact.kind in REMOTE_KINDS
        if contact.kind is f2f:
            h.face_to_face += 1
            if contact.practitioner_id == current and (allocated is None or at >= allocated):
                h.face_to_face_current += 1
            if h.last_face_to_face is None or at > h.last_face_to_face:
                h.last_face_to_face = at
        if at > share_from:
            h.share_total += 1
            h.share_remote += remote
        if at > supplement_from:
            h.supplement_total += 1
            h.supplement_remote += remote
    return h


def _share_exceeded(remote: int, total: int, limit: int) -> bool:
    # Counting the proposed remote session: (remote + 1) / (total + 1) > limit %.
    return (remote + 1) * 100 > limit * (total + 1)


def _share_percent(remote: int, total: int) -> int:
    return round((remote + 1) * 100 / (total + 1))


def _days_since(last: datetime | None, start: datetime) -> int | None:
    return None if last is None else (start - last).days


def decide(facts: Facts, policy: Policy) -> Decision:
    """Decide whether the proposed session may go ahead under `policy`."""
    if not facts.session.remote:
        return Decision(Outcome.ALLOWED, (), policy.version)
    history = _history(facts, policy)
    reasons: list[Reason] = []
    reasons.extend(_in_person_first(facts, policy, history))
    reasons.extend(_cadence(facts, policy, history))
    reasons.extend(_risk(facts, policy, history))
    if facts.checklist_answers is not None and policy.checklists.enabled:
        reasons.extend(_checklists(facts, policy, facts.checklist_answers))

    outcome = max((r.outcome for r in reasons), key=lambda o: o.rank, default=Outcome.ALLOWED)
    approval = None
    if outcome is Outcome.NEEDS_APPROVAL or any(
            r.outcome is Outcome.NEEDS_APPROVAL for r in reasons):
        approval = valid_approval(facts, policy)
        if approval is not None and outcome is Outcome.NEEDS_APPROVAL:
            outcome = Outcome.ALLOWED
    return Decision(outcome, tuple(reasons), policy.version, approval)


def _in_person_first(facts: Facts, policy: Policy, history: _History) -> list[Reason]:
    rule = policy.in_person_first
    if not rule.enabled:
        return []
    title = TITLES[IN_PERSON_FIRST]
    params: dict[str, str | int] = {"required": rule.min_face_to_face}
    if rule.with_current_practitioner:
        count = history.face_to_face_current
        if count >= rule.min_face_to_face:
            return []
        message = NO_FACE_TO_FACE_CURRENT if count == 0 else TOO_FEW_FACE_TO_FACE_CURRENT
        return [Reason(IN_PERSON_FIRST, Outcome.BLOCKED, title, message,
                       BOOK_IN_PERSON_CURRENT, {**params, "count": count})]
    count = history.face_to_face
    if count >= rule.min_face_to_face:
        return []
    message = NO_FACE_TO_FACE if count == 0 else TOO_FEW_FACE_TO_FACE
    return [Reason(IN_PERSON_FIRST, Outcome.BLOCKED, title, message, BOOK_IN_PERSON_FIRST,
                   {**params, "count": count})]


def _remedy(outcome: Outcome) -> str:
    return ASK_APPROVAL if outcome is Outcome.NEEDS_APPROVAL else BOOK_IN_PERSON


def _cadence(facts: Facts, policy: Policy, history: _History) -> list[Reason]:
    reasons: list[Reason] = []
    last = policy.last_face_to_face
    if last.enabled:
        days = _days_since(history.last_face_to_face, facts.session.starts_at)
        if days is None:
            reasons.append(Reason(LAST_FACE_TO_FACE, last.outcome, TITLES[LAST_FACE_TO_FACE],
                                  NO_FACE_TO_FACE, _remedy(last.outcome),
                                  {"limit": last.max_days}))
        elif days > last.max_days:
            reasons.append(Reason(LAST_FACE_TO_FACE, last.outcome, TITLES[LAST_FACE_TO_FACE],
                                  LAST_FACE_TO_FACE_TOO_OLD, _remedy(last.outcome),
                                  {"days": days, "limit": last.max_days}))
    share = policy.remote_share
    if share.enabled and _share_exceeded(history.share_remote, history.share_total,
                                         share.max_percent):
        reasons.append(Reason(
            REMOTE_SHARE, share.outcome, TITLES[REMOTE_SHARE], REMOTE_SHARE_TOO_HIGH,
            _remedy(share.outcome),
            {"share": _share_percent(history.share_remote, history.share_total),
             "window": share.window_days, "limit": share.max_percent}))
    return reasons


def risk_factors(facts: Facts, policy: Policy) -> list[tuple[str, RiskOutcome]]:
    """The enabled risk and safeguarding rules that apply to this client: (rule id, outcome)."""
    client = facts.client
    flags = client.safeguarding_flags
    risk = policy.risk
    present = {
        "very_high_rosh": client.rosh_level is RoshLevel.VERY_HIGH,
        "mappa": client.mappa_level is not None and client.mappa_level in risk.mappa.levels,
        "national_security": SafeguardingFlag.NATIONAL_SECURITY in flags,
        "youth": client.youth or SafeguardingFlag.YOUTH_CASE in flags,
        "child_protection": SafeguardingFlag.CHILD_PROTECTION in flags,
        "child_in_need": SafeguardingFlag.CHILD_IN_NEED in flags,
        "domestic_abuse": SafeguardingFlag.DOMESTIC_ABUSE in flags,
        "sexual_conviction": SafeguardingFlag.SEXUAL_CONVICTION in flags,
    }
    found: list[tuple[str, RiskOutcome]] = []
    for name, applies in present.items():
        rule: RiskRule | MappaRule = getattr(risk, name)
        if applies and rule.enabled:
            found.append((f"risk.{name}", rule.outcome))
    return found


def _risk(facts: Facts, policy: Policy, history: _History) -> list[Reason]:
    factors = risk_factors(facts, policy)
    if not factors:
        return []
    supplement = policy.risk.supplement
    days = _days_since(history.last_face_to_face, facts.session.starts_at)
    is_supplement = (
        days is not None and days <= supplement.max_days_since_face_to_face
        and not _share_exceeded(history.supplement_remote, history.supplement_total,
                                supplement.max_remote_share_percent))
    reasons: list[Reason] = []
    for rule_id, outcome in factors:
        title = TITLES[rule_id]
        if outcome is RiskOutcome.BLOCKED:
            reasons.append(Reason(rule_id, Outcome.BLOCKED, title, RISK_BLOCKED, BOOK_IN_PERSON))
        elif outcome is RiskOutcome.NEEDS_APPROVAL:
            reasons.append(Reason(rule_id, Outcome.NEEDS_APPROVAL, title, RISK_NEEDS_APPROVAL,
                                  ASK_APPROVAL))
        elif is_supplement:
            reasons.append(Reason(rule_id, Outcome.ALLOWED, title, RISK_SUPPLEMENT_ONLY,
                                  KEEP_FACE_TO_FACE))
        else:
            reasons.append(Reason(rule_id, Outcome.NEEDS_APPROVAL, title, RISK_REPLACES,
                                  ASK_APPROVAL))
    return reasons


def valid_approval(facts: Facts, policy: Policy) -> Approval | None:
    """The approval in force for this client and session, if any (the longest-lasting)."""
    rule = policy.approval
    if not rule.enabled:
        return None
    longest = timedelta(days=rule.max_validity_days)
    now = facts.now
    best: Approval | None = None
    for a in facts.approvals:
        if (a.client_id == facts.client.client_id
                and a.revoked_at is None
                and a.rationale.strip()
                and a.supervisor_id != facts.session.practitioner_id
                and a.granted_at <= now < a.expires_at
                and facts.session.starts_at < a.expires_at
                and a.expires_at - a.granted_at <= longest
                and (best is None or a.expires_at > best.expires_at)):
            best = a
    return best


def _checklists(facts: Facts, policy: Policy,
                answers: Sequence[ChecklistAnswer]) -> list[Reason]:
    roles = facts.session.checklist_roles
    for answer in answers:
        if answer.role not in roles:
            raise ChecklistError(
                f"answer to {answer.item_id!r} from role {answer.role.value!r}, which has no "
                f"part in this session (expected: {', '.join(r.value for r in roles)})")
    title = TITLES[CHECKLIST]
    reasons: list[Reason] = []
    for role in roles:
        result = check_checklist(role, [a for a in answers if a.role is role], policy)
        if result.missing:
            reasons.append(Reason(CHECKLIST, Outcome.BLOCKED, title, CHECKLIST_MISSING[role],
                                  WAIT_FOR_CHECKS,
                                  {"role": role.value, "missing": len(result.missing)}))
        for item in result.failed_blocking:
            reasons.append(Reason(CHECKLIST, Outcome.BLOCKED, item.wording, CHECK_FAILED,
                                  OFFER_ANOTHER_WAY, {"role": role.value, "item": item.id}))
        for item in result.failed_advisory:
            reasons.append(Reason(CHECKLIST, Outcome.ALLOWED, item.wording, CHECK_ADVISORY,
                                  TALK_IT_THROUGH, {"role": role.value, "item": item.id}))
    return reasons
