"""Reminders and summaries follow the settings (issue 12), through `Engine.handle` and the scheduler tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from content.loader import Content
from scheduler.runner import tick
from tests.flow_helpers import user_row


async def ticks_until(chat: Chat, clock: FakeClock, end: datetime, every: timedelta = timedelta(minutes=15)) -> str:
    """Tick every 15 minutes (or `every`) until `end`; everything the person received, joined."""
    got: list[str] = []
    while clock.now() < end:
        clock.advance(every)
        before = len(chat.sender.sent)
        await tick(chat.engine, {chat.user.platform: chat.sender}, clock.now(), grace=timedelta(hours=2))
        got.extend(r.text for _, r in chat.sender.sent[before:])
    return "\n".join(got)


async def test_the_summary_covers_the_seven_days_before_it_and_comes_in_a_pause(
    chat: Chat, engine: Engine, clock: FakeClock
) -> None:
    await chat.onboard(time="07:00", zone="London")  # Monday 2 March
    await chat.say("/pause")
    await chat.tap("7 day")
    hourly = timedelta(hours=1)  # a week of ticks: the summary is due on the hour, and the tick's grace is 2 h
    said = await ticks_until(chat, clock, datetime(2026, 3, 8, 8, 0, tzinfo=UTC), hourly)
    assert "Your week, Sun 01 Mar – Sat 07 Mar" in said, "a pause does not skip the summary"
    await chat.say("/activity")
    await chat.say("25")
    await chat.tap("5")  # Sunday, after the summary: counted in the next one
    said = await ticks_until(chat, clock, datetime(2026, 3, 15, 8, 0, tzinfo=UTC), hourly)
    assert "Your week, Sun 08 Mar – Sat 14 Mar" in said and "Activity: 25 minutes" in said


async def test_the_summary_comes_in_a_rest_pause_and_a_hold_and_names_the_weeks_symptoms(
    chat: Chat, engine: Engine, clock: FakeClock, content: Content
) -> None:
    """The week a clinician most needs: two spasms (rest days), pain spreading into a leg and a numbness
    hold. The summary still comes on Sunday, and says what was reported."""
    await chat.onboard(time="07:00", zone="London")  # Monday 2 March
    for day in range(2):
        await chat.say("/symptoms")
        await chat.tap(content.safety.rule("spasm_flare").label)
        await chat.tap("2 day")
        clock.advance(timedelta(days=1, hours=day))
    await chat.say("the pain shoots down my leg")
    await chat.say("/symptoms")
    await chat.tap(content.safety.rule("neuro_change").label)
    user = await user_row(engine)
    assert user.hold_reason == "neuro_change" and user.paused_until is not None, "held and resting"
    said = await ticks_until(chat, clock, datetime(2026, 3, 8, 8, 0, tzinfo=UTC))
    assert said.count("Your week, Sun 01 Mar – Sat 07 Mar") == 1, "neither the rest days nor the hold skip it"
    (line,) = [x for x in said.splitlines() if x.startswith("• Symptoms reported:")]
    for rule_id, times in (("spasm_flare", 2), ("radiating", 1), ("neuro_change", 1)):
        assert f"{content.safety.rule(rule_id).label} ({times}×)" in line, line


async def test_the_summary_waits_until_a_session_is_over(chat: Chat, engine: Engine, clock: FakeClock) -> None:
    await chat.onboard(time="07:00", zone="London")
    clock.set(datetime(2026, 3, 8, 6, 50, tzinfo=UTC))
    await chat.say("/today")
    said = await ticks_until(chat, clock, datetime(2026, 3, 8, 7, 15, tzinfo=UTC))
    assert "Your week, " not in said
    await chat.say("stop")
    said = await ticks_until(chat, clock, datetime(2026, 3, 8, 8, 0, tzinfo=UTC))
    assert said.count("Your week, ") == 1


async def test_the_summary_follows_a_new_zone(chat: Chat, engine: Engine, clock: FakeClock) -> None:
    await chat.onboard(time="07:00", zone="New York")
    await chat.say("/settings")
    await chat.tap("Time zone")
    await chat.say("London")
    said = await ticks_until(chat, clock, datetime(2026, 3, 8, 7, 15, tzinfo=UTC))
    assert said.count("Your week, ") == 1, "07:00 in London"
    said = await ticks_until(chat, clock, datetime(2026, 3, 8, 13, 0, tzinfo=UTC))
    assert "Your week, " not in said, "nothing more at the old New York slot"


async def test_quiet_hours_and_individual_days_can_be_set(chat: Chat, engine: Engine) -> None:
    await chat.onboard(time="07:00", zone="London")
    await chat.say("/settings")
    await chat.tap("Quiet hours")
    await chat.say("22:30 to 7:30am")
    assert "Quiet hours: 22:30–07:30." in chat.texts()
    await chat.tap("Days")
    await chat.tap("Choose days")
    assert "✓ Monday" in chat.labels() and "✓ Sunday" in chat.labels(), "the current days ticked"
    for day in ("Tuesday", "Thursday", "Saturday", "Sunday"):
        await chat.tap(f"✓ {day}")
    await chat.tap("Done choosing")
    assert "on Mon, Wed, Fri" in chat.texts()
    user = await user_row(engine)
    assert (user.weekdays, user.profile["quiet_start"], user.profile["quiet_end"]) == (0b10101, "22:30", "07:30")
    await chat.tap("Quiet hours")
    await chat.say("whenever")
    assert "couldn't read those quiet hours" in chat.texts()


async def test_the_exercise_picker_shows_the_current_plan_ticked(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/settings")
    await chat.tap("Exercises")
    await chat.tap("Only the ones")
    assert all(label.startswith("✓ ") for label in chat.labels()[:-1])


async def test_change_time_from_the_reminder_itself(chat: Chat, engine: Engine, clock: FakeClock) -> None:
    await chat.onboard(time="07:00", zone="London")
    said = await ticks_until(chat, clock, datetime(2026, 3, 3, 7, 15, tzinfo=UTC))
    assert "Time for your back exercises" in said
    await chat.tap("Change time", [r for _, r in chat.sender.sent])
    await chat.say("18:30")
    assert "I'll remind you at 18:30" in chat.texts()
    assert (await user_row(engine)).reminder_time == "18:30"
