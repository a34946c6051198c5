"""Odd input gets a clear reply and changes no state wrongly: stale buttons, duplicates, unknown
commands, empty, very long, emoji and other scripts; and a restart resumes mid-session."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.testing.chat import Chat, PureChat
from bot.clock import FakeClock
from bot.effects import SessionRecord
from bot.engine import Engine
from bot.storage.models import ProcessedEvent
from bot.types import Inbound, InboundKind
from content.loader import Content
from tests.flow_helpers import start_session_to_first_step, user_row


def _conversation(chat: PureChat) -> dict[str, Any]:
    return chat.view.conversation.model_dump()


async def test_stale_button_is_refused_and_changes_nothing(chat: PureChat, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    old = chat.last
    await chat.tap("Done")
    before = _conversation(chat)
    replies = await chat.tap("Skip", old)  # a button from the earlier message
    assert "moved on" in replies[0].text
    after = _conversation(chat)
    assert after["step"] == before["step"] and after["ctx"] == {**before["ctx"]}
    assert "Step 2 of" in chat.texts(replies), "the current question is shown again"


async def test_forged_button_payload_is_refused(chat: PureChat, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    before = _conversation(chat)
    for forged in ("999:done", "garbage", "", ":", "g:g.unknown", "1:" + "x" * 500):
        replies = await chat.send(Inbound(chat.user, InboundKind.BUTTON, action=forged, event_id=f"f{forged}"))
        assert replies and ("moved on" in replies[0].text), forged
    after = _conversation(chat)
    assert (after["step"], after["ctx"]) == (before["step"], before["ctx"])


@pytest.mark.storage
async def test_duplicate_event_id_is_handled_once(chat: Chat, engine: Engine, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    first = await chat.tap("Done", event_id="tg:42")
    assert "Step 2 of" in chat.texts(first)
    second = await chat.tap("Done", first, event_id="tg:42")
    assert second == []
    assert (await user_row(engine)).conversation["ctx"]["k"] == 1, "only one step forward"
    async with engine.sessions() as s:
        count = (
            await s.execute(select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.event_id == "tg:42"))
        ).scalar_one()
    assert count == 1


async def test_unknown_command_gets_help(chat: Chat) -> None:
    await chat.onboard()
    replies = await chat.say("/dance")
    assert "don't know the command /dance" in replies[0].text
    assert "/today" in chat.texts(replies)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
async def test_empty_message(chat: PureChat, content: Content, text: str) -> None:
    await start_session_to_first_step(chat, content)
    before = _conversation(chat)
    replies = await chat.say(text)
    assert "empty" in replies[0].text and "Step 1 of" in chat.texts(replies)
    assert _conversation(chat)["ctx"] == before["ctx"]


@pytest.mark.storage
@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        "🙂🙂🙂 👍",
        "Болит спина",  # Cyrillic
        "我的背很痛",  # Chinese
        "ظهري يؤلمني",  # Arabic
        "<b>&amp; _*`",
        "\u200b\u0000",
    ],
)
async def test_unusual_text_mid_session_keeps_state(chat: Chat, engine: Engine, content: Content, text: str) -> None:
    await start_session_to_first_step(chat, content)
    before = (await user_row(engine)).conversation
    replies = await chat.say(text)
    assert replies, "every message gets a reply"
    assert all(r.text for r in replies)
    after = (await user_row(engine)).conversation
    assert (after["flow"], after["step"], after["ctx"]["k"]) == (before["flow"], before["step"], before["ctx"]["k"])


async def test_long_red_flag_message_is_still_recognised(chat: Chat, content: Content) -> None:
    await chat.onboard()
    replies = await chat.say("my chest feels tight " + "and so on " * 400)
    assert replies[0].text == content.safety.rule("chest_pain").advice


@pytest.mark.storage
async def test_restart_resumes_mid_session(db, content: Content, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    first = Chat(Engine(db, content, clock))
    await start_session_to_first_step(first, content)
    await first.tap("Done")
    assert "Step 2 of" in first.texts()
    # A new engine (a new process) on the same database: same step, same buttons still valid.
    second = Chat(Engine(db, content, clock))
    replies = await second.tap("Done", first.last)
    assert "Step 3 of" in second.texts(replies)
    replies = await second.say("/today")
    assert "middle of a session" in replies[0].text


async def test_stop_leaves_session_at_every_step(chat: PureChat, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    replies = await chat.say("stop")
    assert "Session stopped" in chat.texts(replies)
    assert chat.view.conversation.flow == "idle"
    assert chat.effects_of(SessionRecord)[-1].status == "stopped"
    assert chat.view.schedule.reminders_on, "plain stop in a session ends the session, not the reminders"
    await chat.say("/stop")
    assert not chat.view.schedule.reminders_on


@pytest.mark.storage
async def test_delete_erases_everything_after_confirmation(chat: Chat, engine: Engine, content: Content) -> None:
    await start_session_to_first_step(chat, content)
    await chat.say("/delete")
    await chat.tap("Cancel")
    assert "Step 1 of" in chat.texts(), "cancel goes back to where we were"
    await chat.say("/delete")
    await chat.tap("Yes, delete")
    assert "deleted" in chat.texts()
    from bot.storage.models import Base

    async with engine.sessions() as s:
        for table in Base.metadata.sorted_tables:
            count = (await s.execute(select(func.count()).select_from(table))).scalar_one()
            assert count == 0, f"{table.name} still has rows"
