"""Commands and settings through `Engine.handle`: help, pause/resume, settings, history, activity,
progression and small wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.testing.chat import Chat
from bot.engine import Engine
from content.loader import Content
from tests.flow_helpers import skipped_session_and_activity, start_session_to_first_step, to_pain_question, user_row


async def test_help_shows_commands_and_disclaimer(chat: Chat, content: Content) -> None:
    replies = await chat.say("/help")
    assert "/today" in replies[0].text and "/delete" in replies[0].text
    assert replies[1].text == content.safety.disclaimer


async def test_commands_before_onboarding_lead_to_setup(chat: Chat) -> None:
    replies = await chat.say("/today")
    assert "set you up first" in replies[0].text
    assert "I understand, let's go" in chat.labels(replies)


async def test_pause_and_resume(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("/pause")
    await chat.tap("3 day")
    user = await user_row(engine)
    assert user.paused_until == engine.clock.now() + timedelta(days=3)
    assert user.next_fire_at is not None and user.next_fire_at >= user.paused_until
    await chat.say("/resume")
    user = await user_row(engine)
    assert user.paused_until is None
    assert user.next_fire_at == engine.clock.now() + timedelta(days=1), "07:00 London tomorrow, no longer paused"


async def test_settings_typed_time_zone_and_weekdays(chat: Chat, engine: Engine) -> None:
    await chat.onboard(time="07:00", zone="London")
    await chat.say("/settings")
    await chat.tap("Reminder time")
    await chat.say("7:30pm")
    assert "19:30" in chat.texts()
    await chat.tap("Time zone")
    await chat.say("New York")
    await chat.tap("Days")
    await chat.tap("weekdays only")
    user = await user_row(engine)
    assert (user.reminder_time, user.timezone, user.weekdays) == ("19:30", "America/New_York", 0b0011111)
    # The clock is Monday 2026-03-02 07:00Z = 02:00 in New York: next is Monday 19:30 EST = 00:30Z Tuesday.
    assert user.next_fire_at == datetime(2026, 3, 3, 0, 30, tzinfo=UTC)


async def test_settings_rejects_bad_time_and_zone_kindly(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("/settings")
    await chat.tap("Reminder time")
    replies = await chat.say("25:99")
    assert "couldn't read that time" in replies[0].text
    await chat.say("/settings")
    await chat.tap("Time zone")
    replies = await chat.say("Atlantis")
    assert "couldn't find that time zone" in replies[0].text
    assert (await user_row(engine)).timezone == "Europe/London"


async def test_reminders_off_and_on(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("/settings")
    await chat.tap("Turn reminders off")
    user = await user_row(engine)
    assert not user.reminders_on and user.next_fire_at is None
    await chat.tap("Turn reminders on")
    assert (await user_row(engine)).next_fire_at is not None


async def test_history_after_a_session(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    assert "No history yet" in (await chat.say("/history"))[0].text
    await skipped_session_and_activity(chat, content, pain=5, minutes=25)
    history = chat.texts(await chat.say("/history"))
    assert "2026-03-02: stopped early — 0 done, 1 skipped" in history
    assert "pain 5 → ?" in history
    assert "2026-03-02: 25 min" in history


async def test_activity_exertion_outside_4_to_6_gets_the_sheets_advice(
    chat: Chat, engine: Engine, content: Content
) -> None:
    await chat.onboard()
    await chat.say("/activity")
    await chat.say("abc")
    assert "number from 1 to" in chat.texts()
    await chat.say("10")
    replies = await chat.tap("2")
    assert content.program.general_activity.progression in chat.texts(replies)
    await chat.say("/activity")
    await chat.tap("30 min")
    replies = await chat.tap("9")
    assert content.program.general_activity.talk_test in chat.texts(replies)
    assert "Today so far: 40 minutes" in chat.texts(replies)


async def test_an_exercise_that_hurt_does_not_progress(chat: Chat, engine: Engine, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    await chat.say("stop")
    await to_pain_question(chat, content)
    await chat.tap("3")
    await chat.tap("Skip")  # wall slides
    await chat.tap("Start")  # pelvic tilt
    await chat.tap("This hurts")
    await chat.tap("Keep it")
    user = await user_row(engine)
    assert "pelvic_tilt" not in user.profile["progress"]
    assert "pelvic_tilt" in user.profile["exercises"]


async def test_only_the_exercises_the_medical_team_recommended(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.say("/start")
    await chat.tap("I understand")
    while "Yes" in chat.labels():
        await chat.tap("No")
    await chat.tap("Only the ones")
    await chat.tap("Done choosing")
    assert "at least one" in chat.texts()
    await chat.tap("Pelvic tilt")
    await chat.tap("Hip flexor stretch")
    await chat.tap("✓ Hip flexor stretch")  # tapping again un-chooses it
    await chat.tap("Done choosing")
    await chat.tap("08:00")
    await chat.say("Europe/Berlin")
    assert (await user_row(engine)).profile["exercises"] == ["pelvic_tilt"]
    await to_pain_question(chat, content)
    await chat.tap("0")
    assert "Exercise 1 of 1: Pelvic tilt" in chat.texts()


async def test_habit_point_after_six_sessions_in_two_weeks(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    texts = []
    for _ in range(6):
        await to_pain_question(chat, content)
        await chat.tap("2")
        for _ in content.program.exercises:
            await chat.tap("Skip")
        await chat.tap("2")
        await chat.tap("Not now")
        texts.append(chat.texts())
        await chat.advance(timedelta(days=2))
    assert "first session" in texts[0] and "first session" not in texts[1]
    assert all("6 sessions" not in t for t in texts[:5])
    assert "6 sessions in two weeks" in texts[5]
