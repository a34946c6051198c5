"""A whole session through `Engine.handle`, from onboarding to the end summary, with a fake clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.engine import Engine
from bot.storage.models import ExerciseLog, ExerciseSession, User
from content.loader import Content
from tests.chat import Chat


async def run_exercises(chat: Chat, content: Content) -> None:
    """Tap through every exercise: Start, each step Done, repetitions Done, holds via the timer."""
    for _ in range(200):
        labels = chat.labels()
        text = chat.texts()
        if "Start" in labels and "Exercise" in text:
            await chat.tap("Start")
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
