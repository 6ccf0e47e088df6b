"""audit chain: sequence and hashes on audit_event, chain head, prune permit, triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from server.store.auditchain import GENESIS, HASHED_FIELDS, entry_hash

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The triggers that make audit_event append-only in the database itself. The only deletes
# allowed are of entries up to a sequence number named in audit_prune_permit, a row the
# retention sweeper writes and removes inside its own transaction (docs/security.md).
SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: entries cannot be changed'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    WHEN NOT EXISTS (SELECT 1 FROM audit_prune_permit WHERE OLD.seq <= upto_seq)
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: entries cannot be deleted'); END""",
]
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND EXISTS (
            SELECT 1 FROM audit_prune_permit WHERE OLD.seq <= upto_seq) THEN
            RETURN OLD;
        END IF;
        IF TG_OP = 'TRUNCATE' AND EXISTS (
            SELECT 1 FROM audit_prune_permit
            WHERE upto_seq >= (SELECT coalesce(max(seq), 0) FROM audit_event)) THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard()""",
]
DROP = {
    "sqlite": ["DROP TRIGGER IF EXISTS audit_event_no_update",
               "DROP TRIGGER IF EXISTS audit_event_no_delete"],
    "postgresql": ["DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
                   "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
                   "DROP FUNCTION IF EXISTS audit_event_guard()"],
}


def _backfill() -> tuple[int, str]:
    """Chain the entries written before this migration, in the order they were stored."""
    from server.store.models import UTCDateTime

    conn = op.get_bind()
    types: dict[str, Any] = {
        "at": UTCDateTime(), "actor_id": sa.Integer(), "client_id": sa.Integer(),
        "detail": sa.JSON()}
    table = sa.table("audit_event", sa.column("id", sa.Integer), sa.column("seq", sa.BigInteger),
                     sa.column("prev_hash", sa.String), sa.column("hash", sa.String),
                     *(sa.column(name, types.get(name, sa.String()))
                       for name in HASHED_FIELDS if name != "seq"))
    hashed = [table.c[name] for name in HASHED_FIELDS if name != "seq"]
    seq, prev = 0, GENESIS
    rows = conn.execute(sa.select(table.c.id, *hashed).order_by(table.c.id)).mappings()
    for row in list(rows):
        seq += 1
        values = dict(row, seq=seq)
        digest = entry_hash(values, prev)
        conn.execute(table.update().where(table.c.id == row["id"])
                     .values(seq=seq, prev_hash=prev, hash=digest))
        prev = digest
    return seq, prev


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_prune_permit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_prune_permit")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    seq, head = _backfill()
    op.get_bind().execute(sa.text("INSERT INTO audit_chain_head (id, seq, hash) "
                                  "VALUES (1, :s, :h)"), {"s": seq, "h": head})
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_event_seq"), ["seq"])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_event_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_table("audit_prune_permit")
    op.drop_table("audit_chain_head")
