"""Numbers are values, logged activity can be corrected, and every "stop" reply tells the truth (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.testing.chat import Chat
from bot.engine import Engine
from bot.storage.models import ActivityLog
from content.loader import Content
from tests.adapters.test_console import run_console
from tests.flow_helpers import to_pain_question, user_row


async def logged_minutes(engine: Engine) -> list[int]:
    async with engine.sessions() as s:
        return list((await s.execute(select(ActivityLog.minutes).order_by(ActivityLog.id))).scalars())


def test_console_numbers_at_numeric_questions_are_values(tmp_path: Path, content: Content) -> None:
    db = tmp_path / "console.sqlite3"
    run_console(["/start", "1", *["no"] * len(content.safety.onboarding_screening), "All of them", "08:00", "UTC"], db)
    out = run_console(["/today", *["no"] * len(content.safety.session_precheck), "11", "-1", "7"], db)
    assert out.count("0 to 10, please") == 2, out
    assert "Exercise 1 of" in out, "7 is taken as pain 7 after the two refusals"
    out = run_console(["stop", "/activity", "5", "3"], db)
    assert "Logged 5 minutes" in out, out


@pytest.mark.parametrize(("typed", "said"), [("11", "11 is not on the scale"), ("-1", "-1 is not on the scale")])
async def test_out_of_range_pain_gets_a_clear_reply(chat: Chat, content: Content, typed: str, said: str) -> None:
    await chat.onboard()
    await to_pain_question(chat, content)
    await chat.say(typed)
    assert said in chat.texts() and "0 to 10, please" in chat.texts()
    assert "0 (none) to 10" in chat.texts(), "the question is asked again"


async def test_typed_minutes_are_minutes_and_out_of_range_is_refused(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("/activity")
    await chat.say("0")
    assert "0 minutes can't be logged" in chat.texts()
    await chat.say("5")
    await chat.tap("5")
    assert "Logged 5 minutes" in chat.texts()
    assert await logged_minutes(engine) == [5]


async def test_logged_activity_can_be_undone(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("/activity")
    await chat.tap("20 min")
    await chat.tap("5")
    logged = chat.last
    assert await logged_minutes(engine) == [20]
    await chat.tap("Undo", logged)
    assert "Removed: 20 minutes" in chat.texts()
    assert await logged_minutes(engine) == []
    await chat.tap("Undo", logged)
    assert "Nothing changed" in chat.texts(), "a second tap removes nothing more"


async def test_logged_activity_can_be_corrected(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("/activity")
    await chat.tap("60 min")
    await chat.tap("5")
    first = chat.last
    await chat.tap("Change minutes", first)
    assert "How many minutes" in chat.texts()
    assert await logged_minutes(engine) == [60], "kept until the new figure is given"
    await chat.say("15")
    await chat.tap("5")
    assert "Logged 15 minutes. Today so far: 15 minutes" in chat.texts()
    assert await logged_minutes(engine) == [15]
    await chat.tap("Undo", first)
    assert "Nothing changed" in chat.texts() and await logged_minutes(engine) == [15]


async def test_every_stop_reply_tells_the_truth_about_reminders(chat: Chat, engine: Engine) -> None:
    await chat.onboard()
    await chat.say("/stop")
    assert "Reminders are off" in chat.texts()
    await chat.say("stop")
    assert "already off" in chat.texts() and "stay on" not in chat.texts()
    await chat.say("/settings")
    await chat.say("stop")
    said = chat.texts()
    assert "stay on" not in said and "reminders are off" in said.lower()
    assert (await user_row(engine)).reminders_on is False


async def test_stop_mid_session_with_reminders_on_says_they_stay_on(chat: Chat, content: Content) -> None:
    await chat.onboard()
    await chat.say("/today")
    await chat.say("stop")
    assert "Session stopped" in chat.texts() and "Your reminders stay on" in chat.texts()


async def test_stop_during_a_pause_says_it_is_paused(chat: Chat) -> None:
    await chat.onboard()
    await chat.say("/pause")
    await chat.tap("3 day")
    await chat.say("/today")
    await chat.say("stop")
    assert "paused until" in chat.texts() and "stay on" not in chat.texts()
