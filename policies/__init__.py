"""Pure decision functions: may this remote session happen, and who may be admitted.

Facts in (`policies.facts`), a policy (`policies.policy`, shipped as `default.toml`, read by
`policies.load`), a decision out (`policies.decide`). No I/O: no database, no clock, no files,
except `load_default_policy`, which reads the shipped policy file. See docs/policies.md.
"""

from policies.checklist import ChecklistError, ChecklistResult, check_checklist
from policies.decide import Decision, Reason, decide, risk_factors, valid_approval
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
from policies.load import PolicyError, Problem, load_default_policy, load_policy
from policies.policy import (
    RULE_IDS,
    ChecklistItem,
    Outcome,
    Policy,
    RiskOutcome,
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
