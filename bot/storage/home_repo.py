"""Read-only look-ups for the Slack App Home tab and the settings modal, so the adapter holds no SQL.

Synchronous Core functions on the caller's connection or session (`run_sync`), like the rest of the
repository; none of them writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select

from bot.flows.common import zone_named
from bot.state import History
from bot.storage import repository as repo
from bot.storage.models import ExerciseSession, User


@dataclass(frozen=True)
class HomeRow:
    """The person's row and this week's figures, as the Home tab shows them."""

    user: Row[Any]
    history: History
    sessions_7d: int


def slack_user(db: repo.Db, workspace: str, user_id: str) -> Row[Any] | None:
    """The Slack person's row, or None for someone the bot has not met. Not locked: nothing is written."""
    query = select(repo.USERS).where(
        User.platform == "slack", User.workspace == workspace, User.platform_user_id == user_id
    )
    return db.execute(query).one_or_none()


def home_row(db: repo.Db, workspace: str, user_id: str, now: datetime) -> HomeRow | None:
    """The row and the week's figures counted by the person's own calendar (their zone is on the row)."""
    user = slack_user(db, workspace, user_id)
    if user is None:
        return None
    today = now.astimezone(zone_named(user.timezone)).date()
    history = repo.load_history(db, user.id, now, today, full=False)
    sessions_7d = db.execute(
        select(func.count()).where(
            ExerciseSession.user_id == user.id,
            ExerciseSession.status == "completed",
            ExerciseSession.local_date > today - timedelta(days=7),
        )
    ).scalar_one()
    return HomeRow(user, history, int(sessions_7d))


def onboarding_state(db: repo.Db, workspace: str, user_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(profile, conversation) as stored, or None for someone new: all a time-zone hint decision needs."""
    row = db.execute(
        select(User.profile, User.conversation).where(
            User.platform == "slack", User.workspace == workspace, User.platform_user_id == user_id
        )
    ).one_or_none()
    if row is None:
        return None
    profile, conversation = row
    return profile or {}, conversation or {}
