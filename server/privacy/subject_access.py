"""Everything held about one client, for a subject access request: which rows, and how they
are written out (JSON for machines, an HTML document for people), streamed table by table.

`COVERAGE` says, for every table that can hold data about a client, how to find that
client's rows; `NOT_ABOUT_CLIENTS` names every other table with the reason. A test walks
`Base.metadata` and fails for a table in neither, so a new table is a one-line decision:

    COVERAGE["consent_event"] = Source(via("appointment_id", "appointment"))
"""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import ColumnElement, Table, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.errors import N_
from server.i18n import current_language
from server.i18n import gettext as _
from server.privacy import words
from server.store.models import Base, User

Where = Callable[[Table, int], ColumnElement[bool]]
Review = Callable[[Mapping[str, Any]], str | None]
Write = Callable[[bytes], Awaitable[None]]

# Never disclosed, not even to the person themselves: they are secrets, not information.
SECRET_COLUMNS = frozenset({"token_hash", "secret_hash", "password_hash", "csrf_token"})
FOR_REVIEW = N_("For review before disclosure")
BATCH = 500


def _nobody(_row: Mapping[str, Any]) -> str | None:
    return None


@dataclass(frozen=True)
class Source:
    """How to find one client's rows in a table, and which rows need review first."""

    where: Where
    review: Review = _nobody
    label: str = ""


def by_client(column: str = "client_id") -> Where:
    """Rows whose own column names the client."""
    return lambda table, client_id: table.c[column] == client_id


def via(column: str, parent: str) -> Where:
    """Rows linked (by `column`) to the client's rows in another covered table."""
    def where(table: Table, client_id: int) -> ColumnElement[bool]:
        up = Base.metadata.tables[parent]
        return table.c[column].in_(select(up.c.id).where(COVERAGE[parent].where(up, client_id)))
    return where


def _sensitive(row: Mapping[str, Any]) -> str | None:
    return N_("The practitioner flagged this record as sensitive.") if row.get("sensitive") \
        else None


def _third_party(row: Mapping[str, Any]) -> str | None:
    return None if row.get("role") == "client" else \
        N_("This is about another person present (staff or interpreter).")


def _chat_author(row: Mapping[str, Any]) -> str | None:
    return None if row.get("author_role") == "client" else \
        N_("Written by another person in the session (staff or interpreter).")


def _risk(row: Mapping[str, Any]) -> str | None:
    risky = row.get("mappa_level") or row.get("safeguarding_flags") or \
        row.get("rosh_level") in ("high", "very_high")
    return N_("Risk and safeguarding information: disclosure may be restricted "
              "(DPA 2018 s.45(4)).") if risky else None


COVERAGE: dict[str, Source] = {
    "client": Source(lambda t, client_id: t.c.id == client_id, _risk, N_("Your details")),
    "contact": Source(by_client(), _sensitive, N_("Contacts with probation")),
    "appointment": Source(by_client(), label=N_("Appointments")),
    "approval": Source(by_client(), label=N_("Approvals of remote contact")),
    "policy_decision": Source(by_client(), label=N_("Decisions of the contact rules")),
    "invitation": Source(via("appointment_id", "appointment"), label=N_("Links sent to join")),
    "call_session": Source(via("appointment_id", "appointment"), label=N_("Video sessions")),
    "participant": Source(via("appointment_id", "appointment"), _third_party,
                          N_("People in your video sessions")),
    "participant_event": Source(via("appointment_id", "appointment"),
                                label=N_("Joining and leaving times")),
    "checklist_response": Source(via("appointment_id", "appointment"), _third_party,
                                 N_("Safe-space check answers")),
    "audit_event": Source(by_client(), label=N_("Who accessed your information")),
    "contact_record": Source(by_client(), label=N_("Records of video sessions")),
    "contact_version": Source(via("contact_id", "contact"), _sensitive,
                              N_("Earlier versions of contact notes")),
    "call_quality": Source(via("call_session_id", "call_session"),
                           label=N_("Call quality in your video sessions")),
    # What was recorded and when (the files themselves are sent separately on request).
    "recording": Source(via("appointment_id", "appointment"),
                        label=N_("Recordings of your video sessions")),
    "consent_event": Source(via("appointment_id", "appointment"),
                            label=N_("Answers about recording")),
    "precall_check": Source(via("appointment_id", "appointment"),
                            label=N_("Checks of camera, microphone and connection")),
    "outbox_message": Source(by_client(), label=N_("Messages sent to you")),
    "chat_message": Source(via("appointment_id", "appointment"), _chat_author,
                           N_("Chat messages in your video sessions")),
}

NOT_ABOUT_CLIENTS: dict[str, str] = {
    "organisation": "the probation service's own name",
    "team": "staff team names",
    "staff_user": "staff accounts",
    "staff_session": "staff sign-in sessions",
    "api_token": "staff API tokens",
    "login_throttle": "failed staff sign-ins by email and address",
    "trusted_device": "staff browsers that signed in before (hashed device tokens)",
    "audit_chain_head": "the audit chain's last hash",
    "policy_version": "the organisation's policy texts",
    "audit_prune_permit": "a marker that exists only inside a retention transaction",
    "totp_factor": "staff authenticator-app secrets",
    "recovery_code": "hashes of staff recovery codes",
    "passkey": "staff passkeys (public keys)",
    "webauthn_challenge": "a staff passkey ceremony's challenge, kept for minutes",
    "sso_identity": "staff single sign-on identities (issuer, subject, email)",
    "sso_attempt": "a staff single sign-on under way (state, nonce), kept for minutes",
    "webhook": "the address and secret of the organisation's case system",
}


def plain(value: Any) -> Any:
    """A column value as JSON: times and dates in ISO 8601, enumerations by value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


async def rows(db: AsyncSession, name: str, client_id: int, *, raw: bool = False
               ) -> AsyncIterator[tuple[dict[str, Any], str | None]]:
    """The client's rows of one table, streamed, each with its review reason (or None);
    values as JSON would have them (`plain`) unless `raw`."""
    table = Base.metadata.tables[name]
    source = COVERAGE[name]
    columns = [c for c in table.columns if c.name not in SECRET_COLUMNS]
    order = table.c.seq if name == "audit_event" else table.primary_key.columns.values()[0]
    result = await db.stream(select(*columns).where(source.where(table, client_id))
                             .order_by(order).execution_options(yield_per=BATCH))
    async for row in result.mappings():
        values = dict(row) if raw else {key: plain(value) for key, value in row.items()}
        yield values, source.review(values)


async def write_json(db: AsyncSession, client_id: int, write: Write) -> dict[str, int]:
    """The export as one JSON document, written as it is read; returns rows per table."""
    head = {"format": "rapport-subject-access/1", "client_id": client_id,
            "generated_at": now().isoformat(), "review_marker": FOR_REVIEW}
    await write(json.dumps(head)[:-1].encode() + b', "tables": {')
    counts: dict[str, int] = {}
    for index, name in enumerate(COVERAGE):
        await write(("," if index else "").encode() + json.dumps(name).encode() + b": [")
        counts[name] = 0
        buffer: list[str] = []
        async for values, review in rows(db, name, client_id):
            if review is not None:
                values["_review"] = {"status": FOR_REVIEW, "reason": review}
            buffer.append(json.dumps(values, default=str))
            counts[name] += 1
            if len(buffer) >= BATCH:
                await write(_joined(buffer, counts[name] > len(buffer)))
                buffer = []
        if buffer:
            await write(_joined(buffer, counts[name] > len(buffer)))
        await write(b"]")
    staff = {str(i): name for i, name in await staff_named(db, client_id)}
    await write(b'}, "staff": ' + json.dumps(staff).encode() + b"}\n")
    return counts


async def staff_named(db: AsyncSession, client_id: int) -> list[tuple[int, str]]:
    """Staff whose ids appear in the client's rows, so a reader sees names, not numbers."""
    parts = []
    for name, source in COVERAGE.items():
        table = Base.metadata.tables[name]
        parts += [select(column.label("id")).where(source.where(table, client_id))
                  for column in table.columns
                  if any(fk.column.table.name == "staff_user" for fk in column.foreign_keys)]
    ids = union(*parts).subquery()
    query = select(User.id, User.name).where(User.id.in_(select(ids.c.id))).order_by(User.id)
    return [(i, n) for i, n in await db.execute(query)]


def _joined(items: list[str], after_earlier: bool) -> bytes:
    return (("," if after_earlier else "") + ",".join(items)).encode()


async def write_html(db: AsyncSession, client_id: int, crn: str, write: Write,
                     reference: str | None, zone: ZoneInfo) -> dict[str, int]:
    """The export as a print-friendly HTML document in plain words, written table by table."""
    title = escape(_("Information held about {crn}").format(crn=crn))
    produced = _("Produced on {when}. Times are in the time zone {zone}, 24-hour clock.").format(
        when=words.when(now(), zone), zone=zone.key)
    if reference:
        produced += " " + _("Request reference: {ref}").format(ref=reference)
    notice = _("Items marked “{marker}” must be checked by the data protection officer "
               "before this document is given to the person.").format(marker=_(FOR_REVIEW))
    technical = _("Internal numbers, keys and checksums are left out here; they are in the "
                  "machine-readable file.")
    await write(
        f'<!doctype html><html lang="{current_language()}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/subject_access.css">'
        f'</head><body><main><h1>{title}</h1><p>{escape(produced)}</p>'
        f'<p class="notice">{escape(notice)}</p><p>{escape(technical)}</p>'.encode())
    staff = dict(await staff_named(db, client_id))
    counts: dict[str, int] = {}
    for name, source in COVERAGE.items():
        counts[name] = await _html_table(db, name, source, client_id, write, zone, staff)
    await write(b"</main></body></html>\n")
    return counts


async def _html_table(db: AsyncSession, name: str, source: Source, client_id: int,
                      write: Write, zone: ZoneInfo, staff: Mapping[int, str]) -> int:
    """One table as a list of records (field: value), readable on a phone and on paper."""
    label = escape(_(source.label) if source.label else words.field(name))
    await write(f"<section><h2>{label}</h2>".encode())
    table = Base.metadata.tables[name]
    people = {c.name for c in table.columns
              if any(fk.column.table.name == "staff_user" for fk in c.foreign_keys)}
    count = 0
    async for values, review in rows(db, name, client_id, raw=True):
        count += 1
        flag = (f'<p class="flag"><strong>{escape(_(FOR_REVIEW))}</strong>: '
                f"{escape(_(review))}</p>") if review else ""
        fields = "".join(f"<dt>{escape(key)}</dt><dd>{escape(text)}</dd>"
                         for key, text in _cells(name, values, zone, staff, people))
        kind = "record review" if review else "record"
        await write(f'<div class="{kind}">{flag}<dl>{fields}</dl></div>'.encode())
    if not count:
        await write(f"<p>{escape(_('Nothing held.'))}</p>".encode())
    await write(b"</section>")
    return count


def _cells(name: str, values: Mapping[str, Any], zone: ZoneInfo, staff: Mapping[int, str],
           people: set[str]) -> list[tuple[str, str]]:
    """A row as (label, words): codes in words, staff by name, technical columns left out."""
    out = []
    for key, raw in values.items():
        if key in words.TECHNICAL or key == "client_id" or \
                key in HIDDEN_IN_DOCUMENT.get(name, ()):
            continue
        if key == "action":
            text = words.action(str(raw))
        elif key in people and isinstance(raw, int):
            text = staff.get(raw) or _("Member of staff {n}").format(n=raw)
        elif name == "checklist_response" and key == "answers" and isinstance(raw, dict):
            questions = values.get("questions") or {}
            text = "; ".join(f"{questions.get(k) or words.field(k)} {words.value(v, zone)}"
                             for k, v in raw.items())
        else:
            text = words.value(raw, zone, key)
        out.append((words.field(key), text))
    return out


# Columns another column already says in words (an audit entry's action says its target;
# the document is about the client, so their own number is left out everywhere).
HIDDEN_IN_DOCUMENT: dict[str, tuple[str, ...]] = {
    "audit_event": ("target_type", "target_id"),
    "checklist_response": ("questions",),
}
