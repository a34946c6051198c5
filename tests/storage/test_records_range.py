"""Records read by date range: the weekly summary reads its fortnight, not two years, and shows exactly what
it showed from every record; /history reads no record list at all (its recent lists have their own ranges)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.flows.dispatch import records_range
from bot.progress import week_summary
from bot.storage import repository as repo
from bot.storage.models import ActivityLog, ExerciseLog, ExerciseSession, SymptomReport, User
from bot.types import Inbound, InboundKind, UserRef

FIRST = date(2024, 3, 4)
DAYS = 120
WEEK_END = FIRST + timedelta(days=DAYS - 3)
ZONE = ZoneInfo("America/New_York")
FIRST_AT = datetime(2024, 3, 4, tzinfo=UTC)


async def _person_with_months_of_records(db: AsyncEngine) -> int:
    async with db.begin() as conn:
        user_id = (
            await conn.execute(
                insert(User)
                .values(
                    platform="console", workspace="", platform_user_id="r", chat_id="r", created_at=datetime.now(UTC)
                )
                .returning(User.id)
            )
        ).scalar_one()
        for n in range(DAYS):
            day = FIRST + timedelta(days=n)
            at = datetime.combine(day, time(12), ZONE).astimezone(UTC)
            session_id = (
                await conn.execute(
                    insert(ExerciseSession)
                    .values(
                        user_id=user_id,
                        started_at=at,
                        local_date=day,
                        status="completed" if n % 3 else "stopped",
                        pain_before=n % 7,
                        pain_after=n % 5,
                        helped=[],
                    )
                    .returning(ExerciseSession.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(ExerciseLog),
                [
                    {"user_id": user_id, "session_id": session_id, "exercise_id": ex, "result": r, "at": at}
                    for ex, r in (("pelvic_tilt", "done"), ("wall_slide", "skipped" if n % 2 else "done"))
                ],
            )
            await conn.execute(
                insert(ActivityLog).values(user_id=user_id, local_date=day, minutes=10 + n % 40, exertion=5, at=at)
            )
            if n % 4 == 0:  # late evening local time: the next day in UTC
                late = datetime.combine(day, time(23, 30), ZONE).astimezone(UTC)
                await conn.execute(
                    insert(SymptomReport).values(user_id=user_id, rule_id="spasm", source="text", at=late)
                )
    return int(user_id)


async def test_the_weekly_summary_from_its_fortnight_equals_the_one_from_every_record(db: AsyncEngine) -> None:
    user_id = await _person_with_months_of_records(db)
    event = Inbound(UserRef("console", "", "r", "r"), InboundKind.SYSTEM, action="summary", text=WEEK_END.isoformat())
    wanted, since = records_range(event)
    assert wanted and since == WEEK_END - timedelta(days=13)
    async with db.connect() as conn:
        everything = await conn.run_sync(lambda c: repo.load_records(c, user_id))
        fortnight = await conn.run_sync(lambda c: repo.load_records(c, user_id, since=since))
    assert len(fortnight.sessions) == DAYS - (since - FIRST).days < len(everything.sessions) == DAYS
    assert all(len(s.exercises) == 2 for s in fortnight.sessions)
    assert week_summary(fortnight, WEEK_END, ZONE, 30) == week_summary(everything, WEEK_END, ZONE, 30)


def test_history_reads_no_record_list_and_export_reads_them_all() -> None:
    ref = UserRef("console", "", "r", "r")
    assert records_range(Inbound(ref, InboundKind.COMMAND, text="/history")) == (False, None)
    assert records_range(Inbound(ref, InboundKind.COMMAND, text="/export")) == (True, None)
