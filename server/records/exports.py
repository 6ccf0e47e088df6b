"""Contact records exported as CSV or JSON, streamed in batches so any range fits in memory.

Rows are read `BATCH` at a time by keyset (time, id), each batch in a short read of its own,
and written to a chunked response as they come: a year of a whole team's contacts costs no
more memory than one batch, and no transaction stays open while a slow client reads.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server import keys
from server.casework import caseload
from server.errors import N_, Invalid
from server.records.facts import iso
from server.store import audit
from server.store.models import Client, Contact, ContactRecord, User

BATCH = 500
FORMATS = ("csv", "json")
COLUMNS = (
    "contact_id", "client_id", "crn", "practitioner_id", "appointment_id", "kind", "outcome",
    "happened_at", "notes", "sensitive", "record_id", "status", "attendance", "modality",
    "scheduled_start", "scheduled_end", "actual_start", "actual_end", "client_joined_at",
    "client_left_at", "client_late_minutes", "client_dropped_connections", "rtt_ms_avg",
    "loss_percent", "kbps_in_avg", "reviewed_at",
)
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ExportQuery:
    client_id: int | None
    start: datetime | None
    end: datetime | None
    format: str

    def describe(self) -> dict[str, Any]:
        return {"client": self.client_id, "from": iso(self.start), "to": iso(self.end),
                "format": self.format}


def _moment(raw: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """A date (whole local day; `end` takes the day after) or a time with a zone."""
    if len(raw) == 10:
        day = date.fromisoformat(raw)
        moment = datetime(day.year, day.month, day.day, tzinfo=zone)
        return moment + timedelta(days=1) if end else moment
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise ValueError("no time zone")
    return value


def parse_query(query: Mapping[str, str], zone: ZoneInfo) -> ExportQuery:
    """The export's client, range and format, or `Invalid` naming every field at fault."""
    errors: list[dict[str, str]] = []
    client_id: int | None = None
    raw_client = query.get("client", "").strip()
    if raw_client:
        if raw_client.isascii() and raw_client.isdigit() and len(raw_client) < 10:
            client_id = int(raw_client)
        else:
            errors.append({"field": "client", "message": "not a client id (a whole number)"})
    bounds: dict[str, datetime | None] = {"from": None, "to": None}
    for name in bounds:
        raw = query.get(name, "").strip()
        if not raw:
            continue
        try:
            bounds[name] = _moment(raw, zone, end=name == "to")
        except ValueError:
            errors.append({"field": name, "message": "not a date (2026-11-23) or a time with "
                                                     "a zone (2026-11-23T14:30:00Z)"})
    start, end = bounds["from"], bounds["to"]
    if start is not None and end is not None and end <= start:
        errors.append({"field": "to", "message": "before 'from'"})
    chosen = query.get("format", "").strip().lower() or "csv"  # `format=` (empty): the default
    if chosen not in FORMATS:
        errors.append({"field": "format", "message": "csv or json"})
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Invalid(N_("Please correct: {summary}"), errors=errors, summary=summary)
    return ExportQuery(client_id, start, end, chosen)


def _wanted(actor: User, wanted: ExportQuery) -> list[ColumnElement[bool]]:
    """The conditions that pick the export's contacts."""
    visible = caseload.visible_clients(actor).with_only_columns(Client.id)
    conditions: list[ColumnElement[bool]] = [Contact.client_id.in_(visible)]
    if wanted.client_id is not None:
        conditions.append(Contact.client_id == wanted.client_id)
    if wanted.start is not None:
        conditions.append(Contact.happened_at >= wanted.start)
    if wanted.end is not None:
        conditions.append(Contact.happened_at < wanted.end)
    return conditions


async def _clients_in(db: AsyncSession, actor: User, wanted: ExportQuery) -> list[int]:
    """The clients whose contacts the export holds."""
    query = select(Contact.client_id).distinct().where(*_wanted(actor, wanted))
    return list((await db.scalars(query)).all())


async def _batch(db: AsyncSession, actor: User, wanted: ExportQuery,
                 after: tuple[datetime, int] | None) -> Sequence[Any]:
    query = (select(Contact, ContactRecord, Client.crn)
             .join(Client, Client.id == Contact.client_id)
             .outerjoin(ContactRecord, ContactRecord.contact_id == Contact.id)
             .where(*_wanted(actor, wanted)))
    if after is not None:
        query = query.where(or_(Contact.happened_at > after[0],
                                and_(Contact.happened_at == after[0], Contact.id > after[1])))
    query = query.order_by(Contact.happened_at, Contact.id).limit(BATCH)
    return (await db.execute(query)).all()


def _client_part(record: ContactRecord | None) -> dict[str, Any]:
    if record is None:
        return {}
    people: list[Any] = list(record.summary.get("people") or [])  # type: ignore[call-overload]
    them = next((p for p in people if isinstance(p, dict) and p.get("role") == "client"), {})
    found: list[Any] = list(record.summary.get("quality") or [])  # type: ignore[call-overload]
    quality = [q for q in found if isinstance(q, dict)]
    mine = next((q for q in quality if q.get("role") == "client"), quality[0] if quality else {})
    return {"client_joined_at": them.get("joined_at"), "client_left_at": them.get("left_at"),
            "client_late_minutes": them.get("late_minutes"),
            "client_dropped_connections": them.get("dropped_connections"),
            "rtt_ms_avg": mine.get("rtt_ms_avg"), "loss_percent": mine.get("loss_percent"),
            "kbps_in_avg": mine.get("kbps_in_avg")}


def flat(contact: Contact, record: ContactRecord | None, crn: str) -> dict[str, Any]:
    """One export row: the contact, and the record's main facts if it has one."""
    row: dict[str, Any] = {
        "contact_id": contact.id, "client_id": contact.client_id, "crn": crn,
        "practitioner_id": contact.practitioner_id, "appointment_id": contact.appointment_id,
        "kind": contact.kind.value, "outcome": contact.outcome.value,
        "happened_at": iso(contact.happened_at), "notes": contact.notes,
        "sensitive": contact.sensitive,
    }
    if record is not None:
        row.update({"record_id": record.id, "status": record.status,
                    "attendance": record.attendance.value, "modality": record.modality,
                    "scheduled_start": iso(record.scheduled_start),
                    "scheduled_end": iso(record.scheduled_end),
                    "actual_start": iso(record.actual_start),
                    "actual_end": iso(record.actual_end),
                    "reviewed_at": iso(record.reviewed_at)})
        row.update(_client_part(record))
    return row


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_line(values: Sequence[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_csv_cell(v) for v in values])
    return out.getvalue().encode("utf-8")


def _json_item(contact: Contact, record: ContactRecord | None, crn: str) -> dict[str, Any]:
    item = flat(contact, record, crn)
    if record is not None:
        item["summary"] = record.summary
    return item


async def stream(request: web.Request, actor: User, wanted: ExportQuery) -> web.StreamResponse:
    """Check the client, audit the export, then stream every row batch by batch."""
    maker = request.app[keys.DB]
    async with maker.begin() as db:
        if wanted.client_id is not None:
            await caseload.get_client(db, actor, wanted.client_id)
            audit.record(db, request, "contact.export", "contact", None,
                         client_id=wanted.client_id, **wanted.describe())
        else:  # a bulk export is logged for every client it holds, in each one's access log
            included = await _clients_in(db, actor, wanted)
            audit.record(db, request, "contact.export", "contact", None,
                         clients=len(included), **wanted.describe())
            audit.record_each(db, request, "contact.export", "client", included, bulk=True,
                              **wanted.describe())
    name = f"contact-records{'-client-' + str(wanted.client_id) if wanted.client_id else ''}"
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8" if wanted.format == "csv"
        else "application/json",
        "Content-Disposition": f'attachment; filename="{name}.{wanted.format}"'})
    if request.method == "HEAD":  # headers only: a body would corrupt the connection
        await response.prepare(request)
        await response.write_eof()
        return response
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(csv_line(COLUMNS) if wanted.format == "csv" else b'{"items": [')
    after: tuple[datetime, int] | None = None
    first = True
    while True:
        async with maker() as db:
            rows = await _batch(db, actor, wanted, after)
        if not rows:
            break
        parts = []
        for contact, record, crn in rows:
            if wanted.format == "csv":
                row = flat(contact, record, crn)
                parts.append(csv_line([row.get(c) for c in COLUMNS]))
            else:
                parts.append((b"" if first else b",") + json.dumps(
                    _json_item(contact, record, crn)).encode("utf-8"))
                first = False
        await response.write(b"".join(parts))
        last = rows[-1][0]
        after = (last.happened_at, last.id)
    if wanted.format == "json":
        await response.write(b"]}")
    await response.write_eof()
    return response
