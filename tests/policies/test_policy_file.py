"""The policy file: the shipped default loads, and bad files fail naming file, line and field."""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources

import pytest

from policies import RULE_IDS, Policy, PolicyError, RiskOutcome, load_default_policy, load_policy
from policies.decide import TITLES
from policies.wording import CHECKLIST_WORDING


def test_default_policy_loads_with_a_version() -> None:
    policy = load_default_policy()
    assert policy.version == "2026.1"
    assert policy.source == "policies/default.toml"
    assert len(policy.checklists.items) >= 10


def test_default_file_matches_the_built_in_defaults() -> None:
    """Settings left out of a file take the dataclass defaults; they must equal the file's."""
    policy = load_default_policy()
    assert policy == Policy(version=policy.version, checklists=policy.checklists)


def test_an_empty_policy_keeps_every_rule_on() -> None:
    policy = load_policy('version = "bare"\n', "bare.toml")
    assert policy.in_person_first.enabled and policy.last_face_to_face.enabled
    assert policy.remote_share.enabled and policy.risk.domestic_abuse.enabled
    assert policy.checklists.items == ()


def test_a_partial_policy_overrides_only_what_it_names() -> None:
    policy = load_policy('version = "org-3"\n[cadence.last_face_to_face]\nmax_days = 14\n'
                         '[risk.domestic_abuse]\noutcome = "blocked"\n', "org.toml")
    assert policy.last_face_to_face.max_days == 14
    assert policy.risk.domestic_abuse.outcome is RiskOutcome.BLOCKED
    default = load_default_policy()
    assert policy.remote_share == default.remote_share
    assert dataclasses.replace(policy.risk, domestic_abuse=default.risk.domestic_abuse) == \
        default.risk


def test_every_rule_has_a_title_and_every_wording_is_translatable() -> None:
    assert set(TITLES) == RULE_IDS - {"approval"}
    missing = {i.wording for i in load_default_policy().checklists.items} - CHECKLIST_WORDING
    assert not missing, f"add to policies/wording.py: {sorted(missing)}"


def test_the_shipped_file_is_package_data() -> None:
    text = resources.files("policies").joinpath("default.toml").read_text(encoding="utf-8")
    assert tomllib.loads(text)["version"]


V = 'version = "t"\n'

BAD: list[tuple[str, str, str]] = [
    # name, file text, expected "line: field: problem" fragment
    ("not TOML", 'version = "t"\n[cadence\n', "bad.toml:2: not valid TOML"),
    ("no version", "[in_person_first]\nenabled = true\n", "bad.toml: version: is required"),
    ("empty version", 'version = ""\n', "bad.toml:1: version: must be non-empty text"),
    ("unknown section", V + "[broadcast]\nallowed = true\n",
     "bad.toml:2: broadcast: unknown section 'broadcast'"),
    # recording
    ("recording allowed as text", V + "[recording]\nallowed = \"yes\"\n",
     "bad.toml:3: recording.allowed: must be true or false, got text 'yes'"),
    ("recording retention zero", V + "[recording]\nretention_days = 0\n",
     "bad.toml:3: recording.retention_days: must be between 1 and 3660 days, got 0"),
    ("recording on_withdrawal unknown", V + "[recording]\non_withdrawal = \"archive\"\n",
     "bad.toml:3: recording.on_withdrawal: must be one of 'keep', 'discard', got 'archive'"),
    ("recording unknown field", V + "[recording]\nencrypt = false\n",
     "bad.toml:3: recording.encrypt: unknown field 'encrypt'"),
    ("unknown rule id", V + "[cadence.weekly]\nenabled = true\n",
     "bad.toml:2: cadence.weekly: unknown rule id 'cadence.weekly'"),
    ("unknown risk rule id", V + "\n\n[risk.gang_affiliation]\noutcome = \"blocked\"\n",
     "bad.toml:4: risk.gang_affiliation: unknown rule id 'risk.gang_affiliation'"),
    ("unknown field", V + "[in_person_first]\nminimum = 2\n",
     "bad.toml:3: in_person_first.minimum: unknown field 'minimum'"),
    ("negative days", V + "[cadence.last_face_to_face]\nenabled = true\nmax_days = -7\n",
     "bad.toml:4: cadence.last_face_to_face.max_days: must not be negative, got -7"),
    ("zero days", V + "[cadence.remote_share]\nwindow_days = 0\n",
     "bad.toml:3: cadence.remote_share.window_days: must be between 1 and 3660 days, got 0"),
    ("days as text", V + "[cadence.last_face_to_face]\nmax_days = \"28\"\n",
     "cadence.last_face_to_face.max_days: must be a whole number, got text '28'"),
    ("days as a fraction", V + "[risk.supplement]\nwindow_days = 90.5\n",
     "bad.toml:3: risk.supplement.window_days: must be a whole number"),
    ("percentage over 100", V + "[cadence.remote_share]\nmax_percent = 150\n",
     "bad.toml:3: cadence.remote_share.max_percent: must be between 0 and 100%, got 150"),
    ("supplement percentage over 100", V + "[risk.supplement]\nmax_remote_share_percent = 101\n",
     "risk.supplement.max_remote_share_percent: must be between 0 and 100%"),
    ("no face to face required", V + "[in_person_first]\nmin_face_to_face = 0\n",
     "in_person_first.min_face_to_face: must be between 1 and 1000 contacts, got 0"),
    ("enabled as text", V + "[approval]\nenabled = \"yes\"\n",
     "bad.toml:3: approval.enabled: must be true or false, got text 'yes'"),
    ("cadence outcome allowed", V + "[cadence.remote_share]\noutcome = \"allowed\"\n",
     "cadence.remote_share.outcome: must be one of 'needs_approval', 'blocked', got 'allowed'"),
    ("risk outcome unknown", V + "[risk.youth]\noutcome = \"maybe\"\n",
     "risk.youth.outcome: must be one of 'supplement', 'needs_approval', 'blocked'"),
    ("MAPPA level 4", V + "[risk.mappa]\nlevels = [2, 4]\n",
     "bad.toml:3: risk.mappa.levels: must be a non-empty list of MAPPA levels 1, 2 or 3"),
    ("rule not a table", V + "in_person_first = true\n",
     "bad.toml:2: in_person_first: must be a table, got a boolean"),
    ("checklist role unknown", V + "[[checklist.items]]\nid = \"a.b\"\nrole = \"nurse\"\n"
     "wording = \"Ok?\"\n",
     "bad.toml:4: checklist.items[0].role: must be one of 'client'"),
    ("checklist role missing", V + "[[checklist.items]]\nid = \"a.b\"\nwording = \"Ok?\"\n",
     "bad.toml:2: checklist.items[0].role: is required"),
    ("checklist wording missing", V + "[[checklist.items]]\nid = \"a.b\"\nrole = \"client\"\n",
     "checklist.items[0].wording: is required"),
    ("duplicate checklist ids",
     V + "[[checklist.items]]\nid = \"a.b\"\nrole = \"client\"\nwording = \"Ok?\"\n"
     "[[checklist.items]]\nid = \"a.b\"\nrole = \"client\"\nwording = \"Sure?\"\n",
     "bad.toml:7: checklist.items[1].id: duplicate checklist item id 'a.b'"),
    ("checklist id with spaces",
     V + "[[checklist.items]]\nid = \"Is it ok\"\nrole = \"client\"\nwording = \"Ok?\"\n",
     "bad.toml:3: checklist.items[0].id: must be lower-case letters"),
    ("unknown checklist field",
     V + "[[checklist.items]]\nid = \"a.b\"\nrole = \"client\"\nwording = \"Ok?\"\n"
     "mandatory = true\n",
     "bad.toml:6: checklist.items[0].mandatory: unknown field 'mandatory'"),
    ("blocking as text",
     V + "[[checklist.items]]\nid = \"a.b\"\nrole = \"client\"\nwording = \"Ok?\"\n"
     "blocking = \"no\"\n",
     "bad.toml:6: checklist.items[0].blocking: must be true or false"),
]


@pytest.mark.parametrize(("name", "text", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_policy_is_refused_naming_line_and_field(name: str, text: str,
                                                     expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(text, "bad.toml")
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    text = (V + "[cadence.last_face_to_face]\nmax_days = -1\n"
            "[cadence.remote_share]\nmax_percent = 101\n[risk.nope]\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(text, "org.toml")
    lines = sorted(p.line or 0 for p in caught.value.problems)
    assert lines == [3, 5, 6]
    assert caught.value.problems[0].field == "cadence.last_face_to_face.max_days"


def test_comments_and_quoted_keys_do_not_confuse_line_numbers() -> None:
    text = ('# a comment\nversion = "t"\n\n# max_days = 5\n[cadence . "last_face_to_face"]\n'
            '# note\n"max_days" = 0\n')
    with pytest.raises(PolicyError, match="org.toml:7: cadence.last_face_to_face.max_days"):
        load_policy(text, "org.toml")
