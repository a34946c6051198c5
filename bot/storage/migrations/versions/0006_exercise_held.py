"""Each exercise's holds as they happened (seconds held per side, finished or not), for the export's record
of what was done rather than what was planned (`hold_seconds` stays the planned dose).

Revision ID: 0006_exercise_held
Revises: 0005_live_message
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_exercise_held"
down_revision = "0005_live_message"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exercise_logs") as batch:
        batch.add_column(sa.Column("held", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exercise_logs") as batch:
        batch.drop_column("held")
