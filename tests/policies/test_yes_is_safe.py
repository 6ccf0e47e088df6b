"""The shipped checklists ask every question so that "yes" is the safe answer, and answers
given to the retired questions of policy 2025.1 (where "no" was safe) still count correctly."""

from __future__ import annotations

import pytest

from policies import ChecklistRole, check_checklist, load_default_policy
from policies.checklist import LEGACY_ITEMS, upgraded
from policies.facts import ChecklistAnswer
from policies.wording import CHECKLIST_WORDING

DEFAULT = load_default_policy()
CLIENT = ChecklistRole.CLIENT


def test_every_shipped_question_is_answered_yes_to_go_ahead() -> None:
    assert all(item.safe_answer is True for item in DEFAULT.checklists.items), [
        item.id for item in DEFAULT.checklists.items if not item.safe_answer]


def test_retired_ids_are_gone_and_their_successors_shipped_and_translatable() -> None:
    ids = {item.id for item in DEFAULT.checklists.items}
    assert not ids & set(LEGACY_ITEMS)
    assert set(LEGACY_ITEMS.values()) <= ids
    assert {i.wording for i in DEFAULT.checklists.items} <= CHECKLIST_WORDING


# --- upgraded: an old answer read as an answer to the new question -------------------------

@pytest.mark.parametrize(("item", "answer", "known", "expected"), [
    # "Are you driving?" no  ==  "You are not driving. Is that right?" yes
    ("client.not_driving", False, {"client.not_driving_confirmed"},
     ("client.not_driving_confirmed", True)),
    ("client.not_driving", True, {"client.not_driving_confirmed"},
     ("client.not_driving_confirmed", False)),
    ("client.nobody_at_risk", False, {"client.nobody_at_risk_confirmed"},
     ("client.nobody_at_risk_confirmed", True)),
    ("practitioner_home.not_overheard", True, {"practitioner_home.not_overheard_confirmed"},
     ("practitioner_home.not_overheard_confirmed", False)),
    # a policy that still has the old id (an organisation's own) keeps it as it is
    ("client.not_driving", False, {"client.not_driving", "client.not_driving_confirmed"},
     ("client.not_driving", False)),
    # nothing to map to: unchanged (and then refused as unknown)
    ("client.not_driving", False, {"client.private"}, ("client.not_driving", False)),
    ("client.private", True, {"client.private"}, ("client.private", True)),
])
def test_upgraded(item: str, answer: bool, known: set[str],
                  expected: tuple[str, bool]) -> None:
    assert upgraded(item, answer, known) == expected


@pytest.mark.parametrize(("driving", "at_risk", "passed", "failed"), [
    (False, False, True, []),
    (True, False, False, ["client.not_driving_confirmed"]),
    (False, True, False, ["client.nobody_at_risk_confirmed"]),
])
def test_answers_given_to_the_2025_questions_are_checked_under_2026(
        driving: bool, at_risk: bool, passed: bool, failed: list[str]) -> None:
    old = {"client.private": True, "client.speak_freely": True, "client.not_driving": driving,
           "client.nobody_at_risk": at_risk, "client.charged": True}
    result = check_checklist(CLIENT, [ChecklistAnswer(CLIENT, k, v) for k, v in old.items()],
                             DEFAULT)
    assert result.passed is passed and result.complete
    assert [i.id for i in result.failed_blocking] == failed


def test_old_and_new_answer_to_the_same_question_is_refused() -> None:
    from policies import ChecklistError
    answers = [ChecklistAnswer(CLIENT, "client.not_driving", False),
               ChecklistAnswer(CLIENT, "client.not_driving_confirmed", True)]
    with pytest.raises(ChecklistError, match="answered twice"):
        check_checklist(CLIENT, answers, DEFAULT)
