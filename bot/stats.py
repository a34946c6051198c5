"""`backcoach stats`: operator figures with no personal data — counts only, never ids, names or texts.

"This week" is the rolling 7 days before now (UTC instants): an operator's view across every time zone.
Adherence = completed sessions / reminders sent in that window (None when no reminder was sent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.models import ExerciseSession, OutboxMessage, ProcessedEvent, SymptomReport, User

WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Stats:
    users: int
    blocked: int
    active_7d: int  # wrote to the bot or did a session in the window
    sessions_7d: int  # completed
    reminders_7d: int  # sent
    safety_7d: dict[str, int] = field(default_factory=dict)  # safety rule id -> reports

    @property
    def adherence(self) -> float | None:
        return self.sessions_7d / self.reminders_7d if self.reminders_7d else None


async def collect(db: AsyncEngine, now: datetime) -> Stats:
    since = now - WINDOW
    async with db.connect() as conn:
        users, blocked = (
            await conn.execute(select(func.count(), func.count().filter(User.active.is_(False))).select_from(User))
        ).one()
        active_ids = union(
            select(ProcessedEvent.user_id).where(ProcessedEvent.at >= since),
            select(ExerciseSession.user_id).where(ExerciseSession.started_at >= since),
        ).subquery()
        active = (await conn.execute(select(func.count()).select_from(active_ids))).scalar_one()
        sessions = (
            await conn.execute(
                select(func.count())
                .select_from(ExerciseSession)
                .where(ExerciseSession.status == "completed", ExerciseSession.started_at >= since)
            )
        ).scalar_one()
        reminders = (
            await conn.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.kind == "reminder",
                    OutboxMessage.status == "sent",
                    OutboxMessage.sent_at >= since,
                )
            )
        ).scalar_one()
        safety: dict[str, int] = dict(
            (
                await conn.execute(
                    select(SymptomReport.rule_id, func.count())
                    .where(SymptomReport.at >= since)
                    .group_by(SymptomReport.rule_id)
                )
            )
            .tuples()
            .all()
        )
    return Stats(users, blocked, active, sessions, reminders, {k: int(v) for k, v in safety.items()})


def render(stats: Stats, now: datetime) -> str:
    adherence = "n/a (no reminders sent)" if stats.adherence is None else f"{stats.adherence:.0%}"
    lines = [
        f"BackCoach stats, 7 days to {now:%Y-%m-%d %H:%M} UTC",
        f"users: {stats.users} ({stats.blocked} blocked the bot)",
        f"active users: {stats.active_7d}",
        f"sessions completed: {stats.sessions_7d}",
        f"reminders sent: {stats.reminders_7d}",
        f"adherence (sessions / reminders): {adherence}",
        "safety events by kind:" + ("" if stats.safety_7d else " none"),
    ]
    lines += [f"  {rule}: {count}" for rule, count in sorted(stats.safety_7d.items())]
    return "\n".join(lines)


async def report(db: AsyncEngine, now: datetime) -> str:
    return render(await collect(db, now), now)
