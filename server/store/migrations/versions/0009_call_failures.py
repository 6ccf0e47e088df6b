"""call failure reports: why a person's page could not get going

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("precall_check") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("precall_check") as batch:
        batch.drop_column("reason")
