"""Every row of the safety table, reached by button and by free text, mid-session: advice first,
never behind a button, and the right state afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.testing.chat import Chat, PureChat, Transcript
from bot.clock import FakeClock
from bot.effects import SessionRecord, SymptomLogged
from bot.engine import Engine
from bot.storage.models import ExerciseLog, ExerciseSession, OutboxMessage, SymptomReport
from bot.types import Reply
from content.loader import Content
from tests.flow_helpers import start_session_to_first_step, user_row

FREE_TEXT = {
    "cauda_equina": "I can't control my bladder and it's numb around my bum",
    "chest_pain": "my chest feels tight",
    "same_day": "I've got a fever and my back hurts",
    "heart": "I had a heart attack last month",
    "radiating": "the pain shoots down my leg",
    "neuro_change": "my foot is tingling",
    "spasm_flare": "I'm having a flare-up",
    "exercise_pain": "this stretch hurts",
    "routine": "it's not getting any better after weeks",
}
HOLDING = {"cauda_equina", "chest_pain", "same_day", "heart", "neuro_change"}
ENDING = HOLDING | {"radiating", "spasm_flare"}


async def report(chat: Transcript, content: Content, rule_id: str, how: str) -> list[Reply]:
    if how == "text":
        return await chat.say(FREE_TEXT[rule_id])
    await chat.say("/symptoms")
    return await chat.tap(content.safety.rule(rule_id).label)


@pytest.mark.parametrize("how", ["button", "text"])
@pytest.mark.parametrize("rule_id", list(FREE_TEXT))
async def test_every_rule_mid_session(content: Content, clock: FakeClock, rule_id: str, how: str) -> None:
    """The flows' logic, table-driven through `dispatch.handle` (no database): what the engine would store
    is the view and the effects, checked here; `test_a_rule_mid_session_is_stored` checks the storing."""
    chat = PureChat(content, clock)
    await start_session_to_first_step(chat, content)
    replies = await report(chat, content, rule_id, how)
    rule = content.safety.rule(rule_id)

    first = replies[0]
    assert first.urgent and first.text.startswith(rule.advice[:60]), "advice must come first"
    assert not first.buttons, "safety advice is never behind a button"
    reports = [(e.rule_id, e.source) for e in chat.effects_of(SymptomLogged)]
    assert reports == [(rule_id, "button" if how == "button" else "text")]
    session_status = chat.effects_of(SessionRecord)[-1].status

    schedule = chat.view.schedule
    if rule_id in HOLDING:
        assert schedule.hold_reason == rule_id
        assert schedule.next_fire_at is None, "no reminders while held for guidance"
        held = await chat.say("/today")
        assert "on hold" in chat.texts(held)
    else:
        assert schedule.hold_reason is None
    if rule_id in ENDING:
        assert session_status == "safety"
        assert chat.view.conversation.flow in {"idle", "rest"}
    if rule_id == "cauda_equina":
        assert "emergency" in first.text.lower()
        assert "999" in first.text or "911" in first.text or "112" in first.text
    if rule_id == "routine":
        assert session_status == "running" and chat.view.conversation.flow == "session"
        assert "Step 1 of" in chat.texts(replies), "the session carries on where it was"


@pytest.mark.storage
@pytest.mark.parametrize(("rule_id", "how"), [("cauda_equina", "text"), ("routine", "button")])
async def test_a_rule_mid_session_is_stored(
    chat: Chat, engine: Engine, content: Content, rule_id: str, how: str
) -> None:
    """The same, through the engine on SQLite and PostgreSQL: the report, the session and the hold saved."""
    await start_session_to_first_step(chat, content)
    await report(chat, content, rule_id, how)
    user = await user_row(engine)
    async with engine.sessions() as s:
        reports = (await s.execute(select(SymptomReport.rule_id, SymptomReport.source))).all()
        session_status = (await s.execute(select(ExerciseSession.status))).scalar_one()
    assert reports == [(rule_id, how)]
    if rule_id in HOLDING:
        assert user.hold_reason == rule_id and user.next_fire_at is None
        assert session_status == "safety" and user.conversation["flow"] in {"idle", "rest"}
    else:
        assert user.hold_reason is None and user.next_fire_at is not None
        assert session_status == "running" and user.conversation["flow"] == "session"


async def test_spasm_pauses_for_rest_days_then_checks_in(chat: Chat, engine: Engine, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    await chat.say(FREE_TEXT["spasm_flare"])
    assert "rest days" in chat.texts()
    await chat.tap("2 day")
    user = await user_row(engine)
    assert user.paused_until == engine.clock.now() + timedelta(days=2)
    assert user.next_fire_at is not None and user.next_fire_at >= user.paused_until
    assert await chat.advance(timedelta(days=1)) == [], "no check-in before the rest days are over"
    checkin = await chat.advance(timedelta(days=1, minutes=1))
    assert "How is your back" in chat.texts(checkin)
    await chat.tap("Resume", checkin)
    assert (await user_row(engine)).paused_until is None


async def test_exercise_pain_stops_it_and_offers_to_drop(chat: Chat, engine: Engine, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    first_exercise = content.program.exercises[0]
    replies = await chat.tap("This hurts")
    assert replies[0].urgent and replies[0].text == content.safety.rule("exercise_pain").advice
    assert f"drop {first_exercise.name}" in chat.texts()
    await chat.tap("Drop it")
    assert "Exercise 2 of" in chat.texts(), "the session moves on to the next exercise"
    user = await user_row(engine)
    assert first_exercise.id not in user.profile["exercises"]
    async with engine.sessions() as s:
        results = (await s.execute(select(ExerciseLog.exercise_id, ExerciseLog.result))).all()
    assert results == [(first_exercise.id, "hurt")]


async def test_held_program_restarts_only_after_confirmed_guidance(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("I had a heart attack last month")
    await chat.say("/resume")
    assert "guidance" in chat.texts()
    await chat.tap("Not yet")
    assert (await user_row(engine)).hold_reason == "heart"
    await chat.say("/resume")
    await chat.tap("Yes, I've had guidance")
    user = await user_row(engine)
    assert user.hold_reason is None and user.next_fire_at is not None


async def test_weekly_hold_checkin_asks_if_cleared(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("my foot is tingling")
    sent = await chat.advance(timedelta(days=7, minutes=1))
    assert "Have you had guidance" in chat.texts(sent)
    async with engine.sessions() as s:
        pending = (
            await s.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.dedupe_key.not_like("summary:%"))
            )  # not the summary
        ).scalar_one()
    assert pending == 1, "the next weekly check-in is queued"


async def test_symptom_typed_before_onboarding_still_gets_advice(chat: Chat, content: Content) -> None:
    replies = await chat.say("my chest feels tight")
    assert replies[0].urgent and replies[0].text == content.safety.rule("chest_pain").advice


async def test_unclear_message_asks_instead_of_ignoring(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    replies = await chat.say("my back feels a bit weird")
    assert "symptom" in chat.texts(replies) and chat.labels(replies) == ["Yes", "No"]
    await chat.tap("Yes")
    assert content.safety.rule("chest_pain").label in chat.labels(), "yes leads to the symptom menu"


async def test_unclear_pain_mid_exercise_offers_every_category(chat: Chat, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    await chat.say("hmm that feels sore")
    assert chat.labels() == ["Yes", "No"]
    await chat.tap("Yes")
    labels = chat.labels()
    assert {r.label for r in content.safety.rules} <= set(labels), "the real categories, not only 'this hurts'"
    replies = await chat.tap(content.safety.rule("exercise_pain").label)
    assert replies[0].text == content.safety.rule("exercise_pain").advice


async def test_precheck_yes_applies_rule(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    await chat.say("/today")
    await chat.tap("No")  # spasm
    replies = await chat.tap("Yes")  # pain spreading into buttocks or legs
    assert replies[0].text.startswith(content.safety.rule("radiating").advice[:40])
    async with engine.sessions() as s:
        assert (await s.execute(select(ExerciseSession.status))).scalar_one() == "safety"
