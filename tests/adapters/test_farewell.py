"""The reply to /delete through the real Telegram adapter: it reaches the person once, and what stood behind
it (an outbox row with no user) is gone once it is sent, also when Telegram would not take it at first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.telegram import TelegramAdapter
from adapters.testing.fake_telegram import FakeTelegram, Fault, Person, onboard
from bot.engine import Engine
from bot.storage.models import OutboxMessage, User
from content.loader import Content
from scheduler import outbox
from tests.adapters.test_telegram import USER, config


@pytest.fixture
async def tg(fake_tg: FakeTelegram, engine: Engine) -> AsyncIterator[TelegramAdapter]:
    adapter = TelegramAdapter(config(fake_tg), engine)
    await adapter.start()
    yield adapter
    await adapter.stop()


async def rows(engine: Engine) -> tuple[list[object], list[tuple[object, ...]]]:
    async with engine.db.connect() as conn:
        users = list((await conn.execute(select(User.id))).scalars())
        boxed = [tuple(r) for r in (await conn.execute(select(OutboxMessage.user_id, OutboxMessage.status))).all()]
    return users, boxed


def said(calls: list[object], text: str) -> list[object]:
    return [c for c in calls if text in str(getattr(c, "params", {}).get("text", ""))]


@pytest.mark.parametrize("telegram_refuses", [False, True])
async def test_the_delete_confirmation_arrives_once_and_leaves_nothing(
    fake_tg: FakeTelegram, tg: TelegramAdapter, engine: Engine, content: Content, telegram_refuses: bool
) -> None:
    person = Person(fake_tg, tg, USER)
    await onboard(person, content)
    await person.say("/delete")
    if telegram_refuses:  # the confirmation meets 502s: it waits in the outbox, with no user behind it
        for method in ("sendMessage", "editMessageText"):
            fake_tg.fail(method, Fault.bad_gateway(), times=2)
    sent = await person.tap(content.msg("button.delete_all"))
    done = content.msg("delete.done")
    users, boxed = await rows(engine)
    assert users == []
    if telegram_refuses:
        assert not [c for c in said(sent, done) if c.answered]
        assert boxed == [(None, "pending")]  # nothing else of the person is left, only the reply to them
        engine.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
        mark = len(fake_tg.calls)
        await outbox.send_due_messages(engine, {"telegram": tg.sender}, engine.clock.now())
        sent = fake_tg.requests(mark)
    delivered = [c for c in said(sent, done) if c.answered]
    assert len(delivered) == 1 and str(delivered[0].params["chat_id"]) == str(USER)
    assert await rows(engine) == ([], [])  # sent: its row went with it
