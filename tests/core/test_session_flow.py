"""A whole session through `Engine.handle`, from onboarding to the end summary, with a fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.testing.chat import Chat, PureChat
from bot.clock import FakeClock
from bot.effects import SessionRecord
from bot.engine import Engine
from bot.storage.models import ExerciseLog, ExerciseSession, User
from bot.types import Inbound, InboundKind, Reply
from content.loader import Content
from tests.flow_helpers import to_pain_question


async def run_exercises(chat: Chat, content: Content) -> None:
    """Tap through every exercise: Start, each step Done, repetitions Done, holds via the timer."""
    for _ in range(200):
        labels = chat.labels()
        text = chat.texts()
        if "Start" in labels and "Exercise" in text:
            await chat.tap("Start")
        elif "Ready" in labels:
            await chat.tap("Ready")
        elif "I'll message you in" in text:
            sent = await chat.advance(timedelta(seconds=41))
            assert sent, "the hold timer should message the user"
            chat.last = sent
        elif "Done" in labels:
            await chat.tap("Done")
        else:
            return
    raise AssertionError("session did not finish")


async def test_full_session_from_onboarding_to_summary(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    await chat.tap("Start a session")
    assert "quick safety check" in chat.texts()
    for _ in content.safety.session_precheck:
        await chat.tap("No")
    assert "0 (none) to 10" in chat.texts()
    await chat.tap("3")
    assert "Exercise 1 of 6" in chat.texts()
    await run_exercises(chat, content)
    assert "How is your back pain now" in chat.texts()
    await chat.tap("2")
    await chat.tap("Fine")
    await chat.tap(content.program.exercises[1].name)
    await chat.tap("That's all")
    assert "physical activity" in chat.texts()
    await chat.tap("Log activity")
    await chat.tap("20 min")
    await chat.tap("8")
    summary = chat.texts()
    assert "Logged 20 minutes" in summary
    assert "between 4 and 6" in summary  # exertion 8 is above the sheet's 4-6
    assert "Session complete: 6 done, 0 skipped" in summary
    assert "Pain before: 3/10, after: 2/10" in summary
    assert "first session" in summary.lower()
    async with engine.sessions() as s:
        session_row = (await s.execute(select(ExerciseSession))).scalar_one()
        assert session_row.status == "completed"
        assert session_row.pain_before == 3 and session_row.pain_after == 2
        assert session_row.helped == [content.program.exercises[1].id]
        done_query = select(func.count()).select_from(ExerciseLog).where(ExerciseLog.result == "done")
        done = (await s.execute(done_query)).scalar_one()
        assert done == 6
        user = (await s.execute(select(User))).scalar_one()
        assert user.profile["progress"]["pelvic_tilt"]["repetitions"] == 4  # 3 to start, +1 after a pain-free session
        assert user.profile["progress"]["hamstring_stretch"]["hold_seconds"] == 25


async def test_a_stretch_is_held_on_both_sides_with_a_timer_each(chat: Chat, engine: Engine, content: Content) -> None:
    stretch = next(e for e in content.program.exercises if e.dosage.sides == "both" and e.dosage.hold_seconds)
    await chat.onboard()
    await to_pain_question(chat, content)
    await chat.tap("2")
    for _ in range(content.program.exercises.index(stretch)):
        await chat.tap("Skip")
    await chat.tap("Start")
    for _ in stretch.steps:
        await chat.tap("Done")
    assert stretch.dosage.hold_text in chat.texts() and "20 seconds" in chat.texts()
    first_side = await chat.advance(timedelta(seconds=21))
    assert "release" in chat.texts(first_side) and "switch sides" in chat.texts(first_side)
    # The second side's timer waits for "Ready": nothing runs (and nothing arrives) until then.
    assert "on this side too" not in chat.texts(first_side) and "Ready" in chat.labels(first_side)
    assert await chat.advance(timedelta(minutes=5)) == []
    await chat.tap("Ready", first_side)
    assert "on this side too" in chat.texts() and "then switch sides" not in chat.texts()
    second_side = await chat.advance(timedelta(seconds=21))
    assert "release" in chat.texts(second_side) and f"Done: {stretch.name}" in chat.texts(second_side)


async def _at_the_activity_question_after_a_session(chat: PureChat, content: Content) -> list[Reply]:
    """Onboarded, a reminder shown, then a session with every exercise skipped: the activity question."""
    await chat.onboard()
    reminder = await chat.send(Inbound(chat.user, InboundKind.SYSTEM, action="reminder", text="2026-03-02"))
    await to_pain_question(chat, content)
    await chat.tap("4")
    while "Skip" in chat.labels():
        await chat.tap("Skip")
    await chat.tap("3")
    assert (chat.view.conversation.flow, chat.view.conversation.step) == ("activity", "offer"), chat.texts()
    return reminder


@pytest.mark.parametrize("how", ["reminder.start", "reminder.change_time", "/today"])
async def test_the_activity_question_after_a_session_is_still_the_session(
    content: Content, clock: FakeClock, how: str
) -> None:
    """An earlier reminder's "Start now" or "Change time", or /today, while the activity question after a
    session is open: "you're in the middle of a session" and that question again; never "lost track" and the
    pain question already answered, never a second session over the first."""
    chat = PureChat(content, clock)
    reminder = await _at_the_activity_question_after_a_session(chat, content)
    replies = await (chat.say(how) if how.startswith("/") else chat.tap(content.msg(how), reminder))
    text = chat.texts(replies)
    assert content.msg("session.already") in text and content.msg("activity.offer") in text, text
    assert "lost track" not in text and "pain" not in text.lower(), text
    assert (chat.view.conversation.flow, chat.view.conversation.step) == ("activity", "offer")
    assert len(chat.effects_of(SessionRecord)) == 3, "one session: started, pre-check saved, post-check saved"
    await chat.tap("Not now")
    assert content.msg("summary.counts", done=0, skipped=6, hurt=0) in chat.texts(), chat.texts()
