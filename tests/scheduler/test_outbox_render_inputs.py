"""Queued messages are stored as what renders them (message keys, values, button actions), not their words
(issue 16, "storage that stays small"), and are rendered from content when sent.

Table-driven over every kind of message the outbox queues, on both databases: the same story is run twice,
once storing the words (the old form, `Engine(render_inputs=False)`) and once storing render inputs, and
the platform must receive exactly the same replies (text, buttons, kinds, the chosen answer, pictures),
while the rows hold less. A row stored in the old form, before this change, still sends."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat, RecordingSender
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import OutboxMessage
from bot.types import Reply, ReplyKind, UserRef
from content.loader import Content
from scheduler import outbox
from scheduler.runner import tick
from scheduler.sender import OnSent, Sent
from tests.conftest import START, database
from tests.flow_helpers import start_session_to_first_step, user_row


class EverySender(RecordingSender):
    """Records every reply as the platform would be asked to show it, closes of old questions too."""

    async def send(self, user: UserRef, replies: list[Reply], on_sent: OnSent | None = None) -> None:
        for i, reply in enumerate(replies):
            self.sent.append((user, reply))
            if on_sent is not None:
                on_sent(Sent(i))


async def ticks(chat: Chat, until: datetime, every: timedelta = timedelta(hours=1)) -> None:
    clock = chat.engine.clock
    assert isinstance(clock, FakeClock)
    while clock.now() < until:
        clock.advance(every)
        await tick(chat.engine, {chat.user.platform: chat.sender}, clock.now(), grace=timedelta(hours=2))


async def reminder(chat: Chat, content: Content) -> None:
    """The plain daily reminder (built from the row), after the onboarding's question."""
    await chat.onboard()
    await ticks(chat, START + timedelta(days=1, minutes=5))


async def reminder_over_a_question(chat: Chat, content: Content) -> None:
    """Mid-settings: the reminder runs the whole flow and closes the settings question."""
    await chat.onboard()
    await chat.say("/settings")
    await ticks(chat, START + timedelta(days=1, minutes=5))


async def gentle_reminder(chat: Chat, content: Content) -> None:
    """Reminders ignored days in a row: the gentle variant."""
    await chat.onboard()
    await ticks(chat, START + timedelta(days=5, minutes=5))


async def snoozed_reminder(chat: Chat, content: Content) -> None:
    await chat.onboard()
    await ticks(chat, START + timedelta(days=1, minutes=5))
    offered = [r for _, r in chat.sender.sent if r.buttons]
    await chat.tap("Snooze", offered[-1:])
    await ticks(chat, START + timedelta(days=1, hours=2), timedelta(minutes=15))


async def hold_timers(chat: Chat, content: Content) -> None:
    """A whole session, every hold sat out until its timer ends it (its replies: the next step)."""
    await start_session_to_first_step(chat, content)
    for _ in range(200):
        labels, text = chat.labels(), chat.texts()
        if "I'll message you in" in text:
            chat.last = [r for r in await chat.advance(timedelta(seconds=41)) if r.kind is not ReplyKind.CLOSE]
        elif "Start" in labels and "Exercise" in text:
            await chat.tap("Start")
        elif "Done" in labels:
            await chat.tap("Done")
        elif "Ready" in labels:
            await chat.tap("Ready")
        else:
            break
    assert "pain" in chat.texts().lower(), chat.texts()


async def rest_checkin(chat: Chat, content: Content) -> None:
    await chat.onboard()
    await chat.say("/symptoms")
    await chat.tap(content.safety.rule("spasm_flare").label)
    await chat.tap("2 day")
    await chat.advance(timedelta(days=2, minutes=1))


async def hold_checkin(chat: Chat, content: Content) -> None:
    await chat.onboard()
    await chat.say("my foot is tingling")
    await chat.advance(timedelta(days=7, minutes=1))


async def weekly_summary(chat: Chat, content: Content) -> None:
    """Sunday's summary of the week, with its chart, after a session and some activity."""
    await chat.onboard()
    await chat.say("/activity")
    await chat.say("25")
    await chat.tap("5")
    await ticks(chat, datetime(2026, 3, 8, 11, 0, tzinfo=UTC))
    assert (await user_row(chat.engine)).profile["summary_last"] == "2026-03-08"


STORIES: dict[str, Callable[[Chat, Content], Awaitable[None]]] = {
    "reminder": reminder,
    "reminder over a question": reminder_over_a_question,
    "gentle reminder": gentle_reminder,
    "snoozed reminder": snoozed_reminder,
    "hold timers": hold_timers,
    "rest check-in": rest_checkin,
    "hold check-in": hold_checkin,
    "weekly summary": weekly_summary,
}
SHOWS = {  # what each story's queued messages must include, so that none passes by sending nothing
    "reminder": "Time for your back exercises",
    "reminder over a question": "Time for your back exercises",
    "gentle reminder": "reminders",
    "snoozed reminder": "Time for your back exercises",
    "hold timers": "Time's up",
    "rest check-in": "How is your back",
    "hold check-in": "Have you had guidance",
    "weekly summary": "Your week",
}


async def told(db: AsyncEngine, content: Content, story: str, *, render_inputs: bool) -> tuple[list[Any], list[Any]]:
    """Run the story; what the outbox sent (every reply, as compared fields) and the queued rows' payloads."""
    engine = Engine(db, content, FakeClock(START), render_inputs=render_inputs)
    chat = Chat(engine)
    chat.sender = EverySender()
    try:
        await STORIES[story](chat, content)
    finally:
        engine.close()
    async with db.connect() as conn:
        payloads = (
            await conn.execute(
                select(OutboxMessage.payload)
                .where(OutboxMessage.kind.in_(("reminder", "message")))
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        stored = list(payloads)
    return [_shown(r) for _, r in chat.sender.sent], stored


def _shown(r: Reply) -> tuple[Any, ...]:
    """Everything a platform shows of a reply (a picture by its file and bytes)."""
    picture = (r.image.filename, r.image.mime_type, len(r.image.data)) if r.image else None
    return (r.text, r.buttons, r.kind, r.chosen, r.target, r.urgent, r.ask_location, r.meta, picture, r.document)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("story", list(STORIES))
async def test_render_inputs_send_exactly_what_the_words_did(
    story: str, kind: str, content: Content, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with database(kind, tmp_path_factory.mktemp("words")) as db:
        words_sent, words_rows = await told(db, content, story, render_inputs=False)
    async with database(kind, tmp_path_factory.mktemp("inputs")) as db:
        inputs_sent, inputs_rows = await told(db, content, story, render_inputs=True)
    assert any(SHOWS[story] in shown[0] for shown in words_sent), [s[0] for s in words_sent]
    assert inputs_sent == words_sent
    items = [item for payload in inputs_rows for item in payload["replies"]]
    assert any("t" in item or "b" in item for item in items), "the rows hold render inputs"
    assert all("text" in item for payload in words_rows for item in payload["replies"]), "and before: words"
    assert _bytes(inputs_rows) < _bytes(words_rows)


def _bytes(payloads: list[Any]) -> int:
    return sum(len(json.dumps(p)) for p in payloads)


# A reminder row as BackCoach stored it before render inputs (revision 0007): its words, every field.
OLD_REMINDER = json.loads(
    '{"replies": [{"text": "Time for your back exercises. A few minutes is enough.\\n\\nTo turn these reminders '
    'off, send /stop.", "buttons": [["Start now", "g9:g.remind.start:2026-03-02", ""], ["Snooze 1 h", '
    '"g9:g.remind.snooze:2026-03-02", ""], ["Skip today", "g9:g.remind.skip:2026-03-02", ""], ["My back is '
    'worse", "g9:g.remind.worse:2026-03-02", ""], ["Change time", "g9:g.remind.time:2026-03-02", ""]], "urgent": '
    'false, "image": null, "document": null, "ask_location": false, "meta": {}, "kind": "new", "chosen": "", '
    '"target": ""}, {"text": "You\'re all set. I\'ll remind you at 07:00 (Europe/London), every day.", '
    '"buttons": [], "urgent": false, "image": null, "document": null, "ask_location": false, "meta": {}, '
    '"kind": "close", "chosen": "", "target": ""}]}'
)
OLD_TIMER_REPLY = json.loads(
    '{"replies": [{"text": "Time\'s up: slowly release the stretch.", "buttons": [], "urgent": false, "image": '
    'null, "document": null, "ask_location": false, "meta": {}, "kind": "new", "chosen": "", "target": ""}, '
    '{"text": "Exercise 5 of 6: Hip flexor stretch", "buttons": [["Start", "607:start", "good"], ["Skip", '
    '"607:skip", ""]], "urgent": false, "image": null, "document": null, "ask_location": false, "meta": {}, '
    '"kind": "new", "chosen": "", "target": ""}]}'
)


async def test_a_row_stored_as_words_before_still_sends(engine: Engine, content: Content) -> None:
    chat = Chat(engine)
    await chat.onboard()
    user_id = (await user_row(engine)).id
    now = engine.clock.now()
    async with engine.db.begin() as conn:
        for key, kind, payload in (
            ("reminder:old", "reminder", OLD_REMINDER),
            ("reply:told", "message", OLD_TIMER_REPLY),
        ):
            await conn.execute(
                insert(OutboxMessage).values(
                    user_id=user_id, kind=kind, dedupe_key=key, payload=payload, created_at=now, not_before=now
                )
            )
    sender = EverySender()
    assert await outbox.send_due_messages(engine, {"console": sender}, now) == 2
    sent = [r for _, r in sender.sent]
    assert [r.text for r in sent] == [item["text"] for p in (OLD_REMINDER, OLD_TIMER_REPLY) for item in p["replies"]]
    assert sent[0].buttons[1].label == "Snooze 1 h" and sent[0].buttons[1].action == "g9:g.remind.snooze:2026-03-02"
    assert sent[1].kind is ReplyKind.CLOSE and sent[3].buttons[0].style.value == "good"


async def test_a_message_the_content_no_longer_has_waits_and_holds_up_nobody(engine: Engine) -> None:
    """Render inputs naming a message a deploy removed cannot be made into words: that row is retried
    (and given up on after the attempts), the other rows are sent."""
    alice, bob = Chat(engine, "alice"), Chat(engine, "bob")
    await alice.onboard()
    await bob.onboard()
    now = engine.clock.now()
    rows = [
        ((await user_row(engine, "alice")).id, "reply:gone", {"replies": [{"t": [["no.such.message"]]}]}),
        ((await user_row(engine, "bob")).id, "reply:kept", {"replies": [{"t": [["reminder.text"]]}]}),
    ]
    async with engine.db.begin() as conn:
        for user_id, key, payload in rows:
            await conn.execute(
                insert(OutboxMessage).values(
                    user_id=user_id, kind="message", dedupe_key=key, payload=payload, created_at=now, not_before=now
                )
            )
    sender = EverySender()
    assert await outbox.send_due_messages(engine, {"console": sender}, now) == 1
    assert [(u.user_id, r.text) for u, r in sender.sent] == [("bob", engine.content.msg("reminder.text"))]
    async with engine.db.connect() as conn:
        gone = (
            await conn.execute(
                select(OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.attempts).where(
                    OutboxMessage.dedupe_key == "reply:gone"
                )
            )
        ).one()
    assert tuple(gone) == ("pending", "cannot render", 1)
