"""Admission control (adapters/base.py): with a processing slot free, an event is processed before the
platform is answered; with every slot busy it is answered once durable and processed when a slot frees;
past the waiting limit it is left in the inbox, where the runner's recovery finds it. Nothing is lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import base
from adapters.base import PROCESS_SLOTS, ConversationAdapter
from bot.engine import Engine
from bot.types import Inbound, InboundKind, UserRef
from scheduler.runner import tick
from tests.storage.test_inbox import Counting, inbox_rows

ANN = UserRef("console", "", "ann", "chat-ann")


class Plain(ConversationAdapter):
    platform = "console"

    def __init__(self, engine: Engine, sender: Counting) -> None:
        super().__init__(engine)
        self._sender = sender

    @property
    def sender(self) -> Counting:
        return self._sender


def start(event_id: str) -> Inbound:
    return Inbound(ANN, InboundKind.COMMAND, text="/start", event_id=event_id)


async def test_with_a_slot_free_the_replies_go_out_before_the_platform_is_answered(engine: Engine) -> None:
    adapter = Plain(engine, Counting())
    await adapter.converse(start("e1"))
    assert adapter.sender.sent  # converse returned after the replies


async def test_with_every_slot_busy_the_event_waits_durably_and_is_processed_when_one_frees(
    engine: Engine, db: AsyncEngine
) -> None:
    adapter = Plain(engine, Counting())
    for _ in range(PROCESS_SLOTS):
        await adapter._slots.acquire()  # every slot taken by events still being processed
    await adapter.converse(start("e1"))  # answered at once...
    assert not adapter.sender.sent and adapter.waiting == 1
    assert [r.status for r in await inbox_rows(db)] == ["pending"]  # ...because it is durable
    adapter._slots.release()
    await adapter.drain()
    assert adapter.sender.sent and adapter.waiting == 0
    assert [r.status for r in await inbox_rows(db)] == ["done"]


async def test_past_the_waiting_limit_the_runners_recovery_processes_it(
    engine: Engine, db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "MAX_WAITING", 0)
    adapter = Plain(engine, Counting())
    for _ in range(PROCESS_SLOTS):
        await adapter._slots.acquire()
    await adapter.converse(start("e1"))
    await adapter.drain()
    assert not adapter.sender.sent and [r.status for r in await inbox_rows(db)] == ["pending"]
    recovering = Counting()
    stats = await tick(engine, {"console": recovering}, recover_after=timedelta(0))
    assert stats.recovered == 1 and recovering.sent
    assert [r.status for r in await inbox_rows(db)] == ["done"]
