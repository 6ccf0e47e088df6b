"""staff single sign-on: linked OpenID Connect identities, sign-ins under way

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sso_identity",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("issuer", "subject", name="uq_sso_identity_issuer"),
    )
    op.create_index("ix_sso_identity_user_id", "sso_identity", ["user_id"])
    op.create_table(
        "sso_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("binding_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_path", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sso_attempt_expires_at", "sso_attempt", ["expires_at"])
    with op.batch_alter_table("staff_session") as batch:
        batch.add_column(sa.Column("sso_identity_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_session") as batch:
        batch.drop_column("sso_identity_id")
    op.drop_index("ix_sso_attempt_expires_at", table_name="sso_attempt")
    op.drop_table("sso_attempt")
    op.drop_index("ix_sso_identity_user_id", table_name="sso_identity")
    op.drop_table("sso_identity")
