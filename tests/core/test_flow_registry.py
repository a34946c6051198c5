"""The flow registry: steps declared once and checked when defined, an unknown stored step logged (names only)
and recovered from, and steps stored as plain strings by earlier versions still loading."""

from __future__ import annotations

import logging
from enum import StrEnum

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat, PureChat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.flows import dispatch
from bot.flows.common import Outcome
from bot.flows.registry import Flow, Need, Step
from bot.state import HistoryNotLoaded, UserView
from bot.storage.models import User
from bot.types import Inbound, InboundKind, UserRef
from content.loader import Content
from tests.flow_helpers import start_session_to_first_step, user_row


class _Two(StrEnum):
    A = "a"
    B = "b"


def _ask(out: Outcome, content: Content) -> Outcome:
    return out


def test_a_flow_whose_table_misses_a_step_fails_when_defined() -> None:
    with pytest.raises(ValueError, match=r"steps without an entry \['b'\]"):
        Flow("two", _Two, {_Two.A: Step(lambda o, e, a, n, c: o, _ask)})
    with pytest.raises(ValueError, match=r"entries without a step \['c'\]"):
        Flow("two", _Two, {s: Step(lambda o, e, a, n, c: o, _ask) for s in ("a", "b", "c")})


def test_every_registered_flow_is_declared_under_its_own_name() -> None:
    for name, flow in dispatch.FLOWS.items():
        assert flow.name == name
        assert {s.value for s in flow.steps} == set(flow.table)


SECRET = "my private words 7421"


@pytest.mark.parametrize(
    ("flow", "expect_flow", "expect_text"),
    [
        # a session with its context: the current exercise again, from its introduction
        ("session", "session", "Exercise 1 of"),
        # any other flow: the idle state and its question
        ("activity", "idle", "What would you like to do?"),
    ],
)
async def test_an_unknown_step_is_logged_and_recovered_from(
    content: Content, clock: FakeClock, caplog: pytest.LogCaptureFixture, flow: str, expect_flow: str, expect_text: str
) -> None:
    chat = PureChat(content, clock)
    await start_session_to_first_step(chat, content)
    chat.view.conversation.flow = flow
    chat.view.conversation.step = "retired_step"
    with caplog.at_level(logging.WARNING, logger="bot.flows.registry"):
        replies = await chat.say(SECRET)
    assert "lost track of where we were" in chat.texts(replies)
    assert expect_text in chat.texts(replies), chat.texts(replies)
    assert any(r.buttons for r in replies), "the person is asked something they can answer"
    assert chat.view.conversation.flow == expect_flow
    assert chat.view.conversation.step != "retired_step"
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.flows.registry"]
    assert logged and "retired_step" in logged[0] and flow in logged[0]
    assert all(SECRET not in line for line in logged), "never the message text"


async def test_an_unknown_step_without_a_session_context_goes_idle(content: Content, clock: FakeClock) -> None:
    chat = PureChat(content, clock)
    await chat.onboard()
    chat.view.conversation.flow, chat.view.conversation.step = "session", "retired_step"
    replies = await chat.say("/start")  # welcome back, then the current question again
    assert "lost track" in chat.texts(replies)
    assert chat.view.conversation.flow == "idle"


async def test_an_unknown_flow_is_logged_and_recovered_to_idle(
    content: Content, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    chat = PureChat(content, clock)
    await chat.onboard()
    chat.view.conversation.flow, chat.view.conversation.step = "retired_flow", "x"
    with caplog.at_level(logging.WARNING, logger="bot.flows.dispatch"):
        replies = await chat.say(SECRET)
    assert "lost track" in chat.texts(replies) and "What would you like to do?" in chat.texts(replies)
    assert chat.view.conversation.flow == "idle"
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.flows.dispatch"]
    assert logged and "retired_flow" in logged[0] and all(SECRET not in line for line in logged)


async def test_a_step_stored_as_a_plain_string_keeps_working(
    sqlite_db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    """Rows written before the steps were an enum hold plain strings: they load and go on."""
    engine = Engine(sqlite_db, content, clock)
    chat = Chat(engine)
    await start_session_to_first_step(chat, content)
    row = await user_row(engine)
    conversation = {**row.conversation, "step": "pain_after"}  # as an older version stored it
    async with sqlite_db.begin() as conn:
        await conn.execute(update(User).where(User.id == row.id).values(conversation=conversation))
    replies = await chat.say("/today")  # "already in a session": the stored step's own question again
    assert "pain" in chat.texts(replies).lower(), chat.texts(replies)
    replies = await chat.tap("3")  # no exercise done: nothing to progress, on to the activity question
    assert "physical activity" in chat.texts(replies), chat.texts(replies)
    stored = (await user_row(engine)).conversation
    assert (stored["flow"], stored["step"], stored["ctx"]["pain_after"]) == ("activity", "offer", 3)
    assert type(stored["step"]) is str
    engine.close()


def _event(kind: InboundKind, text: str = "", action: str = "") -> Inbound:
    return Inbound(UserRef("console", "", "u", "c"), kind, text=text, action=action)


@pytest.mark.parametrize(
    ("flow", "event", "need"),
    [
        ("idle", _event(InboundKind.COMMAND, "/help"), Need.NOTHING),
        ("idle", _event(InboundKind.COMMAND, "/history"), Need.RECORDS),
        ("session", _event(InboundKind.COMMAND, "/export"), Need.RECORDS),
        ("idle", _event(InboundKind.SYSTEM, "2026-03-09", "summary"), Need.RECORDS),
        ("idle", _event(InboundKind.SYSTEM, "2026-03-02", "reminder"), Need.FIGURES),
        ("settings", _event(InboundKind.SYSTEM, "", "reminder.snooze"), Need.FIGURES),
        ("idle", _event(InboundKind.SYSTEM, "", "checkin.rest"), Need.NOTHING),
        ("session", _event(InboundKind.SYSTEM, "token", "timer"), Need.NOTHING),
        ("session", _event(InboundKind.BUTTON, action="3:done"), Need.NOTHING),
        ("activity", _event(InboundKind.BUTTON, action="9:skip"), Need.FIGURES),
        ("activity", _event(InboundKind.TEXT, "20"), Need.FIGURES),
        ("reminder", _event(InboundKind.BUTTON, action="4:reason:pain"), Need.FIGURES),
        ("confirm", _event(InboundKind.TEXT, "yes"), Need.FIGURES),
        ("settings", _event(InboundKind.TEXT, "07:30"), Need.NOTHING),
        ("onboarding", _event(InboundKind.BUTTON, action="1:agree"), Need.NOTHING),
        ("idle", _event(InboundKind.TEXT, "I walked for 20 minutes"), Need.NOTHING),
    ],
)
def test_each_event_declares_what_it_reads(flow: str, event: Inbound, need: Need) -> None:
    view = UserView(user_id=1, ref=event.user)
    view.conversation.flow = flow
    assert dispatch.needs(view, event) is need


async def test_a_flow_reading_undeclared_history_fails_loudly(content: Content, clock: FakeClock) -> None:
    """Figures never guessed: a read the declarations missed is an error, not zeros."""
    view = UserView(user_id=1, ref=UserRef("console", "", "u", "c"))
    with pytest.raises(HistoryNotLoaded):
        _ = view.history.sessions_total
