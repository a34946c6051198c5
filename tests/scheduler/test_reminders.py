"""The daily reminder end to end: claimed by the scheduler tick, built by the core, sent through the outbox,
answered through Engine.handle (start, snooze, skip with reasons, "my back is worse", ignoring it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.schedule.planning import plan_next_fire
from bot.state import Schedule
from bot.storage.models import OutboxMessage, ReminderResponse, User
from bot.types import Reply
from scheduler.runner import tick

ONBOARDED = {"consented": True, "onboarded": True, "exercises": []}


async def onboard(chat: Chat, *, at: str = "07:00", zone: str = "Europe/London") -> None:
    """Onboard by typing the time and zone, as a person would."""
    await chat.consent_and_choose_all()
    await chat.say(at)
    await chat.say(zone)
    assert "all set" in chat.texts().lower(), chat.texts()


async def deliver(chat: Chat, clock: FakeClock, *, grace: timedelta = timedelta(hours=2)) -> list[Reply]:
    """One scheduler tick at the clock's current time; returns what the person received."""
    before = len(chat.sender.sent)
    await tick(chat.engine, {chat.user.platform: chat.sender}, clock.now(), grace=grace)
    got = [r for _, r in chat.sender.sent[before:]]
    if got:
        chat.last = got
    return got


async def run_until(
    chat: Chat, clock: FakeClock, end: datetime, step: timedelta = timedelta(minutes=15)
) -> list[tuple[datetime, Reply]]:
    """Tick every `step` until `end`, recording when each message arrived."""
    seen: list[tuple[datetime, Reply]] = []
    while clock.now() < end:
        clock.advance(step)
        seen.extend((clock.now(), r) for r in await deliver(chat, clock))
    return seen


def reminders(seen: list[tuple[datetime, Reply]]) -> list[datetime]:
    return [at for at, r in seen if any(":g.remind." in b.action for b in r.buttons)]


async def add_users(db: AsyncEngine, now: datetime, specs: list[dict[str, Any]], *, platform: str = "console") -> None:
    """Bulk-insert onboarded users with schedules (zone, at, weekdays...), next_fire_at planned as the engine does."""
    rows = []
    for i, spec in enumerate(specs):
        schedule = Schedule(
            timezone=spec.get("zone", "UTC"),
            reminder_time=spec.get("at", "07:00"),
            weekdays=spec.get("weekdays", 0b1111111),
            reminders_on=True,
        )
        profile = {**ONBOARDED, **spec.get("profile", {})}
        next_fire = spec.get("next_fire_at") or plan_next_fire(
            schedule, now, quiet_start=profile.get("quiet_start"), quiet_end=profile.get("quiet_end")
        )
        rows.append(
            {
                "platform": platform,
                "workspace": "",
                "platform_user_id": spec.get("id", f"p{i}"),
                "chat_id": spec.get("id", f"p{i}"),
                "created_at": now,
                "active": True,
                "profile": profile,
                "conversation": {"flow": "idle"},
                "timezone": schedule.timezone,
                "reminder_time": schedule.reminder_time,
                "weekdays": schedule.weekdays,
                "reminders_on": True,
                "next_fire_at": next_fire,
            }
        )
    if rows:
        async with db.begin() as conn:
            await conn.execute(insert(User), rows)


async def responses(engine: Engine) -> list[tuple[str, str | None]]:
    async with engine.sessions() as s:
        rows = (
            await s.execute(select(ReminderResponse.response, ReminderResponse.reason).order_by(ReminderResponse.id))
        ).all()
    return [tuple(r) for r in rows]


async def set_user(engine: Engine, **values: Any) -> None:
    async with engine.sessions() as s, s.begin():
        await s.execute(update(User).values(**values))


# ---------------------------------------------------------------------------------------------------------


async def test_one_reminder_a_day_with_buttons_and_stop_hint(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30", zone="Europe/London")  # 2026-03-02 07:00Z, a Monday, GMT
    seen = await run_until(chat, clock, clock.now() + timedelta(days=3))
    assert reminders(seen) == [datetime(2026, 3, d, 7, 30, tzinfo=UTC) for d in (2, 3, 4)]
    first = next(r for at, r in seen if at in reminders(seen))
    assert "/stop" in first.text
    assert [b.label for b in first.buttons] == [
        "Start now",
        "Snooze 1 h",
        "Skip today",
        "My back is worse",
        "Change time",
    ]
    async with chat.engine.sessions() as s:
        keys = (await s.execute(select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "reminder"))).scalars()
        assert sorted(keys) == [f"reminder:1:2026-03-0{d}" for d in (2, 3, 4)]


async def test_dedupe_key_backstops_served_through(chat: Chat, clock: FakeClock) -> None:
    """Even if served_through were lost, the unique key `reminder:<user>:<local date>` refuses a second row."""
    await onboard(chat, at="07:30")
    await run_until(chat, clock, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    await set_user(chat.engine, served_through=None, next_fire_at=datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    assert await deliver(chat, clock) == []
    async with chat.engine.sessions() as s:
        assert (
            await s.execute(select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "reminder"))
        ).scalars().all() == ["reminder:1:2026-03-02"]  # (the weekly summary's event is kind "event")
        assert (await s.execute(select(User.served_through))).scalar_one() == date(2026, 3, 2)


async def test_start_now_runs_a_session(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    await run_until(chat, clock, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    reminder = chat.last
    await chat.tap("Start now")
    async with chat.engine.sessions() as s:
        assert (await s.execute(select(User.conversation))).scalar_one()["flow"] == "session"
    assert ("started", None) in await responses(chat.engine)
    await chat.tap("Start now", replies=reminder)  # a second tap: already running
    assert "middle of a session" in chat.texts().lower()


async def test_snooze_by_button_and_by_text(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    await run_until(chat, clock, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    await chat.tap("Snooze")
    assert "08:30" in chat.texts()
    seen = await run_until(chat, clock, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert reminders(seen) == [datetime(2026, 3, 2, 8, 30, tzinfo=UTC)]
    assert "again" in seen[0][1].text
    await chat.say("later")  # typed, while the snoozed reminder is the current conversation
    assert "10:00" in chat.texts()
    seen = await run_until(chat, clock, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    assert reminders(seen) == [datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 3, 7, 30, tzinfo=UTC)]
    assert await responses(chat.engine) == [("snoozed", None), ("snoozed", None)]


async def test_snooze_respects_quiet_hours(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="21:30")
    await set_user(chat.engine, profile={**ONBOARDED, "quiet_start": "22:00", "quiet_end": "07:00"})
    await run_until(chat, clock, datetime(2026, 3, 2, 21, 30, tzinfo=UTC))
    await chat.tap("Snooze")  # 22:30 is in quiet hours: it comes back when they end
    assert "07:00" in chat.texts()
    seen = await run_until(chat, clock, datetime(2026, 3, 3, 22, 0, tzinfo=UTC))
    assert reminders(seen) == [datetime(2026, 3, 3, 7, 0, tzinfo=UTC), datetime(2026, 3, 3, 21, 30, tzinfo=UTC)]


async def test_snooze_never_collides_with_the_next_reminder(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    await set_user(chat.engine, profile={**ONBOARDED, "quiet_start": "22:00", "quiet_end": "07:00"})
    await run_until(chat, clock, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))  # snoozed late: quiet until 07:00, then 07:30 is due
    await chat.tap("Snooze")
    assert "next reminder at 07:30" in chat.texts()
    seen = await run_until(chat, clock, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    assert reminders(seen) == [datetime(2026, 3, 3, 7, 30, tzinfo=UTC)]


async def test_a_day_old_reminder_cannot_be_snoozed_or_skipped(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    await run_until(chat, clock, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    old = chat.last
    await run_until(chat, clock, datetime(2026, 3, 3, 7, 0, tzinfo=UTC))
    await chat.tap("Snooze", replies=old)
    assert "earlier day" in chat.texts()
    await chat.tap("Skip", replies=old)
    assert "earlier day" in chat.texts()
    assert await responses(chat.engine) == []


async def test_skip_by_text_with_reason_recorded_apart_from_done(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    await run_until(chat, clock, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    await chat.say("not today")
    assert [b for b in chat.labels()] == ["Pain", "No time", "Other"]
    await chat.tap("No time")
    assert "noted" in chat.texts().lower()
    assert await responses(chat.engine) == [("skipped", None), ("reason", "no_time")]
    seen = await run_until(chat, clock, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    assert reminders(seen) == [datetime(2026, 3, 3, 7, 30, tzinfo=UTC)]  # skipping today leaves tomorrow alone


async def test_repeated_pain_skips_lead_to_routine_advice(chat: Chat, clock: FakeClock, content: Any) -> None:
    await onboard(chat, at="07:30")
    advice = content.safety.rule("routine").advice
    for day in (2, 3, 4):
        await run_until(chat, clock, datetime(2026, 3, day, 7, 30, tzinfo=UTC))
        await chat.tap("Skip today")
        await chat.say("pain")
        if day < 4:
            assert advice not in chat.texts()
    assert chat.last[0].text == advice and chat.last[0].urgent
    assert (await responses(chat.engine)).count(("reason", "pain")) == 3


async def test_ignored_reminders_get_a_gentle_different_message(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    seen = await run_until(chat, clock, datetime(2026, 3, 6, 8, 0, tzinfo=UTC))
    texts = [r.text for at, r in seen if at in reminders(seen)]
    assert len(texts) == 5
    assert all("need to do every exercise" not in t for t in texts[:3])
    assert "need to do every exercise" in texts[3] and texts[3] != texts[0]
    assert "/stop" in texts[3]
    await chat.tap("Start now")  # answering ends the streak
    await chat.say("/cancel")  # (a session left running would silence the next reminder)
    seen = await run_until(chat, clock, datetime(2026, 3, 7, 8, 0, tzinfo=UTC))
    assert "need to do every exercise" not in seen[-1][1].text


async def test_my_back_is_worse_opens_the_symptom_menu(chat: Chat, clock: FakeClock, content: Any) -> None:
    await onboard(chat, at="07:30")
    await run_until(chat, clock, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    await chat.tap("My back is worse")
    labels = chat.labels()
    assert all(r.label in labels for r in content.safety.rules)


async def test_mid_session_gets_no_reminder_and_the_day_is_served(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    await chat.say("/today")
    seen = await run_until(chat, clock, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert reminders(seen) == []
    async with chat.engine.sessions() as s:
        user = (await s.execute(select(User))).scalar_one()
    assert user.served_through == date(2026, 3, 2)
    assert user.next_fire_at == datetime(2026, 3, 3, 7, 30, tzinfo=UTC)


async def test_weekdays_only(chat: Chat, clock: FakeClock) -> None:
    await onboard(chat, at="07:30")
    await chat.say("/settings")
    await chat.tap("Days")
    await chat.tap("Weekdays")
    seen = await run_until(chat, clock, datetime(2026, 3, 9, 8, 0, tzinfo=UTC), step=timedelta(minutes=30))
    days = [at.date().isoformat() for at in reminders(seen)]
    assert days == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-09"]


async def test_9am_said_at_11pm_means_tomorrow(chat: Chat, clock: FakeClock) -> None:
    clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    await onboard(chat, at="9am", zone="Europe/London")
    seen = await run_until(chat, clock, datetime(2026, 3, 3, 10, 0, tzinfo=UTC))
    assert reminders(seen) == [datetime(2026, 3, 3, 9, 0, tzinfo=UTC)]


@pytest.mark.parametrize(("down", "sent"), [(timedelta(minutes=90), True), (timedelta(hours=3), False)])
async def test_missed_during_downtime_sent_late_once_within_grace(
    chat: Chat, clock: FakeClock, down: timedelta, sent: bool
) -> None:
    await onboard(chat, at="07:30")
    clock.set(datetime(2026, 3, 2, 7, 30, tzinfo=UTC) + down)  # the bot was down over the reminder time
    got = await deliver(chat, clock)
    assert bool(got) is sent
    assert await deliver(chat, clock) == []
    seen = await run_until(chat, clock, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    assert reminders(seen) == [datetime(2026, 3, 3, 7, 30, tzinfo=UTC)]


@pytest.mark.parametrize(("late", "sent"), [(timedelta(minutes=20), True), (timedelta(hours=3), False)])
async def test_days_of_downtime_send_only_the_latest_reminder_late_and_only_within_grace(
    chat: Chat, engine: Engine, clock: FakeClock, late: timedelta, sent: bool
) -> None:
    """Down from before Monday's 07:30 to Thursday 07:30 + `late`: Monday to Wednesday are skipped; Thursday's
    is sent late, once, when within the grace (not planned from "now", which would skip it too)."""
    await onboard(chat, at="07:30")
    clock.set(datetime(2026, 3, 5, 7, 30, tzinfo=UTC) + late)
    got = await deliver(chat, clock)
    assert len(got) == (1 if sent else 0)
    assert await deliver(chat, clock) == []
    async with engine.sessions() as s:
        keys = list(
            (await s.execute(select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "reminder"))).scalars()
        )
    assert [k.rsplit(":", 1)[1] for k in keys] == (["2026-03-05"] if sent else [])
    seen = await run_until(chat, clock, datetime(2026, 3, 6, 8, 0, tzinfo=UTC))
    assert [at.date() for at in reminders(seen)] == [date(2026, 3, 6)]  # Friday's, in the first tick after 07:30


def test_zone_math_used_above_is_what_we_think() -> None:
    london = ZoneInfo("Europe/London")
    assert datetime.combine(date(2026, 3, 2), time(7, 30), london).astimezone(UTC).hour == 7
