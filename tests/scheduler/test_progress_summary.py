"""The weekly summary through the real outbox and scheduler tick, with a fake clock: once a week at the
reminder time on the chosen day, across London's spring-forward, surviving a restart, and never twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.schedule.timing import local_instant
from bot.storage.models import ActivityLog, ExerciseSession, OutboxMessage
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler.runner import tick
from tests.flow_helpers import user_row

LONDON = ZoneInfo("Europe/London")


class TimedSender:
    """Records what was sent and at which (fake) instant."""

    platform = "console"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, Reply]] = []

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.sent.extend((self.clock.now(), r) for r in replies)

    def summaries(self) -> list[tuple[datetime, Reply]]:
        return [(at, r) for at, r in self.sent if r.image and r.image.filename.startswith("backcoach-week-")]

    def summary_texts(self) -> list[str]:
        """The text sent just before each chart."""
        return [self.sent[i - 1][1].text for i, (_, r) in enumerate(self.sent) if r.image]


async def run_days(engine: Engine, clock: FakeClock, sender: TimedSender, first: date, last: date) -> None:
    """Tick around the clock at the instants that matter (and a few that should not), day by day."""
    day = first
    while day <= last:
        for hh, mm in ((5, 59), (6, 0), (6, 30), (6, 59), (7, 0), (7, 1), (12, 0), (23, 30)):
            instant = datetime.combine(day, time(hh, mm), tzinfo=UTC)
            if instant > clock.now():
                clock.set(instant)
                await tick(engine, {"console": sender}, instant)
        day += timedelta(days=1)


async def add_week_of_history(engine: Engine, user_id: int, end: date) -> None:
    """A constructed week in London: a session each morning at 08:00 local, 20 minutes' walking each evening."""
    async with engine.sessions() as s, s.begin():
        for i in range(7):
            day = end - timedelta(days=i)
            at = local_instant(day, time(8), LONDON)
            s.add(
                ExerciseSession(
                    user_id=user_id,
                    started_at=at,
                    local_date=day,
                    status="completed",
                    pain_before=3,
                    pain_after=2,
                    helped=[],
                )
            )
            s.add(
                ActivityLog(
                    user_id=user_id, local_date=day, minutes=20, exertion=5, at=local_instant(day, time(19), LONDON)
                )
            )


async def test_sent_once_a_week_across_spring_forward_and_a_restart(
    chat: Chat, engine: Engine, clock: FakeClock, content: Content
) -> None:
    await chat.onboard(time="07:00", zone="London")
    user = await user_row(engine)
    # The DST week (clocks forward on Sun 29 March), reported by the summary after it: Sun 29 Mar - Sat 4 Apr.
    await add_week_of_history(engine, user.id, date(2026, 4, 4))
    sender = TimedSender(clock)
    await run_days(engine, clock, sender, date(2026, 3, 2), date(2026, 3, 18))
    restarted = Engine(engine.db, content, clock)  # a new process: all it knows is in the database
    await run_days(restarted, clock, sender, date(2026, 3, 19), date(2026, 4, 6))
    sent_at = [at for at, _ in sender.summaries()]
    assert sent_at == [
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # 07:00 GMT
        datetime(2026, 3, 15, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 22, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 6, 0, tzinfo=UTC),  # 07:00 BST, the morning the clocks went forward
        datetime(2026, 4, 5, 6, 0, tzinfo=UTC),
    ]
    dst_week = sender.summary_texts()[4]
    assert "Your week, Sun 29 Mar – Sat 04 Apr" in dst_week, "exactly the seven days before the summary"
    assert "Sessions done: 7" in dst_week and "140 minutes" in dst_week and "0 of 7 days" in dst_week
    assert "Sessions done: 0" in sender.summary_texts()[0]
    async with engine.sessions() as s:
        rows = (
            await s.execute(
                select(OutboxMessage.dedupe_key, OutboxMessage.status).where(OutboxMessage.dedupe_key.like("summary:%"))
            )
        ).all()
    days = [f"2026-03-{d:02d}" for d in (8, 15, 22, 29)] + ["2026-04-05", "2026-04-12"]
    assert [(key.split("@")[0], status) for key, status in sorted(rows)] == [
        *[(f"summary:{user.id}:{d}", "sent") for d in days[:-1]],
        (f"summary:{user.id}:{days[-1]}", "pending"),
    ]


async def test_changing_the_day_never_brings_two_within_a_week(chat: Chat, engine: Engine, clock: FakeClock) -> None:
    await chat.onboard(time="07:00", zone="London")
    sender = TimedSender(clock)
    await run_days(engine, clock, sender, date(2026, 3, 2), date(2026, 3, 9))
    assert [at.date() for at, _ in sender.summaries()] == [date(2026, 3, 8)]
    await chat.say("/settings")
    await chat.tap("Weekly summary")
    await chat.tap("Wednesday")
    assert "Weekly summary: Wednesdays" in chat.texts()
    await chat.say("/settings")
    await chat.tap("Weekly summary")
    await chat.tap("Wednesday")  # chosen twice: still one planned summary
    await run_days(engine, clock, sender, date(2026, 3, 10), date(2026, 3, 26))
    # not Wed 11th (3 days after Sunday's), not the stale Sunday 15th or 22nd: Wednesdays 18th and 25th
    assert [at for at, _ in sender.summaries()][1:] == [
        datetime(2026, 3, 18, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 25, 7, 0, tzinfo=UTC),
    ]


async def test_stop_holds_the_summary_and_resume_brings_it_back(chat: Chat, engine: Engine, clock: FakeClock) -> None:
    await chat.onboard(time="07:00", zone="London")
    await chat.say("/stop")
    sender = TimedSender(clock)
    await run_days(engine, clock, sender, date(2026, 3, 2), date(2026, 3, 9))
    assert sender.sent == []  # nothing proactive after /stop: no reminder, no summary
    await chat.say("/resume")
    await run_days(engine, clock, sender, date(2026, 3, 10), date(2026, 3, 16))
    assert [at for at, _ in sender.summaries()] == [datetime(2026, 3, 15, 7, 0, tzinfo=UTC)]


async def test_no_reminder_time_gets_the_summary_at_ten(chat: Chat, engine: Engine, clock: FakeClock) -> None:
    """Someone who chose no reminders still gets the weekly summary, at 10:00 local (documented default)."""
    await chat.consent_and_choose_all()
    await chat.tap("No reminders")
    await chat.tap("New York")
    sender = TimedSender(clock)
    clock.set(datetime(2026, 3, 8, 13, 59, tzinfo=UTC))  # 09:59 EDT (spring-forward day)
    await tick(engine, {"console": sender}, clock.now())
    assert sender.summaries() == []
    clock.set(datetime(2026, 3, 8, 14, 0, tzinfo=UTC))
    await tick(engine, {"console": sender}, clock.now())
    assert len(sender.summaries()) == 1
