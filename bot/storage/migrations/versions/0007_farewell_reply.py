"""A reply to someone who has just erased everything (the "/delete" confirmation) is kept durably too: an
outbox row with no user, addressed by the platform chat id in its payload, removed once it is settled.

Revision ID: 0007_farewell_reply
Revises: 0006_exercise_held
Create Date: 2026-12-01 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_farewell_reply"
down_revision = "0006_exercise_held"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE user_id IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
