"""What a hold recorded is what happened (issue 12): the seconds actually held on each side, capped at the
planned hold, and a hold left part-way says it was unfinished. Through `Engine.handle` and the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import ExerciseLog
from content.loader import Content, Exercise
from tests.flow_helpers import start_session_to_first_step


async def logs(engine: Engine) -> list[tuple[str, str, int | None, list | None]]:
    async with engine.sessions() as s:
        query = select(ExerciseLog.exercise_id, ExerciseLog.result, ExerciseLog.hold_seconds, ExerciseLog.held)
        return [tuple(r) for r in (await s.execute(query.order_by(ExerciseLog.id))).all()]  # type: ignore[misc]


async def to_hold(chat: Chat, content: Content, stretch: Exercise) -> None:
    """From the first exercise's first step: skip up to `stretch`, walk its steps; its first hold is running."""
    await chat.tap("Skip")
    for _ in range(content.program.exercises.index(stretch) - 1):
        await chat.tap("Skip")
    await chat.tap("Start")
    for _ in stretch.steps:
        await chat.tap("Done")
    assert "I'll message you in 20 seconds" in chat.texts()


@pytest.mark.storage  # the holds are a JSON column: PostgreSQL too
async def test_done_early_records_the_seconds_held_and_the_timer_the_planned_hold(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    stretch = content.program.exercise("hamstring_stretch")
    await start_session_to_first_step(chat, content)
    await to_hold(chat, content, stretch)
    clock.advance(timedelta(seconds=12))
    await chat.tap("Done")  # let go after 12 of 20 seconds
    assert "Ready" in chat.labels()
    await chat.tap("Ready")
    sent = await chat.advance(timedelta(seconds=50))  # the timer arrives late: no more than 20 were asked for
    assert "Time's up" in chat.texts(sent)
    stretch_log = [row for row in await logs(engine) if row[0] == stretch.id]
    assert stretch_log == [
        (stretch.id, "done", 20, [{"seconds": 12, "finished": True}, {"seconds": 20, "finished": True}])
    ]


async def test_skip_during_a_hold_records_it_unfinished(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    stretch = content.program.exercise("hamstring_stretch")
    await start_session_to_first_step(chat, content)
    await to_hold(chat, content, stretch)
    clock.advance(timedelta(seconds=7))
    await chat.tap("Skip")
    assert await chat.advance(timedelta(seconds=30)) == [], "the skipped hold's timer says nothing"
    assert [row for row in await logs(engine) if row[0] == stretch.id] == [
        (stretch.id, "skipped", None, [{"seconds": 7, "finished": False}])
    ]


async def test_stop_during_the_second_side_records_the_exercise_unfinished(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    stretch = content.program.exercise("single_knee_to_chest")
    await start_session_to_first_step(chat, content)
    await to_hold(chat, content, stretch)
    await chat.tap("Ready", await chat.advance(timedelta(seconds=21)))
    clock.advance(timedelta(seconds=9))
    await chat.say("stop")
    assert [row for row in await logs(engine) if row[0] == stretch.id] == [
        (stretch.id, "unfinished", None, [{"seconds": 20, "finished": True}, {"seconds": 9, "finished": False}])
    ]


async def test_a_session_closed_while_a_hold_ran_says_the_hold_time_is_unknown(
    chat: Chat, engine: Engine, content: Content, clock: FakeClock
) -> None:
    """The timer never came (the process was down): the hold is unfinished and its seconds not made up."""
    stretch = content.program.exercise("hamstring_stretch")
    await start_session_to_first_step(chat, content)
    await to_hold(chat, content, stretch)
    clock.advance(timedelta(hours=content.program.session.idle_hours + 1))  # nothing delivered meanwhile
    await chat.say("hello")
    assert "left unfinished" in chat.texts()
    assert [row for row in await logs(engine) if row[0] == stretch.id] == [
        (stretch.id, "unfinished", None, [{"seconds": None, "finished": False}])
    ]
