"""pre-call checks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "precall_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("rtt_ms", sa.Integer(), nullable=True),
        sa.Column("loss_percent", sa.Integer(), nullable=True),
        sa.Column("bitrate_kbps", sa.Integer(), nullable=True),
        sa.Column("camera", sa.Boolean(), nullable=False),
        sa.Column("microphone", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"],
                                name=op.f("fk_precall_check_appointment_id_appointment")),
        sa.ForeignKeyConstraint(["participant_id"], ["participant.id"],
                                name=op.f("fk_precall_check_participant_id_participant")),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"],
                                name=op.f("fk_precall_check_user_id_staff_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_precall_check")),
    )
    with op.batch_alter_table("precall_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_precall_check_appointment_id"), ["appointment_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_precall_check_participant_id"), ["participant_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("precall_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_precall_check_participant_id"))
        batch_op.drop_index(batch_op.f("ix_precall_check_appointment_id"))
    op.drop_table("precall_check")
