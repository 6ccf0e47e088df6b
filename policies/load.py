"""Loading a policy from TOML: parse, validate and build the typed `Policy` (`policies.policy`).

`load_policy(text, source_name)` parses and validates the text it is given (no I/O);
`load_default_policy()` reads the shipped `policies/default.toml`. Any problem raises a
`PolicyError` listing every problem found, each naming `file:line`, the field and what is wrong.
Settings a file leaves out take the documented defaults (the dataclass defaults in
`policies.policy`), so a forgotten section never switches a rule off.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from policies.facts import ChecklistRole
from policies.policy import (
    APPROVAL,
    CHECKLIST,
    DEFAULT_POLICY_FILE,
    IN_PERSON_FIRST,
    RISK_FACTORS,
    ApprovalRule,
    ChecklistItem,
    Checklists,
    InPersonFirst,
    LastFaceToFace,
    MappaRule,
    OnWithdrawal,
    Outcome,
    Policy,
    RecordingRule,
    RemoteShare,
    Risk,
    RiskOutcome,
    RiskRule,
    Supplement,
)

# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int | None
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        if self.field:
            return f"{where}: {self.field}: {self.problem}"
        return f"{where}: {self.problem}"


class PolicyError(ValueError):
    """A policy file that cannot be used; `problems` lists each one with file, line and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid policy:\n" + "\n".join(f"  {p}" for p in problems))


# --- locating keys in the text (tomllib gives no line numbers) ----------------------------

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')"
                  r"(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*=")

Path = tuple[str | int, ...]


def _split_key(key: str) -> tuple[str, ...]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+", key)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def _locate(text: str) -> dict[Path, int]:
    """Map each table, array element and key path to the line it is written on (1-based)."""
    lines: dict[Path, int] = {}
    counts: dict[Path, int] = {}
    table: Path = ()
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2:
                in_multiline = None
            continue
        if match := _ARRAY_HEADER.match(line):
            base: Path = _split_key(match.group(1))
            index = counts.get(base, 0)
            counts[base] = index + 1
            table = (*base, index)
            lines.setdefault(base, number)
            lines[table] = number
        elif match := _HEADER.match(line):
            table = _split_key(match.group(1))
            lines.setdefault(table, number)
        elif match := _KEY.match(line):
            lines.setdefault((*table, *_split_key(match.group(1))), number)
            rest = line[match.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2:
                    in_multiline = quote
    return lines


# --- reading ------------------------------------------------------------------------------

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)


class _Reader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = _locate(text)
        self.problems: list[Problem] = []

    def line(self, path: Path) -> int | None:
        for end in range(len(path), 0, -1):
            if (found := self.lines.get(path[:end])) is not None:
                return found
        return None

    def error(self, path: Path, problem: str) -> None:
        name = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
        self.problems.append(Problem(self.source, self.line(path), name, problem))

    def table(self, data: Mapping[str, Any], path: Path, key: str,
              known: frozenset[str] | None = None) -> dict[str, Any]:
        value = data.get(key, {})
        here = (*path, key)
        if not isinstance(value, dict):
            self.error(here, f"must be a table, got {_kind(value)}")
            return {}
        if known is not None:
            self.unknown(value, here, known)
        return value

    def unknown(self, table: Mapping[str, Any], path: Path, known: frozenset[str],
                what: str = "field") -> None:
        for key in table:
            if key not in known:
                expected = ", ".join(sorted(known))
                name = ".".join(str(p) for p in (*path, key)) if what == "rule id" else key
                self.error((*path, key), f"unknown {what} {name!r}; expected one of: {expected}")

    def value(self, table: Mapping[str, Any], path: Path, key: str, default: T,
              convert: Callable[[Any], T | str]) -> T:
        if key not in table:
            return default
        result = convert(table[key])
        if isinstance(result, _Invalid):
            self.error((*path, key), str(result))
            return default
        return result  # type: ignore[return-value]

    def boolean(self, table: Mapping[str, Any], path: Path, key: str, default: bool) -> bool:
        def convert(raw: Any) -> bool | str:
            return raw if isinstance(raw, bool) else _Invalid(
                f"must be true or false, got {_kind(raw)} {raw!r}")
        return self.value(table, path, key, default, convert)

    def integer(self, table: Mapping[str, Any], path: Path, key: str, default: int,
                low: int, high: int | None = None, unit: str = "") -> int:
        def convert(raw: Any) -> int | str:
            if isinstance(raw, bool) or not isinstance(raw, int):
                return _Invalid(f"must be a whole number, got {_kind(raw)} {raw!r}")
            if raw < 0 and low >= 0:
                return _Invalid(f"must not be negative, got {raw}")
            if raw < low or (high is not None and raw > high):
                bound = f"between {low} and {high}" if high is not None else f"at least {low}"
                return _Invalid(f"must be {bound}{unit}, got {raw}")
            return raw
        return self.value(table, path, key, default, convert)

    def choice(self, table: Mapping[str, Any], path: Path, key: str, default: E,
               kind: type[E], allowed: tuple[E, ...] | None = None) -> E:
        options = allowed or tuple(kind)

        def convert(raw: Any) -> E | str:
            for option in options:
                if raw == option.value:
                    return option
            names = ", ".join(repr(o.value) for o in options)
            return _Invalid(f"must be one of {names}, got {raw!r}")
        return self.value(table, path, key, default, convert)

    def text(self, table: Mapping[str, Any], path: Path, key: str) -> str:
        if key not in table:
            self.error((*path, key), "is required")
            return ""
        raw = table[key]
        if not isinstance(raw, str) or not raw.strip():
            self.error((*path, key), f"must be non-empty text, got {raw!r}")
            return ""
        return raw


class _Invalid(str):
    """A conversion failure message (distinguished from a valid string value)."""


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "text",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


_ITEM_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_TOP = frozenset({"version", "in_person_first", "cadence", "risk", "approval", "checklist",
                  "recording"})


def load_policy(text: str, source_name: str = "<policy>") -> Policy:
    """Parse and validate a policy; raise `PolicyError` naming every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise PolicyError([Problem(source_name, int(found.group(1)) if found else None, "",
                                   f"not valid TOML: {exc}")]) from None
    r = _Reader(source_name, text)
    r.unknown(data, (), _TOP, "section")

    version = r.text(data, (), "version")

    d_ipf = InPersonFirst()
    t = r.table(data, (), IN_PERSON_FIRST,
                frozenset({"enabled", "min_face_to_face", "with_current_practitioner"}))
    p: Path = (IN_PERSON_FIRST,)
    in_person_first = InPersonFirst(
        enabled=r.boolean(t, p, "enabled", d_ipf.enabled),
        min_face_to_face=r.integer(t, p, "min_face_to_face", d_ipf.min_face_to_face, 1, 1000,
                                   " contacts"),
        with_current_practitioner=r.boolean(t, p, "with_current_practitioner",
                                            d_ipf.with_current_practitioner),
    )

    cadence = r.table(data, (), "cadence")
    r.unknown(cadence, ("cadence",), frozenset({"last_face_to_face", "remote_share"}), "rule id")
    cadence_outcomes = (Outcome.NEEDS_APPROVAL, Outcome.BLOCKED)
    d_lf = LastFaceToFace()
    p = ("cadence", "last_face_to_face")
    t = r.table(cadence, ("cadence",), "last_face_to_face",
                frozenset({"enabled", "max_days", "outcome"}))
    last_face_to_face = LastFaceToFace(
        enabled=r.boolean(t, p, "enabled", d_lf.enabled),
        max_days=r.integer(t, p, "max_days", d_lf.max_days, 1, 3660, " days"),
        outcome=r.choice(t, p, "outcome", d_lf.outcome, Outcome, cadence_outcomes),
    )
    d_rs = RemoteShare()
    p = ("cadence", "remote_share")
    t = r.table(cadence, ("cadence",), "remote_share",
                frozenset({"enabled", "max_percent", "window_days", "outcome"}))
    remote_share = RemoteShare(
        enabled=r.boolean(t, p, "enabled", d_rs.enabled),
        max_percent=r.integer(t, p, "max_percent", d_rs.max_percent, 0, 100, "%"),
        window_days=r.integer(t, p, "window_days", d_rs.window_days, 1, 3660, " days"),
        outcome=r.choice(t, p, "outcome", d_rs.outcome, Outcome, cadence_outcomes),
    )

    risk = _read_risk(r, r.table(data, (), "risk"))

    d_ap = ApprovalRule()
    p = (APPROVAL,)
    t = r.table(data, (), APPROVAL, frozenset({"enabled", "max_validity_days"}))
    approval = ApprovalRule(
        enabled=r.boolean(t, p, "enabled", d_ap.enabled),
        max_validity_days=r.integer(t, p, "max_validity_days", d_ap.max_validity_days, 1, 3660,
                                    " days"),
    )

    checklists = _read_checklists(r, r.table(data, (), CHECKLIST,
                                             frozenset({"enabled", "items"})))

    recording = _read_recording(r, r.table(data, (), "recording", frozenset(
        {"allowed", "retention_days", "on_withdrawal"})))

    if r.problems:
        raise PolicyError(r.problems)
    return Policy(version=version, in_person_first=in_person_first,
                  last_face_to_face=last_face_to_face, remote_share=remote_share, risk=risk,
                  approval=approval, checklists=checklists, recording=recording,
                  source=source_name)


def _read_recording(r: _Reader, data: dict[str, Any]) -> RecordingRule:
    d = RecordingRule()
    p: Path = ("recording",)
    return RecordingRule(
        allowed=r.boolean(data, p, "allowed", d.allowed),
        retention_days=r.integer(data, p, "retention_days", d.retention_days, 1, 3660, " days"),
        on_withdrawal=r.choice(data, p, "on_withdrawal", d.on_withdrawal, OnWithdrawal),
    )


def _read_risk(r: _Reader, data: dict[str, Any]) -> Risk:
    r.unknown(data, ("risk",), frozenset({"supplement", *RISK_FACTORS}), "rule id")
    d = Risk()
    p: Path = ("risk", "supplement")
    t = r.table(data, ("risk",), "supplement", frozenset(
        {"max_days_since_face_to_face", "max_remote_share_percent", "window_days"}))
    supplement = Supplement(
        max_days_since_face_to_face=r.integer(t, p, "max_days_since_face_to_face",
                                              d.supplement.max_days_since_face_to_face,
                                              1, 3660, " days"),
        max_remote_share_percent=r.integer(t, p, "max_remote_share_percent",
                                           d.supplement.max_remote_share_percent, 0, 100, "%"),
        window_days=r.integer(t, p, "window_days", d.supplement.window_days, 1, 3660, " days"),
    )
    rules: dict[str, RiskRule] = {}
    for name in RISK_FACTORS:
        if name == "mappa":
            continue
        default: RiskRule = getattr(d, name)
        p = ("risk", name)
        t = r.table(data, ("risk",), name, frozenset({"enabled", "outcome"}))
        rules[name] = RiskRule(enabled=r.boolean(t, p, "enabled", default.enabled),
                               outcome=r.choice(t, p, "outcome", default.outcome, RiskOutcome))
    p = ("risk", "mappa")
    t = r.table(data, ("risk",), "mappa", frozenset({"enabled", "outcome", "levels"}))
    levels = d.mappa.levels
    if "levels" in t:
        raw = t["levels"]
        if (not isinstance(raw, list) or not raw
                or any(isinstance(x, bool) or x not in (1, 2, 3) for x in raw)):
            r.error((*p, "levels"), f"must be a non-empty list of MAPPA levels 1, 2 or 3, "
                                    f"got {raw!r}")
        else:
            levels = frozenset(raw)
    mappa = MappaRule(enabled=r.boolean(t, p, "enabled", d.mappa.enabled),
                      outcome=r.choice(t, p, "outcome", d.mappa.outcome, RiskOutcome),
                      levels=levels)
    return Risk(supplement=supplement, mappa=mappa, **rules)


def _read_checklists(r: _Reader, data: dict[str, Any]) -> Checklists:
    p: Path = (CHECKLIST,)
    enabled = r.boolean(data, p, "enabled", True)
    raw_items = data.get("items", [])
    if not isinstance(raw_items, list):
        r.error((*p, "items"), f"must be a list of [[checklist.items]] tables, got "
                               f"{_kind(raw_items)}")
        return Checklists(enabled=enabled)
    items: list[ChecklistItem] = []
    seen: set[str] = set()
    known = frozenset({"id", "role", "wording", "blocking", "safe_answer"})
    for index, raw in enumerate(raw_items):
        here: Path = (CHECKLIST, "items", index)
        if not isinstance(raw, dict):
            r.error(here, f"must be a table, got {_kind(raw)}")
            continue
        r.unknown(raw, here, known)
        item_id = r.text(raw, here, "id")
        if item_id and not _ITEM_ID.match(item_id):
            r.error((*here, "id"), f"must be lower-case letters, digits, '_' and '.', "
                                   f"got {item_id!r}")
        elif item_id in seen:
            r.error((*here, "id"), f"duplicate checklist item id {item_id!r}")
        seen.add(item_id)
        if "role" not in raw:
            r.error((*here, "role"), "is required")
        role = r.choice(raw, here, "role", ChecklistRole.CLIENT, ChecklistRole)
        items.append(ChecklistItem(
            id=item_id, role=role, wording=r.text(raw, here, "wording"),
            blocking=r.boolean(raw, here, "blocking", True),
            safe_answer=r.boolean(raw, here, "safe_answer", True),
        ))
    return Checklists(enabled=enabled, items=tuple(items))


def load_default_policy() -> Policy:
    """The policy shipped with Rapport (`policies/default.toml`)."""
    text = resources.files("policies").joinpath(DEFAULT_POLICY_FILE).read_text(encoding="utf-8")
    return load_policy(text, f"policies/{DEFAULT_POLICY_FILE}")
