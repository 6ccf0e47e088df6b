"""The safe-space checklists (rule 5): one person's answers checked against their role's items.

`check_checklist` is what admission asks; `policies.decide` turns its result into reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policies.facts import ChecklistAnswer, ChecklistRole
from policies.policy import ChecklistItem, Policy

# Items of the 2025.1 policy whose question was reworded so that "yes" is the safe answer
# (2026.1): old id -> new id. The old question was the exact negation of the new one ("Are you
# driving?" / "You are not driving. Is that right?"), so an answer given to the old question
# counts, inverted, as an answer to the new one, wherever the policy in force no longer has the
# old id. Stored answers keep their old id and the question as shown (the contact record).
LEGACY_ITEMS: dict[str, str] = {
    "client.not_driving": "client.not_driving_confirmed",
    "client.nobody_at_risk": "client.nobody_at_risk_confirmed",
    "practitioner_home.not_overheard": "practitioner_home.not_overheard_confirmed",
}


def upgraded(item_id: str, answer: bool, known: Iterable[str]) -> tuple[str, bool]:
    """An answer to a retired question as an answer to the question that replaced it; any
    other answer unchanged."""
    ids = set(known)
    successor = LEGACY_ITEMS.get(item_id)
    if item_id in ids or successor is None or successor not in ids:
        return item_id, answer
    return successor, not answer


class ChecklistError(ValueError):
    """Checklist answers that do not fit the policy: unknown items, wrong role, duplicates."""


@dataclass(frozen=True, slots=True)
class ChecklistResult:
    role: ChecklistRole
    missing: tuple[ChecklistItem, ...]
    failed_blocking: tuple[ChecklistItem, ...]
    failed_advisory: tuple[ChecklistItem, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def passed(self) -> bool:
        """Every item answered and no blocking item failed: this person may go ahead."""
        return not self.missing and not self.failed_blocking


def check_checklist(role: ChecklistRole, answers: Iterable[ChecklistAnswer],
                    policy: Policy) -> ChecklistResult:
    """Check one person's answers against their role's checklist.

    Raises `ChecklistError` for an answer to an item that does not exist, an item of another
    role, an answer given as another role, or two answers to the same item.
    """
    items = {item.id: item for item in policy.checklists.items}
    given: dict[str, bool] = {}
    for answer in answers:
        item_id, value = upgraded(answer.item_id, answer.answer, items)
        item = items.get(item_id)
        if item is None:
            raise ChecklistError(f"unknown checklist item {answer.item_id!r} "
                                 f"(policy {policy.version})")
        if answer.role is not role:
            raise ChecklistError(f"answer to {answer.item_id!r} was given as "
                                 f"{answer.role.value!r}, but this is the {role.value!r} "
                                 f"checklist")
        if item.role is not role:
            raise ChecklistError(f"checklist item {item_id!r} is for "
                                 f"{item.role.value!r}, not {role.value!r}")
        if item_id in given:
            raise ChecklistError(f"checklist item {item_id!r} answered twice")
        given[item_id] = value
    mine = policy.checklists.for_role(role)
    missing = tuple(item for item in mine if item.id not in given)
    failed = [item for item in mine if item.id in given and given[item.id] != item.safe_answer]
    return ChecklistResult(
        role=role, missing=missing,
        failed_blocking=tuple(item for item in failed if item.blocking),
        failed_advisory=tuple(item for item in failed if not item.blocking))
