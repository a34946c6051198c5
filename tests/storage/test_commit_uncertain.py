"""The connection dies around COMMIT: whether or not the transaction landed, the person ends with one answer.

The fault is injected at the engine's transaction boundary (a real transaction on a real database, then the
error a dropped connection raises), because a real connection cannot be made to die at exactly that instant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from adapters.testing.chat import Chat
from bot.engine import Engine
from bot.types import Inbound, InboundKind


def _lost_connection() -> OperationalError:
    return OperationalError("COMMIT", {}, ConnectionResetError("server closed the connection unexpectedly"))


async def test_a_commit_that_landed_still_gets_its_replies(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat(engine, "u1")
    real = Engine.transaction
    calls = 0

    async def answer_lost(self: Engine, work: Callable[[Any], Any]) -> Any:
        nonlocal calls
        calls += 1
        result = await real(self, work)  # committed...
        if calls == 1:
            raise _lost_connection()  # ...but the answer never arrived
        return result

    monkeypatch.setattr(Engine, "transaction", answer_lost)
    replies = await chat.send(Inbound(chat.user, InboundKind.COMMAND, text="/start", event_id="tg:7"))
    assert replies and "BackCoach" in chat.texts()
    monkeypatch.setattr(Engine, "transaction", real)
    assert await chat.send(Inbound(chat.user, InboundKind.COMMAND, text="/start", event_id="tg:7")) == []


async def test_a_commit_that_failed_raises_and_the_redelivery_is_handled(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = Chat(engine, "u2")
    real = Engine.transaction
    calls = 0

    async def rolled_back(self: Engine, work: Callable[[Any], Any]) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            return await real(self, work)

        def then_fail(db: Any) -> Any:
            work(db)
            raise _lost_connection()  # inside the transaction: nothing of it is kept

        return await real(self, then_fail)

    monkeypatch.setattr(Engine, "transaction", rolled_back)
    with pytest.raises(OperationalError):  # the adapter answers 5xx, so the platform redelivers
        await chat.send(Inbound(chat.user, InboundKind.COMMAND, text="/start", event_id="tg:8"))
    replies = await chat.send(Inbound(chat.user, InboundKind.COMMAND, text="/start", event_id="tg:8"))
    assert replies and "BackCoach" in chat.texts()
