"""The organisation's policy in force, its versions and their history.

The shipped `policies/default.toml` is every organisation's policy until an admin saves one of
their own. Each save stores the whole TOML text as a new `policy_version` row, validated first
(a text with problems is refused and the version in force stays); the newest row is in force.
Going back to an earlier version stores its text again, so the history reads as what happened.

Decisions are made with the policy in force *at that moment*: every enforcement point asks
`PolicyStore.for_organisation` inside its own transaction, so an admin's change applies to the
next decision on every process, with no restart.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from policies import Policy, PolicyError, load_policy
from policies.policy import DEFAULT_POLICY_FILE
from server.clock import now
from server.errors import N_, Conflict, Invalid, NotFound
from server.store import audit
from server.store.models import Appointment, Client, Organisation, PolicyVersion, User

SOURCE_NAME = "policy"  # how problems name the text: "policy:12: field: problem"
MIN_NOTE = 10
MAX_SOURCE = 64 * 1024


def shipped_source() -> str:
    """The text of the shipped default policy, where an organisation's first edit starts."""
    return resources.files("policies").joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")


def digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class PolicyStore:
    """The policy in force per organisation, parsed once per stored version."""

    def __init__(self, default: Policy) -> None:
        self.default = default
        self._parsed: dict[int, Policy] = {}

    def parse(self, row: PolicyVersion) -> Policy:
        policy = self._parsed.get(row.id)
        if policy is None:
            policy = load_policy(row.source, f"{SOURCE_NAME} {row.label}")
            self._parsed[row.id] = policy
        return policy

    async def for_organisation(self, db: AsyncSession, organisation_id: int) -> Policy:
        row = await newest(db, organisation_id)
        return self.default if row is None else self.parse(row)

    async def for_client(self, db: AsyncSession, client: Client) -> Policy:
        return await self.for_organisation(db, client.organisation_id)

    async def for_appointment(self, db: AsyncSession, appointment_id: int) -> Policy:
        organisation_id = await db.scalar(
            select(Client.organisation_id).join(Appointment, Appointment.client_id == Client.id)
            .where(Appointment.id == appointment_id))
        return self.default if organisation_id is None else await self.for_organisation(
            db, organisation_id)

    async def for_appointments(self, db: AsyncSession, appointment_ids: Iterable[int]
                               ) -> dict[int, Policy]:
        """The policy in force for each of these appointments, in two statements however
        many there are (a connect storm's batch, issue #17); the same as `for_appointment`."""
        ids = set(appointment_ids)
        orgs: dict[int, int] = dict((await db.execute(
            select(Appointment.id, Client.organisation_id)
            .join(Client, Appointment.client_id == Client.id)
            .where(Appointment.id.in_(ids)))).all())
        newest_ids: dict[int, int] = dict((await db.execute(
            select(PolicyVersion.organisation_id, func.max(PolicyVersion.id))
            .where(PolicyVersion.organisation_id.in_(set(orgs.values())))
            .group_by(PolicyVersion.organisation_id))).all())
        unparsed = [v for v in newest_ids.values() if v not in self._parsed]
        if unparsed:
            for row in await db.scalars(select(PolicyVersion).where(
                    PolicyVersion.id.in_(unparsed))):
                self.parse(row)
        out = dict.fromkeys(ids, self.default)
        for appointment_id, org in orgs.items():
            if org in newest_ids:
                out[appointment_id] = self._parsed[newest_ids[org]]
        return out

    async def check_stored(self, db: AsyncSession) -> None:
        """Parse every organisation's policy in force; a stored text this code refuses (after
        an upgrade, say) stops start-up naming the organisation and each problem."""
        for org in await db.scalars(select(Organisation)):
            row = await newest(db, org.id)
            if row is None:
                continue
            try:
                self.parse(row)
            except PolicyError as exc:
                raise RuntimeError(f"the policy in force for organisation {org.name!r} "
                                   f"(version {row.label!r}) is not valid: {exc}") from None


async def newest(db: AsyncSession, organisation_id: int) -> PolicyVersion | None:
    return await db.scalar(select(PolicyVersion)
                           .where(PolicyVersion.organisation_id == organisation_id)
                           .order_by(PolicyVersion.id.desc()).limit(1))


@dataclass(frozen=True, slots=True)
class VersionView:
    """A stored version with who saved it, for the history page and the API."""

    row: PolicyVersion
    author: str | None
    current: bool


async def history(db: AsyncSession, organisation_id: int) -> Sequence[VersionView]:
    rows = await db.execute(
        select(PolicyVersion, User.name).outerjoin(User, User.id == PolicyVersion.created_by_id)
        .where(PolicyVersion.organisation_id == organisation_id)
        .order_by(PolicyVersion.id.desc()))
    views = [VersionView(row, name, False) for row, name in rows]
    if views:
        views[0] = VersionView(views[0].row, views[0].author, True)
    return views


async def get_version(db: AsyncSession, actor: User, version_id: int) -> PolicyVersion:
    row = await db.get(PolicyVersion, version_id)
    if row is None or row.organisation_id != actor.organisation_id:
        raise NotFound(N_("No policy version with id {id}."), id=version_id)
    return row


def validate(source: str) -> Policy:
    """The policy a submitted text describes, or `Invalid` listing every problem by line."""
    if not source.strip():
        raise Invalid(N_("The policy text is empty."),
                      errors=[{"field": "source", "message": "empty"}])
    if len(source.encode("utf-8")) > MAX_SOURCE:
        raise Invalid(N_("The policy text is longer than {n} KB."), n=MAX_SOURCE // 1024,
                      errors=[{"field": "source", "message": "too long"}])
    try:
        return load_policy(source, SOURCE_NAME)
    except PolicyError as exc:
        raise Invalid(
            N_("The policy has {n} problem(s). Nothing was saved: the version in force "
               "stays in force."), n=len(exc.problems),
            errors=[{"field": p.field or "source", "line": p.line, "message": p.problem,
                     "text": str(p)} for p in exc.problems]) from None


async def save(db: AsyncSession, http: web.Request | None, actor: User, source: str,
               note: str, *, restored_from: PolicyVersion | None = None) -> PolicyVersion:
    """Validate and store a new version for the actor's organisation; it is in force at once."""
    source = source.replace("\r\n", "\n")
    policy = validate(source)
    note = note.strip()
    if len(note) < MIN_NOTE:
        raise Invalid(N_("Say why the policy is changing (at least {n} characters)."),
                      n=MIN_NOTE, errors=[{"field": "note", "message": "too short"}])
    sha = digest(source)
    org = actor.organisation_id
    current = await newest(db, org)
    if current is not None and current.sha256 == sha:
        raise Conflict(N_("This text is the version in force already; nothing was changed."))
    reused = await db.scalar(select(PolicyVersion).where(
        PolicyVersion.organisation_id == org, PolicyVersion.label == policy.version,
        PolicyVersion.sha256 != sha).limit(1))
    label, shipped_sha = _shipped()
    if reused is not None or (policy.version == label and sha != shipped_sha):
        # Decisions record the version label: one label must always mean one text.
        raise Invalid(N_("The version name '{label}' was already used for a different text. "
                         "Change the `version` line."), label=policy.version,
                      errors=[{"field": "version", "line": 1, "message": "already used"}])
    row = PolicyVersion(organisation_id=org, label=policy.version, source=source, sha256=sha,
                        note=note[:2000], created_at=now(), created_by_id=actor.id,
                        restored_from_id=restored_from.id if restored_from else None)
    db.add(row)
    await db.flush()
    audit.record(db, http, "policy.restore" if restored_from else "policy.change",
                 "policy_version", row.id, actor=actor, label=policy.version,
                 previous=current.label if current else _shipped()[0], note=row.note)
    return row


@functools.cache
def _shipped() -> tuple[str, str]:
    """The shipped default's version label and digest (decisions made under it carry the
    label, so no other text may take it)."""
    source = shipped_source()
    return load_policy(source, DEFAULT_POLICY_FILE).version, digest(source)


def diff(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    """A unified diff of two policy texts, line by line, for the history page."""
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name,
                                     lineterm=""))


def as_dict(view: VersionView, *, with_source: bool = False) -> dict[str, object]:
    """A stored version as the API and pages show it."""
    row = view.row
    out: dict[str, object] = {
        "id": row.id, "label": row.label, "sha256": row.sha256, "note": row.note,
        "created_at": row.created_at, "created_by": view.author,
        "restored_from_id": row.restored_from_id, "current": view.current}
    if with_source:
        out["source"] = row.source
    return out


def shipped_dict(*, current: bool, with_source: bool = False) -> dict[str, object]:
    """The shipped default as a version that was never stored (id null)."""
    label, sha = _shipped()
    out: dict[str, object] = {
        "id": None, "label": label, "sha256": sha, "note": "shipped default",
        "created_at": None, "created_by": None, "restored_from_id": None, "current": current}
    if with_source:
        out["source"] = shipped_source()
    return out
