"""Outbox sends go to several chats at once, yet each chat's messages stay in order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.engine import Engine
from bot.storage import repository as repo
from bot.storage.models import OutboxMessage
from bot.types import Reply, UserRef
from bot.wire import replies_to_json
from scheduler import outbox


class SlowSender:
    """Takes a little while per send, like a real platform, and records overlap and order."""

    platform = "console"

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.got: list[tuple[str, str]] = []

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.got.extend((user.chat_id, r.text) for r in replies)
        self.in_flight -= 1


async def test_sends_overlap_across_chats_and_keep_order_within_a_chat(engine: Engine) -> None:
    now = engine.clock.now()
    async with engine.sessions() as s, s.begin():
        for n in range(20):
            user = await s.run_sync(repo.load_user, UserRef("console", "", f"p{n}", f"chat{n}"), now)
            for k in range(2):
                await s.run_sync(
                    repo.enqueue,
                    user.id,
                    "message",
                    f"m:{n}:{k}",
                    {"replies": replies_to_json([Reply(text=f"{n}-{k}")])},
                    now - timedelta(seconds=2 - k),
                    now,
                )
    sender = SlowSender()
    sent = await outbox.send_due_messages(engine, {"console": sender}, now)
    assert sent == 40
    assert sender.max_in_flight > 1, "different chats are sent to concurrently"
    for n in range(20):
        texts = [text for chat, text in sender.got if chat == f"chat{n}"]
        assert texts == [f"{n}-0", f"{n}-1"], "a chat's messages arrive in the order they were queued"
    async with engine.sessions() as s:
        statuses = set((await s.execute(select(OutboxMessage.status))).scalars())
    assert statuses == {"sent"}


async def test_messages_due_at_the_same_instant_go_in_the_order_they_were_queued(engine: Engine) -> None:
    """One tick can queue a timer's replies and a summary's for the same instant. PostgreSQL returns equal
    keys in no set order (here: the first row rewritten after the second, so it sits after it in the table
    and its index), so the claim breaks ties by the row's id."""
    now = engine.clock.now()
    async with engine.sessions() as s, s.begin():
        user = await s.run_sync(repo.load_user, UserRef("console", "", "p", "chat"), now)
        for k in range(3):
            payload = {"replies": replies_to_json([Reply(text=f"queued {k}")])}
            await s.run_sync(repo.enqueue, user.id, "message", f"same:{k}", payload, now, now)
    async with engine.sessions() as s, s.begin():
        first = (await s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == "same:0"))).scalar_one()
        first.attempts = 0  # a rewrite: on PostgreSQL the row's new version is stored after the others
        first.last_error = "rewritten"
    sender = SlowSender()
    assert await outbox.send_due_messages(engine, {"console": sender}, now) == 3
    assert [text for _, text in sender.got] == ["queued 0", "queued 1", "queued 2"]
