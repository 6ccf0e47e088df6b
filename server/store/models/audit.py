"""The audit log: hash-chained events, the chain's head, and the retention sweeper's permit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime


class AuditEvent(Base):
    """Who did what to which personal data, when and why. Append-only and hash-chained.

    `seq`, `prev_hash` and `hash` are filled in at flush time by `server.audit`, under a
    lock on `AuditChainHead`; database triggers refuse UPDATE and DELETE (docs/security.md).
    """

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """One row: the last sequence number and hash of the audit chain.

    Appends lock it, so they are serialised; verification compares it with the last entry,
    so removing entries from the end of the log is detected too.
    """

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditPrunePermit(Base):
    """Present only inside the retention sweeper's transaction: lets the triggers allow
    deleting audit entries up to `upto_seq` (a prefix of the log) and nothing else."""

    __tablename__ = "audit_prune_permit"
    id: Mapped[int] = mapped_column(primary_key=True)
    upto_seq: Mapped[int] = mapped_column(BigInteger)

