"""The platform id of each person's live question message (bot/flows/living.py); also joins the branches
(Slack's installation store, the inbox), so there is one head.

Revision ID: 0005_live_message
Revises: 0003_slack_installations, 0004_inbox_and_fencing
Create Date: 2026-12-01 11:00:00

Written by the platform senders after a question is sent, read when it has moved on (to take its buttons
away); never written by the engine's save of the conversation, so the two cannot overwrite each other.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_live_message"
down_revision = ("0003_slack_installations", "0004_inbox_and_fencing")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("live_message", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("live_message")
