"""The platform id of each person's live question message (bot/flows/living.py), a branch of its own off 0001.

Revision ID: 0004_live_message
Revises: 0001
Create Date: 2026-12-01 11:00:00

Written by the platform senders after a question is sent, read when it has moved on (to take its buttons
away); never written by the engine's save of the conversation, so the two cannot overwrite each other.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_live_message"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("live_message", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("live_message")
