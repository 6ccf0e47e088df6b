"""checklist questions as shown: the words a person answered, and in which language

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01 23:55:00

Answers given before this migration were given under the shipped policy 2025.1 (or an
organisation's own policy); those under 2025.1 get its English wording back, so every
contact record shows the question with its answer. Policy 2026.1 reworded three questions so
that "yes" is always safe, under new ids (policies/checklist.py LEGACY_ITEMS).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None

# The shipped policy 2025.1's questions (policies/default.toml before 2026.1).
WORDING_2025_1 = {
    "client.private": "Are you somewhere private, where nobody can overhear you?",
    "client.speak_freely": "Can you speak freely?",
    "client.not_driving": "Are you driving?",
    "client.nobody_at_risk": "Is anyone with you who could be at risk, or cause risk?",
    "client.charged": "Does your phone or computer have enough battery and data for the "
                      "session?",
    "practitioner_premises.private_room": "Are you in a private room where nobody can "
                                          "overhear the session?",
    "practitioner_premises.case_checked": "Have you checked the case for domestic abuse and "
                                          "child safeguarding concerns?",
    "practitioner_home.not_overheard": "Can anyone at home overhear the session or see your "
                                       "screen?",
    "practitioner_home.work_device": "Are you using a work device?",
    "practitioner_home.neutral_background": "Is your background neutral, showing nothing "
                                            "personal?",
    "practitioner_home.case_checked": "Have you checked the case for domestic abuse and child "
                                      "safeguarding concerns?",
    "interpreter.private": "Are you somewhere private, where nobody can overhear the session?",
    "interpreter.confidential": "Will you keep everything said in this session confidential?",
}


def upgrade() -> None:
    with op.batch_alter_table("checklist_response") as batch:
        batch.add_column(sa.Column("questions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    table = sa.table("checklist_response", sa.column("id", sa.Integer()),
                     sa.column("answers", sa.JSON()), sa.column("questions", sa.JSON()),
                     sa.column("policy_version", sa.String()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(table.c.id, table.c.answers)
                        .where(table.c.policy_version == "2025.1")).all()
    for row_id, answers in rows:
        questions = {k: WORDING_2025_1[k] for k in (answers or {}) if k in WORDING_2025_1}
        bind.execute(table.update().where(table.c.id == row_id).values(questions=questions))


def downgrade() -> None:
    with op.batch_alter_table("checklist_response") as batch:
        batch.drop_column("language")
        batch.drop_column("questions")
