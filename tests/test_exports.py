"""Exports of contact records: CSV and JSON, streamed in batches, bad input, audited."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from server import keys
from server.clock import now
from server.records import building as records
from server.records import exports
from server.store.models import (
    Appointment,
    AppointmentKind,
    AuditEvent,
    Contact,
    ContactKind,
    ContactOutcome,
)


async def _contacts(db: Any, world: Any, count: int, client: str = "a1",
                    notes: str = "") -> None:
    alice, c = world.users["alice"], world.clients[client]
    start = now() - timedelta(days=300)
    async with db.begin() as s:
        await s.execute(insert(Contact), [
            {"client_id": c.id, "practitioner_id": alice.id, "kind": ContactKind.FACE_TO_FACE,
             "happened_at": start + timedelta(hours=i), "outcome": ContactOutcome.ATTENDED,
             "notes": notes, "sensitive": False, "created_at": now(),
             "created_by_id": alice.id} for i in range(count)])


async def _missed_record(db: Any, world: Any) -> int:
    async with db.begin() as s:
        appointment = Appointment(client_id=world.clients["a1"].id,
                                  practitioner_id=world.users["alice"].id,
                                  kind=AppointmentKind.REMOTE,
                                  starts_at=now() - timedelta(days=2), duration_minutes=30,
                                  created_at=now() - timedelta(days=3))
        s.add(appointment)
        await s.flush()
        record = await records.build(s, appointment.id)
        return record.id


async def test_csv_export_of_a_client_in_a_range(client, db, world, login):
    staff = await login(world.users["alice"])
    await _contacts(db, world, 3, notes="=HYPERLINK(\"http://x\")")
    await _contacts(db, world, 2, client="a2")
    record_id = await _missed_record(db, world)
    a1 = world.clients["a1"].id
    response = await staff.get(f"/api/v1/contact-records?client={a1}&format=csv")
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.headers["Content-Type"].startswith("text/csv")
    assert f'contact-records-client-{a1}.csv' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert len(rows) == 4 and {r["crn"] for r in rows} == {"CRNA1"}
    # Oldest first; a spreadsheet must not run the notes as a formula.
    assert rows[0]["notes"] == "'=HYPERLINK(\"http://x\")"
    (missed,) = [r for r in rows if r["record_id"]]
    assert (missed["record_id"], missed["kind"], missed["outcome"], missed["status"]) == (
        str(record_id), "video", "failed_to_attend", "not_held")
    last_days = await staff.get(f"/api/v1/contact-records?client={a1}&from="
                                f"{(now() - timedelta(days=5)).date().isoformat()}")
    assert len(list(csv.DictReader(io.StringIO(await last_days.text())))) == 1
    async with db() as s:
        audits = (await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "contact.export"))).all()
    assert [(a.client_id, a.detail["format"]) for a in audits] == [(a1, "csv"), (a1, "csv")]


async def test_json_export_carries_the_whole_record(client, db, world, login):
    staff = await login(world.users["alice"])
    record_id = await _missed_record(db, world)
    response = await staff.get("/api/v1/contact-records?format=json")
    body = await response.json()
    (item,) = body["items"]
    assert item["record_id"] == record_id and item["summary"]["people"] == []
    assert item["summary"]["scheduled"]["start"].endswith("Z")


async def test_a_large_export_is_read_in_batches_and_streamed(client, app, db, world, login,
                                                               monkeypatch):
    staff = await login(world.users["alice"])
    monkeypatch.setattr(exports, "BATCH", 200)
    await _contacts(db, world, 1050)
    reads: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM contact JOIN client" in statement:
            reads.append(statement)

    engine = app[keys.ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        response = await staff.get("/api/v1/contact-records?from=2000-01-01&to=2100-12-31")
        assert response.headers["Transfer-Encoding"] == "chunked"
        chunks = 0
        lines = 0
        async for chunk in response.content.iter_any():
            chunks += 1
            lines += chunk.count(b"\r\n")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert lines == 1051  # the header and every contact
    # Six batches of at most 200 (the last one empty), each a query of its own with a
    # LIMIT: never everything at once.
    assert len(reads) == 7 and all("LIMIT" in r for r in reads)
    assert chunks > 1


@pytest.mark.parametrize(("query", "field"), [
    # --- malformed ranges
    ("from=2026-13-01", "from"),
    ("to=yesterday", "to"),
    ("from=2026-11-20T10:00:00", "from"),  # a time needs its zone
    ("from=2026-11-20&to=2026-11-01", "to"),  # backwards
    # --- other parameters
    ("format=xml", "format"),
    ("client=abc", "client"),
])
async def test_bad_ranges_and_parameters_are_named(client, world, login, query, field):
    staff = await login(world.users["alice"])
    response = await staff.get(f"/api/v1/contact-records?{query}")
    assert response.status == 422
    problem = await response.json()
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_unknown_and_other_peoples_clients_are_not_found(client, world, login):
    staff = await login(world.users["alice"])
    for unknown in (999999, world.clients["c1"].id):
        response = await staff.get(f"/api/v1/contact-records?client={unknown}")
        assert response.status == 404
        assert "No client with id" in (await response.json())["detail"]
    page = await staff.get("/exports/contact-records?from=2026-02-30")
    assert page.status == 422 and "from" in await page.text()


async def test_a_supervisor_exports_the_team_and_nothing_else(client, db, world, login):
    await _contacts(db, world, 2)
    await _contacts(db, world, 1, client="c1")  # carol's client, another team
    boss = await login(world.users["sue"])
    response = await boss.get("/exports/contact-records?format=csv")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert {r["crn"] for r in rows} == {"CRNA1"}
    page = await boss.get("/exports")
    assert page.status == 200 and "CRNA1" in await page.text()
