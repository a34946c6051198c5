"""Each flow's context is a typed model beside its steps (bot/state.FlowCtx): rows stored before it was typed
load and go on exactly as a conversation the new code started, in the same stored shape; a stored value that
does not fit, or a key no flow declares, is logged by name (never the value) and recovered from like an
unknown step; and flow names are one enum, each a registered flow."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat, PureChat, Transcript
from bot.clock import FakeClock
from bot.engine import Engine
from bot.flows import dispatch, onboarding, preferences, registry, settings
from bot.flows.common import Outcome
from bot.flows.session import SessionCtx
from bot.state import CTX_KEYS, Conversation, FlowCtx, FlowName, UserView
from bot.storage.models import User
from bot.types import Inbound, InboundKind, Reply, UserRef
from content.loader import Content
from tests.flow_helpers import user_row

OLD_ROWS: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "old_conversations.json").read_text())
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # the walks ran at this instant (tests/conftest.py's clock)
SECRET = "my private words 7421"
REF = UserRef("console", "", "u", "c")
Walk = Callable[[Transcript, Content], Awaitable[None]]


# ---- the walks (tests/core/old_conversations.json holds where an older version's walk ended) --------------


async def _first_step(chat: Transcript, content: Content) -> None:
    await chat.onboard()
    await chat.say("/today")
    for _ in content.safety.session_precheck:
        await chat.tap("No")
    await chat.tap("4")
    await chat.tap("Start")


async def exercise_step(chat: Transcript, content: Content) -> None:
    await _first_step(chat, content)
    await chat.tap("Done")


async def timed_hold(chat: Transcript, content: Content) -> None:
    await _first_step(chat, content)
    for _ in range(40):
        if "seconds" in chat.texts():
            return
        await chat.tap("Done" if "Done" in chat.labels() else "Start")
    raise AssertionError(chat.texts())


async def drop_offer(chat: Transcript, content: Content) -> None:
    await _first_step(chat, content)
    await chat.tap("This hurts")


async def activity_after_session(chat: Transcript, content: Content) -> None:
    await _first_step(chat, content)
    for _ in range(20):
        if "Skip" not in chat.labels():
            break
        await chat.tap("Skip")
    await chat.tap("3")


async def activity_exertion(chat: Transcript, content: Content) -> None:
    await chat.onboard()
    await chat.say("/activity")
    await chat.say("30")


async def chat_minutes(chat: Transcript, content: Content) -> None:
    await chat.onboard()
    await chat.say("I walked for 30 minutes")


async def chat_rule_question(chat: Transcript, content: Content) -> None:
    await chat.onboard()
    await chat.say("my left arm and jaw ache and I feel clammy")  # the model asks: chest pain?


async def symptoms_in_session(chat: Transcript, content: Content) -> None:
    await exercise_step(chat, content)
    await chat.say("/symptoms")


async def screening(chat: Transcript, content: Content) -> None:
    await chat.say("/start")
    await chat.tap("I understand")
    await chat.tap("No")


async def picking_exercises(chat: Transcript, content: Content) -> None:
    await chat.say("/start")
    await chat.tap("I understand")
    for _ in range(10):
        if "Yes" not in chat.labels():
            break
        await chat.tap("No")
    await chat.tap(content.msg("plan.pick"))
    await chat.tap(content.program.exercises[1].name)


async def picking_days(chat: Transcript, content: Content) -> None:
    await chat.onboard()
    await chat.say("/settings")
    await chat.tap(content.msg("settings.days"))
    await chat.tap(content.msg("days.pick"))
    await chat.tap(chat.labels()[2])


async def reminder_offered(chat: Transcript, content: Content) -> None:
    await chat.onboard()
    await chat.send(Inbound(chat.user, InboundKind.SYSTEM, action="reminder", text=START.date().isoformat()))


async def skip_reason(chat: Transcript, content: Content) -> None:
    await reminder_offered(chat, content)
    await chat.tap(content.msg("reminder.skip"))


async def _timer(chat: Transcript, content: Content) -> list[Reply]:
    token = SessionCtx.load(_stored(chat)).timer  # the hold's own token, as the outbox delivers it
    return await chat.send(Inbound(chat.user, InboundKind.SYSTEM, action="timer", text=str(token)))


def _stored(chat: Transcript) -> dict[str, Any]:
    assert isinstance(chat, PureChat)
    ctx: dict[str, Any] = chat.view.conversation.model_dump(mode="json")["ctx"]
    return ctx


def _with_row(chat: Transcript, row: dict[str, Any]) -> Conversation:
    """The stored row's flow, step, context, seq and typed answers (the live question's text is the walk's)."""
    assert isinstance(chat, PureChat)
    return Conversation.model_validate({**chat.view.conversation.model_dump(mode="json"), **row})


def _tap(label: str) -> Callable[[Transcript, Content], Awaitable[list[Reply]]]:
    return lambda chat, content: chat.tap(label)


# name -> (the walk, what the person (or the outbox) does next)
WALKS: dict[str, tuple[Walk, Callable[[Transcript, Content], Awaitable[list[Reply]]]]] = {
    "session: an exercise step": (exercise_step, _tap("Done")),
    "session: a timed hold": (timed_hold, _timer),
    "session: the drop offer": (drop_offer, _tap("Keep it")),
    "activity: the question after a session": (activity_after_session, _tap("Not now")),
    "activity: the exertion question": (activity_exertion, _tap("5")),
    "confirm: log minutes typed in chat": (chat_minutes, _tap("Yes")),
    "confirm: a question about a rule": (chat_rule_question, _tap("Yes")),
    "symptoms: a side question during a session": (symptoms_in_session, _tap("None of these")),
    "onboarding: screening": (screening, _tap("No")),
    "onboarding: picking exercises": (picking_exercises, _tap("Done choosing")),
    "settings: picking days": (picking_days, _tap("Done choosing")),
    "reminder: offered": (reminder_offered, lambda chat, content: chat.say("later")),
    "reminder: the skip reason": (skip_reason, _tap("Pain")),
}


def test_every_old_row_has_a_walk() -> None:
    assert set(OLD_ROWS) - {"_about"} == set(WALKS)


@pytest.mark.parametrize("name", list(WALKS))
async def test_a_row_stored_before_the_context_was_typed_goes_on_as_before(
    content: Content, clock: FakeClock, name: str
) -> None:
    """The same walk today stores the same keys and values (None is "not there"), and the old row, loaded,
    answers the next message exactly as a conversation the new code started."""
    walk, then = WALKS[name]
    old = OLD_ROWS[name]
    fresh, loaded = PureChat(content, clock), PureChat(content, FakeClock(START))
    await walk(fresh, content)
    await walk(loaded, content)
    assert {k: v for k, v in old["ctx"].items() if v is not None} == _stored(fresh), "the same stored shape"
    loaded.view.conversation = _with_row(loaded, old)
    assert loaded.view.conversation.ctx_problems() == []
    expected, got = await then(fresh, content), await then(loaded, content)
    assert "lost track" not in fresh.texts(got)
    assert [(r.text, r.buttons, r.kind) for r in got] == [(r.text, r.buttons, r.kind) for r in expected]
    assert loaded.view.conversation == fresh.view.conversation
    assert loaded.effects == fresh.effects


async def test_an_old_session_row_in_the_database_goes_on(
    sqlite_db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    """Through the engine: the row as the older version wrote it, its instants written back as it wrote them."""
    engine = Engine(sqlite_db, content, clock)
    chat = Chat(engine)
    await exercise_step(chat, content)
    row = await user_row(engine)
    old = {**row.conversation, **OLD_ROWS["session: an exercise step"]}
    async with sqlite_db.begin() as conn:
        await conn.execute(update(User).where(User.id == row.id).values(conversation=old))
    replies = await chat.tap("Done")
    assert "Step 3 of" in chat.texts(replies), chat.texts(replies)
    stored = (await user_row(engine)).conversation["ctx"]
    assert (stored["k"], stored["started_at"], stored["local_date"]) == (2, old["ctx"]["started_at"], "2026-03-02")
    engine.close()


def _session_row(**changes: object) -> dict[str, Any]:
    row = json.loads(json.dumps(OLD_ROWS["session: an exercise step"]))
    row["ctx"].update(changes)
    return row


@pytest.mark.parametrize(
    ("changes", "named", "expect_flow", "expect_text"),
    [
        # the exercise it was at is unreadable: nothing to go on with, the idle state
        ({"i": SECRET}, "i", FlowName.IDLE, "What would you like to do?"),
        ({"queue": SECRET}, "queue", FlowName.IDLE, "What would you like to do?"),
        # only where in the exercise is unreadable: the exercise again, from its introduction
        ({"phase": SECRET}, "phase", FlowName.SESSION, "Exercise 1 of"),
        ({"k": [SECRET]}, "k", FlowName.SESSION, "Exercise 1 of"),
        # a key no flow declares (a field renamed or retired): as if the context were not what the flow expects
        ({"retired_field": SECRET}, "retired_field", FlowName.SESSION, "Exercise 1 of"),
    ],
)
async def test_an_invalid_or_unknown_stored_context_is_logged_by_name_and_recovered_from(
    content: Content,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    changes: dict[str, object],
    named: str,
    expect_flow: FlowName,
    expect_text: str,
) -> None:
    chat = PureChat(content, clock)
    await exercise_step(chat, content)
    chat.view.conversation = _with_row(chat, _session_row(**changes))
    with caplog.at_level(logging.WARNING):
        replies = await chat.tap("Done")
    assert "lost track of where we were" in chat.texts(replies)
    assert expect_text in chat.texts(replies), chat.texts(replies)
    assert any(r.buttons for r in replies), "the person is asked something they can answer"
    assert chat.view.conversation.flow == expect_flow
    logged = [r.getMessage() for r in caplog.records]
    assert any(named in line for line in logged), logged
    assert all(SECRET not in line for line in logged), "never a stored value"
    assert SECRET not in json.dumps(chat.view.conversation.model_dump(mode="json")), "not kept after recovering"


async def test_an_invalid_context_stays_stored_until_a_message_recovers_it(content: Content, clock: FakeClock) -> None:
    """A timer (no one to tell) changes nothing; the person's next message gets the recovery."""
    chat = PureChat(content, clock)
    await timed_hold(chat, content)
    token = _stored(chat)["timer"]
    chat.view.conversation = Conversation.model_validate(
        {**chat.view.conversation.model_dump(mode="json"), "ctx": {**_stored(chat), "side": "one"}}
    )
    asked = chat.last
    assert await chat.send(Inbound(chat.user, InboundKind.SYSTEM, action="timer", text=token)) == []
    assert _stored(chat)["side"] == "one"
    replies = await chat.tap("Done", asked)
    assert "lost track" in chat.texts(replies) and "Exercise 3 of" in chat.texts(replies), chat.texts(replies)
    assert "side" not in _stored(chat) or _stored(chat)["side"] == 1


def test_every_flow_name_is_a_registered_flow_and_each_steps_enum_has_one_owner() -> None:
    assert set(registry.FLOWS) == set(FlowName)
    assert all(flow.name is name for name, flow in dispatch.FLOWS.items())
    assert {type(s) for flow in registry.FLOWS.values() for s in flow.steps} == set(registry.OWNERS)
    assert registry.current(UserView(user_id=1, ref=REF)) is onboarding.NEW_FLOW  # a new person's flow


def test_every_context_part_is_a_flows_declared_context_or_the_side_questions() -> None:
    declared = {flow.context for flow in registry.FLOWS.values() if flow.context is not None}
    assert set(CTX_KEYS.values()) == declared | {registry.ResumeCtx}


def test_a_context_key_is_declared_by_one_flow_only() -> None:
    with pytest.raises(ValueError, match=r"context key 'started_at' is declared by SessionCtx and .*Clash"):

        class Clash(FlowCtx):
            started_at: int | None = None

    assert CTX_KEYS["started_at"] is SessionCtx


@pytest.mark.parametrize(
    ("step", "flow"),
    [(settings.Steps.TIME, FlowName.SETTINGS), (onboarding.Steps.TIME, FlowName.ONBOARDING)],
)
def test_a_preference_question_is_asked_in_the_step_of_the_flow_that_asks_it(
    content: Content, step: settings.Steps | onboarding.Steps, flow: FlowName
) -> None:
    out = preferences.ask_time(Outcome(UserView(user_id=1, ref=REF)), step, content)
    assert (out.view.conversation.flow, out.view.conversation.step) == (flow, "time")
    assert "07:00" in [b.label for r in out.replies for b in r.buttons]
