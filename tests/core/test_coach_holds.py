"""Holds and pauses mean what they say (issue 12): each test replays an input that once made the bot say
one thing and do another, through `Engine.handle`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import ActivityLog, ExerciseLog
from content.loader import Content
from tests.flow_helpers import start_session_to_first_step, to_pain_question, user_row

ACTIVITY_HOLDS = ["chest_pain", "heart", "cauda_equina", "same_day"]


async def onboard_answering(chat: Chat, yes_to: str) -> None:
    """Onboarding with "Yes" to the screening question of one rule and "No" to the others."""
    await chat.say("/start")
    await chat.tap("I understand")
    content = chat.engine.content
    for question in content.safety.onboarding_screening:
        assert question.text in chat.texts(), chat.texts()
        await chat.tap("Yes" if question.rule == yes_to else "No")
        if "rest days" in chat.texts():
            await chat.tap("2 day")
    await chat.tap("All of them")
    await chat.tap("08:00")
    await chat.tap("London")


async def test_onboarding_that_ends_in_a_heart_hold_says_so_and_offers_no_session(
    chat: Chat, engine: Engine, content: Content
) -> None:
    await onboard_answering(chat, "heart")
    said = chat.texts()
    assert "on hold" in said and "all set" not in said
    assert "I'll remind you" not in said, "a held program sends no reminders"
    assert content.safety.rule("heart").hold_note.strip() in said
    assert "Start a session" not in chat.labels()
    assert (await user_row(engine)).next_fire_at is None


async def test_onboarding_that_ends_in_rest_days_says_so_and_offers_no_session(
    chat: Chat, engine: Engine, clock: FakeClock
) -> None:
    await onboard_answering(chat, "spasm_flare")
    said = chat.texts()
    assert "time to rest" in said and "all set" not in said
    assert "Start a session" not in chat.labels()
    user = await user_row(engine)
    assert user.paused_until is not None and user.paused_until >= clock.now() + timedelta(days=2)
    assert user.next_fire_at is not None and user.next_fire_at >= user.paused_until


@pytest.mark.parametrize("rule_id", ACTIVITY_HOLDS)
async def test_activity_during_a_hold_repeats_the_advice_and_logs_nothing(
    chat: Chat, engine: Engine, content: Content, rule_id: str
) -> None:
    await chat.onboard()
    await chat.say("/activity")
    await chat.say("30")
    await chat.tap("5")
    assert "Logged 30 minutes" in chat.texts()
    await chat.say("/symptoms")
    await chat.tap(content.safety.rule(rule_id).label)
    replies = await chat.say("/activity")
    rule = content.safety.rule(rule_id)
    assert replies[0].urgent and replies[0].text.startswith(rule.advice[:60]), "the hold's advice comes first"
    assert "Logged" not in chat.texts() and "How many minutes" not in chat.texts()
    assert "won't log or suggest physical activity" in chat.texts()
    async with engine.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(ActivityLog))).scalar_one() == 1
    history = chat.texts(await chat.say("/history"))
    assert "30 min" in history and "✓" not in history and "Goal of" not in history
    assert rule.label in history


async def test_flare_up_pauses_reminders_at_once_and_today_does_not_start(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    await chat.onboard()
    await chat.say("/symptoms")
    replies = await chat.tap(content.safety.rule("spasm_flare").label)
    assert "I have paused your reminders" in replies[0].text
    assert "rest days" in chat.texts()  # the rest-days question is open, not yet answered
    user = await user_row(engine)
    assert user.paused_until is not None and user.paused_until > clock.now(), "paused when said"
    assert user.next_fire_at is not None and user.next_fire_at >= user.paused_until
    await chat.say("/today")
    assert "rest days after a spasm or flare-up" in chat.texts()
    assert "quick safety check" not in chat.texts()


async def test_a_pause_of_ones_own_is_not_called_rest_after_a_flare_up(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/pause")
    await chat.tap("3 day")
    await chat.say("/today")
    assert "rest days" not in chat.texts() and "quick safety check" in chat.texts()


async def test_radiating_pain_ends_today_and_the_exercise_is_asked_about_next_time(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    await start_session_to_first_step(chat, content)
    first = content.program.exercises[0]
    replies = await chat.say("the pain shoots down my leg")
    assert "We will end today's session here" in replies[0].text
    today = chat.texts(await chat.say("/today"))
    assert "ended today's session" in today and "quick safety check" not in today
    history = chat.texts(await chat.say("/history"))
    assert f"pain spread into buttocks or legs during: {first.name}" in history
    async with engine.sessions() as s:
        results = (await s.execute(select(ExerciseLog.exercise_id, ExerciseLog.result))).all()
    assert results == [(first.id, "radiating")]
    # No reminder that day says "time for your exercises"; the next day's session asks first.
    clock.advance(timedelta(days=1))
    await to_pain_question(chat, content)
    assert f"pain spread into your buttocks or legs during {first.name}" in chat.texts()
    assert "0 (none) to 10" not in chat.texts(), "asked before any exercise"
    await chat.tap("Drop it")
    assert f"{first.name} is no longer in your plan" in chat.texts()
    assert "0 (none) to 10" in chat.texts()
    user = await user_row(engine)
    assert first.id not in user.profile["exercises"] and user.profile["review"] == []


async def test_radiating_pain_before_an_exercise_is_begun_blames_none(
    chat: Chat, engine: Engine, content: Content
) -> None:
    """Said while the next exercise is only introduced ("Exercise 2 of 6 ... Start / Skip"): nothing was
    under way, so no exercise is recorded as having caused it, nor asked about next time."""
    await start_session_to_first_step(chat, content)
    await chat.tap("Skip")
    assert "Exercise 2 of" in chat.texts()
    replies = await chat.say("the pain shoots down my leg")
    assert "We will end today's session here" in replies[0].text
    async with engine.sessions() as s:
        results = (await s.execute(select(ExerciseLog.exercise_id, ExerciseLog.result))).all()
    assert results == [(content.program.exercises[0].id, "skipped")]
    assert (await user_row(engine)).profile["review"] == []


async def test_keeping_the_exercise_after_radiating_pain_keeps_it(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    await start_session_to_first_step(chat, content)
    await chat.say("the pain shoots down my leg")
    clock.advance(timedelta(days=1))
    await to_pain_question(chat, content)
    await chat.tap("Keep it")
    assert "stays in your plan" in chat.texts() and "0 (none) to 10" in chat.texts()
    assert content.program.exercises[0].id in (await user_row(engine)).profile["exercises"]


async def test_after_an_emergency_hold_today_repeats_the_emergency_advice_first(chat: Chat, content: Content) -> None:
    await chat.onboard()
    await chat.say("I can't control my bladder and it's numb around my bum")
    replies = await chat.say("/today")
    rule = content.safety.rule("cauda_equina")
    assert replies[0].urgent and replies[0].text.startswith(rule.advice[:60])
    assert "999" in replies[0].text
    assert not replies[0].buttons
    assert "Have you had guidance" in replies[-1].text


@pytest.mark.parametrize("rule_id", ["cauda_equina", "chest_pain", "same_day", "heart", "neuro_change"])
async def test_each_hold_quotes_its_own_rule_and_source(chat: Chat, content: Content, rule_id: str) -> None:
    await chat.onboard()
    await chat.say("/symptoms")
    await chat.tap(content.safety.rule(rule_id).label)
    said = chat.texts(await chat.say("/today"))
    rule = content.safety.rule(rule_id)
    source = content.safety.source(rule.source)
    assert rule.hold_note.strip() in said and f"Source: {source.cite}" in said
    asks_guidance = "The sheet asks you to make sure that you receive guidance" in said
    assert asks_guidance == (rule_id == "heart"), "only the heart rule is the sheet's guidance rule"
