"""When the scheduler next has something to do: the earliest reminder to claim (its due time less the claim-ahead)
or queued message to send. The runner wakes then, rather than at its next fixed tick, so a reminder goes out
within a moment of its due time; the fixed tick stays as the backstop (pauses ending, other processes' rows)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.engine import Engine
from bot.storage.models import OutboxMessage, User


async def next_instant(engine: Engine, now: datetime, *, ahead: timedelta) -> datetime | None:
    """The earliest future instant at which a claim or a send becomes due; None if nothing is scheduled."""
    reminders = select(func.min(User.next_fire_at)).where(
        User.next_fire_at > now + ahead,
        User.reminders_on.is_(True),
        User.active.is_(True),
        User.hold_reason.is_(None),
    )
    messages = select(func.min(OutboxMessage.not_before)).where(
        OutboxMessage.status == "pending", OutboxMessage.not_before > now
    )
    async with engine.sessions() as session:
        first_reminder = (await session.execute(reminders)).scalar_one_or_none()
        first_message = (await session.execute(messages)).scalar_one_or_none()
    candidates = [t for t in (first_reminder - ahead if first_reminder else None, first_message) if t is not None]
    return min((_aware(t, now) for t in candidates), default=None)


def _aware(value: datetime, like: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes unless the column type adds the zone; compare like with like."""
    return value.replace(tzinfo=like.tzinfo) if value.tzinfo is None and like.tzinfo is not None else value
