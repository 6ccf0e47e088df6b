"""Access to personal data leaves an audit event, written in the same transaction as the act.

Events are chained (see `server.auditchain`). `record` keeps the event with the session; just
before the transaction commits, a `before_commit` hook locks the chain head row, numbers the
session's events and hashes each onto the previous one. Locking the head serialises appends
on both databases: PostgreSQL holds a row lock (`SELECT ... FOR UPDATE`) and SQLite takes its
single write lock with the head upsert, until the commit, so two transactions can never
extend the same head. Taking that lock last, at commit, keeps it short and means a
transaction holding it never waits for another lock (no deadlocks with the act's own rows).

Policy decisions and participant events (joins, admissions, checklists, leaving ...) are
audited automatically when they are stored, so no call site can forget them. Any ORM update
or delete of an audit event is refused.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from server import keys
from server.clock import now
from server.errors import N_, Forbidden
from server.store.auditchain import GENESIS, HASHED_FIELDS, Break, Verifier, entry_hash
from server.store.keys import USER
from server.store.models import (
    Appointment,
    AuditChainHead,
    AuditEvent,
    ParticipantEvent,
    PolicyDecision,
    User,
)

# session.info key: the events recorded in this transaction, appended at commit.
PENDING = "rapport_audit_pending"
# Keeps the order in which events were recorded within one flush.
_order = itertools.count()


class AuditTamperError(Forbidden):
    """Someone tried to change or delete an audit entry: refused, and itself logged."""

    slug = "audit-append-only"
    title = N_("Audit entries cannot be changed")


def record(
    db: AsyncSession | Session,
    request: web.Request | None,
    action: str,
    target_type: str,
    target_id: object = None,
    *,
    client_id: int | None = None,
    actor: User | None = None,
    **detail: Any,
) -> None:
    """Keep an audit event with the session; it commits (or rolls back) with the act itself."""
    entry = _event(request, action, target_type, target_id, client_id, actor, detail)
    db.info.setdefault(PENDING, []).append(entry)


def record_each(db: AsyncSession | Session, request: web.Request | None, action: str,
                target_type: str, client_ids: Iterable[int], **detail: Any) -> None:
    """One event per client whose data the act showed, so it is in each one's access log."""
    for client_id in sorted(set(client_ids)):
        record(db, request, action, target_type, client_id, client_id=client_id, **detail)


def _event(request: web.Request | None, action: str, target_type: str, target_id: object,
           client_id: int | None, actor: User | None, detail: dict[str, Any]) -> AuditEvent:
    who = actor if actor is not None else (request.get(USER) if request is not None else None)
    entry = AuditEvent(
        at=now(),
        actor_id=who.id if who is not None else None,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        client_id=client_id,
        request_id=request.get(keys.REQUEST_ID) if request is not None else None,
        address=request.remote if request is not None else None,
        detail=detail,
    )
    entry.__dict__["_audit_order"] = next(_order)  # plain attribute, not a column
    return entry


def fields(entry: AuditEvent) -> dict[str, Any]:
    """The hashed fields of an entry, as a mapping."""
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _lock_head(conn: Connection) -> tuple[int, str]:
    # The upsert is a write: on SQLite it takes the database's write lock before the head is
    # read, so no other writer can slip in between; on PostgreSQL FOR UPDATE holds the row.
    conn.execute(text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, :g) "
                      "ON CONFLICT (id) DO NOTHING"), {"g": GENESIS})
    # FOR UPDATE on PostgreSQL; SQLAlchemy leaves it out on SQLite, which holds the write lock.
    row = conn.execute(select(AuditChainHead.seq, AuditChainHead.hash)
                       .where(AuditChainHead.id == 1).with_for_update()).one()
    return int(row[0]), str(row[1])


def _auto(obj: object) -> AuditEvent | None:
    """The audit event for a row that is audited by being stored (client filled in later)."""
    if isinstance(obj, PolicyDecision):
        entry = _event(None, "policy.decision", "appointment", obj.appointment_id,
                       obj.client_id, None, {"point": obj.point, "outcome": obj.outcome,
                                             "rules": list(obj.rule_ids),
                                             "policy_version": obj.policy_version,
                                             "participant": obj.subject_participant_id})
        entry.actor_id = obj.actor_user_id
        return entry
    if isinstance(obj, ParticipantEvent):
        entry = _event(None, f"participant.{obj.kind}", "participant", obj.participant_id,
                       None, None, {"by_participant": obj.actor_id, **(obj.detail or {})})
        entry.__dict__["_appointment_id"] = obj.appointment_id
        return entry
    return None


@event.listens_for(Session, "before_flush")
def _guard_and_collect(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Refuse changes to audit events; note the rows that are audited by being stored."""
    touched = [o for o in list(session.dirty) + list(session.deleted)
               if isinstance(o, AuditEvent) and (o in session.deleted or session.is_modified(o))]
    if touched:
        raise AuditTamperError(N_("Audit entries can never be changed or deleted."))
    # Entries added directly (not through `record`) wait for the commit like the others.
    direct = [o for o in session.new if isinstance(o, AuditEvent) and o.seq is None]
    for entry in direct:
        session.expunge(entry)
    auto = [e for e in map(_auto, session.new) if e is not None]
    if direct or auto:
        session.info.setdefault(PENDING, []).extend(direct + auto)


def _fill_clients(conn: Connection, pending: list[AuditEvent]) -> None:
    wanted = {e.__dict__["_appointment_id"] for e in pending if "_appointment_id" in e.__dict__}
    if not wanted:
        return
    rows = conn.execute(select(Appointment.id, Appointment.client_id)
                        .where(Appointment.id.in_(wanted))).all()
    owners = {appointment_id: client_id for appointment_id, client_id in rows}
    for entry in pending:
        if "_appointment_id" in entry.__dict__:
            entry.client_id = owners.get(entry.__dict__["_appointment_id"])


@event.listens_for(Session, "before_commit")
def _append_to_chain(session: Session) -> None:
    """Number, hash and add this transaction's audit events: the last thing before commit."""
    session.flush()  # surfaces rows audited by being stored
    pending: list[AuditEvent] = session.info.pop(PENDING, [])
    if not pending:
        return
    pending.sort(key=lambda o: o.__dict__.get("_audit_order", 0))
    conn = session.connection()
    _fill_clients(conn, pending)
    seq, prev = _lock_head(conn)
    for entry in pending:
        seq += 1
        entry.seq, entry.prev_hash = seq, prev
        entry.hash = prev = entry_hash(fields(entry), prev)
    session.add_all(pending)
    conn.execute(text("UPDATE audit_chain_head SET seq = :s, hash = :h WHERE id = 1"),
                 {"s": seq, "h": prev})


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    """Events of a transaction that rolled back (or never committed) are not kept."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)


async def record_attempt(maker: async_sessionmaker[AsyncSession], request: web.Request | None,
                         action: str, target_id: object, **detail: Any) -> None:
    """Log a refused attempt in its own transaction, so it survives the refusal."""
    async with maker.begin() as db:
        record(db, request, action, "audit_event", target_id, **detail)


async def refuse_tamper(request: web.Request, entry_id: str, verb: str) -> None:
    """Any app path that tries to edit or delete an audit entry ends here."""
    await record_attempt(request.app[keys.DB], request, "audit.tamper_refused", entry_id,
                         method=verb)
    raise AuditTamperError(N_("Audit entries can never be changed or deleted. "
                              "This attempt has been logged."))


async def entries(db: AsyncSession, batch: int = 500) -> AsyncIterator[dict[str, Any]]:
    """Every entry in sequence order, streamed in batches (the log may be large)."""
    result = await db.stream(select(AuditEvent).order_by(AuditEvent.seq)
                             .execution_options(yield_per=batch))
    async for entry in result.scalars():
        yield {"id": entry.id, "prev_hash": entry.prev_hash, "hash": entry.hash, **fields(entry)}


async def verify(db: AsyncSession,
                 anchor: tuple[int, str] | None = None) -> tuple[Verifier, Break | None]:
    """Walk the whole chain (against a head kept elsewhere, if given); counts and first break."""
    verifier = Verifier(anchor=anchor)
    async for row in entries(db):
        if not verifier.feed(row):
            break
    head = await db.get(AuditChainHead, 1)
    broken = verifier.finish(head.seq if head else None, head.hash if head else None)
    return verifier, broken
