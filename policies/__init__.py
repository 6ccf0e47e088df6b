"""Pure decision functions: may this remote session happen, and who may be admitted.

Facts in (`policies.facts`), a policy (`policies.policy`, shipped as `default.toml`), a
decision out (`policies.decide`). No I/O: no database, no clock, no files, except
`load_default_policy`, which reads the shipped policy file. See docs/policies.md.
"""

from policies.decide import (
    ChecklistError,
    ChecklistResult,
    Decision,
    Reason,
    check_checklist,
    decide,
    risk_factors,
    valid_approval,
)
from policies.facts import (
    Approval,
    ChecklistAnswer,
    ChecklistRole,
    ClientFacts,
    ContactFact,
    ContactKind,
    ContactOutcome,
    Facts,
    FactsError,
    ProposedSession,
    RoshLevel,
    SafeguardingFlag,
)
from policies.policy import (
    RULE_IDS,
    ChecklistItem,
    Outcome,
    Policy,
    PolicyError,
    Problem,
    RiskOutcome,
    load_default_policy,
    load_policy,
)

__all__ = [
    "RULE_IDS",
    "Approval",
    "ChecklistAnswer",
    "ChecklistError",
    "ChecklistItem",
    "ChecklistResult",
    "ChecklistRole",
    "ClientFacts",
    "ContactFact",
    "ContactKind",
    "ContactOutcome",
    "Decision",
    "Facts",
    "FactsError",
    "Outcome",
    "Policy",
    "PolicyError",
    "Problem",
    "ProposedSession",
    "Reason",
    "RiskOutcome",
    "RoshLevel",
    "SafeguardingFlag",
    "check_checklist",
    "decide",
    "load_default_policy",
    "load_policy",
    "risk_factors",
    "valid_approval",
]
