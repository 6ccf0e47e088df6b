"""The organisation's policy: typed settings for every rule, with their documented defaults.

`policies.load` reads and validates a policy file into a `Policy`. Settings a file leaves out
take the dataclass defaults below (which a test keeps identical to `default.toml`), so a
forgotten section never switches a rule off.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from policies.facts import ChecklistRole

DEFAULT_POLICY_FILE = "default.toml"


class Outcome(enum.StrEnum):
    """A decision, or what a rule asks for: blocked beats needs_approval beats allowed."""

    ALLOWED = "allowed"
    NEEDS_APPROVAL = "needs_approval"
    BLOCKED = "blocked"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Outcome.ALLOWED: 0, Outcome.NEEDS_APPROVAL: 1, Outcome.BLOCKED: 2}


class RiskOutcome(enum.StrEnum):
    """What a risk or safeguarding factor does to remote contact."""

    SUPPLEMENT = "supplement"  # only alongside face-to-face contact; replacing it needs approval
    NEEDS_APPROVAL = "needs_approval"  # every remote session needs a supervisor's approval
    BLOCKED = "blocked"  # no remote contact at all


# Stable rule ids: they appear in decisions, audit records and the policy file.
IN_PERSON_FIRST = "in_person_first"
LAST_FACE_TO_FACE = "cadence.last_face_to_face"
REMOTE_SHARE = "cadence.remote_share"
RISK_VERY_HIGH_ROSH = "risk.very_high_rosh"
RISK_MAPPA = "risk.mappa"
RISK_NATIONAL_SECURITY = "risk.national_security"
RISK_YOUTH = "risk.youth"
RISK_CHILD_PROTECTION = "risk.child_protection"
RISK_CHILD_IN_NEED = "risk.child_in_need"
RISK_DOMESTIC_ABUSE = "risk.domestic_abuse"
RISK_SEXUAL_CONVICTION = "risk.sexual_conviction"
APPROVAL = "approval"
CHECKLIST = "checklist"

RISK_FACTORS = (
    "very_high_rosh", "mappa", "national_security", "youth", "child_protection",
    "child_in_need", "domestic_abuse", "sexual_conviction",
)
RULE_IDS = frozenset({
    IN_PERSON_FIRST, LAST_FACE_TO_FACE, REMOTE_SHARE, APPROVAL, CHECKLIST,
    *(f"risk.{name}" for name in RISK_FACTORS),
})


@dataclass(frozen=True, slots=True)
class InPersonFirst:
    enabled: bool = True
    min_face_to_face: int = 1
    with_current_practitioner: bool = False


@dataclass(frozen=True, slots=True)
class LastFaceToFace:
    enabled: bool = True
    max_days: int = 28
    outcome: Outcome = Outcome.NEEDS_APPROVAL


@dataclass(frozen=True, slots=True)
class RemoteShare:
    enabled: bool = True
    max_percent: int = 50
    window_days: int = 90
    outcome: Outcome = Outcome.NEEDS_APPROVAL


@dataclass(frozen=True, slots=True)
class Supplement:
    """When remote contact counts as a supplement (risk factors with outcome "supplement")."""

    max_days_since_face_to_face: int = 28
    max_remote_share_percent: int = 50
    window_days: int = 90


@dataclass(frozen=True, slots=True)
class RiskRule:
    enabled: bool = True
    outcome: RiskOutcome = RiskOutcome.SUPPLEMENT


@dataclass(frozen=True, slots=True)
class MappaRule:
    enabled: bool = True
    outcome: RiskOutcome = RiskOutcome.NEEDS_APPROVAL
    levels: frozenset[int] = frozenset({2, 3})


def _approval_risk() -> RiskRule:
    return RiskRule(outcome=RiskOutcome.NEEDS_APPROVAL)


@dataclass(frozen=True, slots=True)
class Risk:
    supplement: Supplement = field(default_factory=Supplement)
    very_high_rosh: RiskRule = field(default_factory=_approval_risk)
    mappa: MappaRule = field(default_factory=MappaRule)
    national_security: RiskRule = field(default_factory=_approval_risk)
    youth: RiskRule = field(default_factory=RiskRule)
    child_protection: RiskRule = field(default_factory=RiskRule)
    child_in_need: RiskRule = field(default_factory=RiskRule)
    domestic_abuse: RiskRule = field(default_factory=RiskRule)
    sexual_conviction: RiskRule = field(default_factory=RiskRule)


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    enabled: bool = True
    # Approvals granted for longer than this are not honoured: exceptions are reviewed.
    max_validity_days: int = 90


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    id: str
    role: ChecklistRole
    wording: str  # English message id, translated where shown
    blocking: bool = True
    safe_answer: bool = True  # the answer that lets the session go ahead


@dataclass(frozen=True, slots=True)
class Checklists:
    enabled: bool = True
    items: tuple[ChecklistItem, ...] = ()

    def for_role(self, role: ChecklistRole) -> tuple[ChecklistItem, ...]:
        return tuple(item for item in self.items if item.role is role)


class OnWithdrawal(enum.StrEnum):
    """What happens to what was recorded before someone withdrew their consent."""

    KEEP = "keep"
    DISCARD = "discard"


@dataclass(frozen=True, slots=True)
class RecordingRule:
    """Consent-gated recording (docs/recording.md): whether the practitioner may ask at all."""

    allowed: bool = True
    retention_days: int = 30
    # Discard by default: a person who withdraws expects what they withdrew from to go.
    on_withdrawal: OnWithdrawal = OnWithdrawal.DISCARD


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    in_person_first: InPersonFirst = field(default_factory=InPersonFirst)
    last_face_to_face: LastFaceToFace = field(default_factory=LastFaceToFace)
    remote_share: RemoteShare = field(default_factory=RemoteShare)
    risk: Risk = field(default_factory=Risk)
    approval: ApprovalRule = field(default_factory=ApprovalRule)
    checklists: Checklists = field(default_factory=Checklists)
    recording: RecordingRule = field(default_factory=RecordingRule)
    source: str = field(default="<memory>", compare=False)
