"""second factors: authenticator apps, recovery codes, passkeys; sessions say when a factor was
last proved and from which device

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-01 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("second_factor", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("factors_reset_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device", sa.String(length=200), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("factor_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("factor_failures", sa.Integer(), nullable=False,
                                      server_default="0"))
    op.create_table(
        "totp_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_counter", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"],
                                name=op.f("fk_totp_factor_user_id_staff_user")),
        sa.UniqueConstraint("user_id", name=op.f("uq_totp_factor_user_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_totp_factor")),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"],
                                name=op.f("fk_recovery_code_user_id_staff_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
    )
    op.create_table(
        "passkey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"],
                                name=op.f("fk_passkey_user_id_staff_user")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkey_credential_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkey")),
    )
    op.create_table(
        "webauthn_challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("challenge", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["staff_session.id"],
                                name=op.f("fk_webauthn_challenge_session_id_staff_session")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webauthn_challenge")),
    )
    with op.batch_alter_table("recovery_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_code_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("passkey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passkey_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("webauthn_challenge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webauthn_challenge_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_code_user_id"))
    with op.batch_alter_table("passkey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passkey_user_id"))
    with op.batch_alter_table("webauthn_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webauthn_challenge_session_id"))
    op.drop_table("webauthn_challenge")
    op.drop_table("passkey")
    op.drop_table("recovery_code")
    op.drop_table("totp_factor")
    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.drop_column("factor_failures")
        batch_op.drop_column("factor_at")
        batch_op.drop_column("device")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("factors_reset_at")
        batch_op.drop_column("second_factor")
