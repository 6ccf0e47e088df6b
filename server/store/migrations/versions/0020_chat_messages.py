"""chat messages: the text chat of a video session, kept with its contact record (#14)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 06:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("appointment_id", sa.Integer(), sa.ForeignKey("appointment.id"),
                  nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_role", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chat_message_appointment_id", "chat_message", ["appointment_id"])


def downgrade() -> None:
    op.drop_index("ix_chat_message_appointment_id", table_name="chat_message")
    op.drop_table("chat_message")
