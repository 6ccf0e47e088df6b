"""The audit log is a hash chain: appends stay linear under concurrency, any edit or deletion
made directly in the database is found by `rapport audit verify`, and the database itself
refuses updates and deletes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker

from server.store import audit
from server.store.auditchain import GENESIS, PRUNE_ACTION, Verifier, entry_hash
from server.store.db import make_engine
from server.store.models import AuditChainHead, AuditEvent
from tests.audit_helpers import rapport_cli, tamper, write_entries

# --- the pure chain walk -------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def chain(count: int, start: int = 1, prev: str = GENESIS) -> list[dict[str, Any]]:
    rows = []
    for seq in range(start, start + count):
        row: dict[str, Any] = dict(id=seq, seq=seq, at=T0, actor_id=1, action="client.view",
                                   target_type="client", target_id=str(seq), client_id=7,
                                   request_id=None, address="127.0.0.1", detail={"n": seq},
                                   prev_hash=prev)
        row["hash"] = prev = entry_hash(row, prev)
        rows.append(row)
    return rows


def walk(rows: list[dict[str, Any]], head: tuple[int, str] | None = None) -> Any:
    verifier = Verifier()
    for row in rows:
        if not verifier.feed(row):
            break
    last = rows[-1] if rows else None
    head = head or ((last["seq"], last["hash"]) if last else (0, GENESIS))
    return verifier.finish(*head)


def test_intact_chain_has_no_break():
    assert walk(chain(5)) is None


def test_edited_entry_is_named():
    rows = chain(5)
    rows[2]["detail"] = {"n": 999}
    broken = walk(rows)
    assert (broken.seq, broken.entry_id, broken.kind) == (3, 3, "edited")


def test_deleted_middle_entry_is_named():
    rows = chain(5)
    del rows[1]
    broken = walk(rows)
    assert (broken.seq, broken.kind) == (2, "missing")


def test_deleted_last_entry_is_caught_by_the_head():
    rows = chain(5)
    head = (5, rows[-1]["hash"])
    broken = walk(rows[:-1], head)
    assert (broken.seq, broken.kind) == (5, "missing")


def test_reordered_entries_are_named():
    rows = chain(4)
    a, b = rows[2], rows[3]
    a["seq"], b["seq"] = 4, 3  # numbers swapped, as a raw UPDATE would do
    broken = walk([rows[0], rows[1], b, a], (4, b["hash"]))
    assert (broken.seq, broken.entry_id, broken.kind) == (3, 4, "reordered")


def test_pruned_prefix_needs_a_checkpoint():
    rows = chain(6)
    survivors = rows[3:]
    assert walk(survivors).kind == "missing"
    checkpoint = dict(chain(1, start=7, prev=rows[-1]["hash"])[0], action=PRUNE_ACTION,
                      detail={"upto_seq": 3, "upto_hash": rows[2]["hash"]})
    checkpoint["hash"] = entry_hash(checkpoint, checkpoint["prev_hash"])
    assert walk([*survivors, checkpoint]) is None
    forged = dict(checkpoint, detail={"upto_seq": 3, "upto_hash": "f" * 64})
    forged["hash"] = entry_hash(forged, forged["prev_hash"])
    assert walk([*survivors, forged]).kind == "missing"


# --- on the real database ------------------------------------------------------------------

async def test_entries_written_by_the_app_chain_and_verify(db, world, login):
    staff = await login(world.users["alice"])
    assert (await staff.get(f"/clients/{world.clients['a1'].id}")).status == 200
    async with db() as s:
        rows = (await s.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all()
        verifier, broken = await audit.verify(s)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 2
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert broken is None and verifier.count == len(rows)


async def test_entries_added_directly_are_chained_too(db):
    async with db.begin() as s:
        s.add(AuditEvent(at=datetime.now(UTC), action="client.view", target_type="client",
                         detail={}))
        audit.record(s, None, "client.view", "client", 2)
    async with db() as s:
        verifier, broken = await audit.verify(s)
    assert broken is None and verifier.count == 2


async def test_concurrent_appends_stay_linear(settings, app, client):
    """Many transactions on many connections at once: one line, no gaps, no forks."""
    engine = make_engine(settings)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    writers, each = 12, 5

    async def writer(w: int) -> None:
        for n in range(each):
            async with maker.begin() as s:
                audit.record(s, None, "client.view", "client", f"{w}-{n}", w=w, n=n)
                audit.record(s, None, "client.export", "client", f"{w}-{n}", w=w, n=n)

    try:
        await asyncio.gather(*(writer(w) for w in range(writers)))
        async with maker() as s:
            seqs = (await s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))).all()
            verifier, broken = await audit.verify(s)
            head = await s.get(AuditChainHead, 1)
    finally:
        await engine.dispose()
    total = writers * each * 2
    assert list(seqs) == list(range(1, total + 1))
    assert broken is None and verifier.count == total
    assert head is not None and head.seq == total


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'nothing' WHERE seq = 2",
    "DELETE FROM audit_event WHERE seq = 2",
])
async def test_database_refuses_update_and_delete(db, settings, statement):
    await write_entries(db, 3)
    engine = make_engine(settings)
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()
    async with db() as s:
        assert (await audit.verify(s))[1] is None


async def test_postgres_refuses_truncate(db, settings):
    if settings.is_sqlite:
        pytest.skip("SQLite has no TRUNCATE")
    await write_entries(db, 2)
    engine = make_engine(settings)
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE audit_event"))
    finally:
        await engine.dispose()


async def test_orm_update_and_delete_are_refused(db):
    await write_entries(db, 2)
    with pytest.raises(audit.AuditTamperError):
        async with db.begin() as s:
            entry = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 1))
            assert entry is not None
            entry.action = "changed"
    with pytest.raises(audit.AuditTamperError):
        async with db.begin() as s:
            entry = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 1))
            await s.delete(entry)


# --- `rapport audit verify` after raw SQL edits --------------------------------------------

async def _verify_cli(url: str) -> Any:
    return await asyncio.to_thread(rapport_cli, url, "audit", "verify")


async def test_verify_passes_then_names_the_edited_entry(db, settings):
    await write_entries(db, 5)
    ok = await _verify_cli(settings.database_url)
    assert ok.returncode == 0, ok.stderr
    assert "intact: 5 entries (seq 1 to 5)" in ok.stdout
    await tamper(settings.database_url,
                 "UPDATE audit_event SET target_id = 'someone-else' WHERE seq = 3")
    bad = await _verify_cli(settings.database_url)
    assert bad.returncode == 1
    assert "BROKEN at seq 3" in bad.stderr and "edited" in bad.stderr


async def test_verify_names_the_deleted_entry(db, settings):
    await write_entries(db, 5)
    await tamper(settings.database_url, "DELETE FROM audit_event WHERE seq = 2")
    bad = await _verify_cli(settings.database_url)
    assert bad.returncode == 1
    assert "BROKEN at seq 2" in bad.stderr and "missing" in bad.stderr


async def test_verify_names_a_deleted_last_entry(db, settings):
    await write_entries(db, 4)
    await tamper(settings.database_url, "DELETE FROM audit_event WHERE seq = 4")
    bad = await _verify_cli(settings.database_url)
    assert bad.returncode == 1 and "BROKEN at seq 4" in bad.stderr


async def test_verify_names_reordered_entries(db, settings):
    await write_entries(db, 4)
    # Swap the sequence numbers of 2 and 3 (through a free number, seq is unique).
    await tamper(settings.database_url,
                 "UPDATE audit_event SET seq = 1000 WHERE seq = 2",
                 "UPDATE audit_event SET seq = 2 WHERE seq = 3",
                 "UPDATE audit_event SET seq = 3 WHERE seq = 1000")
    bad = await _verify_cli(settings.database_url)
    assert bad.returncode == 1
    assert "BROKEN at seq 2" in bad.stderr and "reordered" in bad.stderr


# --- the migration chains entries written before it ----------------------------------------

async def test_migration_backfills_a_verifiable_chain(database_url, tmp_path):
    from sqlalchemy.ext.asyncio import create_async_engine

    from server.store import migrate

    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path}/backfill.db"
    else:
        base, _, name = database_url.rpartition("/")
        url = f"{base}/{name}_backfill"
        admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_backfill" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}_backfill"'))
        await admin.dispose()
    engine = create_async_engine(url)
    try:
        await migrate.upgrade(engine, "0003")
        async with engine.begin() as conn:
            for n in range(3):
                await conn.execute(text(
                    "INSERT INTO audit_event (at, action, target_type, target_id, detail) "
                    "VALUES (:at, 'client.view', 'client', :t, :d)"),
                    {"at": datetime(2026, 1, 1, 9, n, 0, 123456, tzinfo=UTC).replace(
                        tzinfo=None) if url.startswith("sqlite") else
                     datetime(2026, 1, 1, 9, n, 0, 123456, tzinfo=UTC),
                     "t": str(n), "d": json.dumps({"n": n})})
        await migrate.upgrade(engine)
        maker = async_sessionmaker(engine, expire_on_commit=False)
        async with maker.begin() as s:
            audit.record(s, None, "client.view", "client", 9)
        async with maker() as s:
            verifier, broken = await audit.verify(s)
        assert broken is None and verifier.count == 4
    finally:
        await engine.dispose()
