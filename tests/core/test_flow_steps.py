"""Every step of every flow, through the pure core: an answer that is none of the step's own gets the step's
error and the same question again, and the conversation stays on that step (the registry's one loop: a
step handler returning None)."""

from __future__ import annotations

import pytest

from adapters.testing.chat import PureChat
from bot.clock import FakeClock
from bot.types import Inbound, InboundKind
from content.loader import Content
from tests.flow_helpers import to_pain_question

CHOOSE = "Please tap one of the buttons"
# (how to get there after onboarding, the flow and step, what a wrong answer is told)
WALKS: list[tuple[list[tuple[str, str]], str, str, str]] = [
    ([("say", "/settings")], "settings", "menu", CHOOSE),
    ([("say", "/settings"), ("tap", "Exercises")], "settings", "plan", CHOOSE),
    ([("say", "/settings"), ("tap", "Days")], "settings", "days", CHOOSE),
    ([("say", "/pause")], "pause", "length", CHOOSE),
    ([("say", "/delete")], "delete", "confirm", CHOOSE),
    ([("say", "/symptoms")], "symptoms", "menu", CHOOSE),
    ([("say", "/activity")], "activity", "minutes", "minutes as a number"),
    ([("say", "/activity"), ("say", "20")], "activity", "exertion", "number from 1 to 10"),
    ([("say", "/today")], "session", "precheck", CHOOSE),
    ([("pain", "")], "session", "pain_before", "number from 0 to 10"),
    ([("pain", ""), ("tap", "9")], "session", "high_pain", CHOOSE),
    ([("pain", ""), ("tap", "4")], "session", "exercise", CHOOSE),
    ([("pain", ""), ("tap", "4"), ("tap", "Start"), ("tap", "This hurts")], "session", "drop_offer", CHOOSE),
]


async def _walk(chat: PureChat, content: Content, steps: list[tuple[str, str]]) -> None:
    await chat.onboard()
    for how, what in steps:
        if how == "pain":
            await to_pain_question(chat, content)
        elif how == "say":
            await chat.say(what)
        else:
            await chat.tap(what)


@pytest.mark.parametrize(("walk", "flow", "step", "told"), WALKS, ids=[f"{w[1]}.{w[2]}" for w in WALKS])
async def test_a_wrong_answer_keeps_the_step_and_asks_again(
    content: Content, clock: FakeClock, walk: list[tuple[str, str]], flow: str, step: str, told: str
) -> None:
    chat = PureChat(content, clock)
    await _walk(chat, content, walk)
    assert (chat.view.conversation.flow, chat.view.conversation.step) == (flow, step), chat.texts()
    question = [r.text for r in chat.last if r.buttons][-1]
    seq = chat.view.conversation.seq
    replies = await chat.send(Inbound(chat.user, InboundKind.BUTTON, action=f"{seq}:banana", event_id=f"x{seq}"))
    assert told in chat.texts(replies)
    assert question in chat.texts(replies), "the same question again"
    assert (chat.view.conversation.flow, chat.view.conversation.step) == (flow, step)
