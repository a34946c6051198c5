"""Where each person's live question message is, for the senders that edit it (Telegram, Slack).

The core says what to edit ("the live question"); only the platform knows which message that is, so the
sender reads the id before a batch of replies and records the new one after, through the repository.
"""

from __future__ import annotations

from typing import Protocol

from bot.engine import Engine
from bot.storage import repository as repo
from bot.types import UserRef


class LiveMessages(Protocol):
    async def get(self, user: UserRef) -> str | None: ...
    async def set(self, user: UserRef, message_id: str | None) -> None: ...


class StoredLiveMessages:
    """The ids on the person's user row, each read or write its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def get(self, user: UserRef) -> str | None:
        return await self.engine.transaction(lambda db: repo.live_message(db, user))

    async def set(self, user: UserRef, message_id: str | None) -> None:
        await self.engine.transaction(lambda db: repo.set_live_message(db, user, message_id))


class NoLiveMessages:
    """For a sender used without a database (tools, unit tests): every question is a new message."""

    async def get(self, user: UserRef) -> str | None:
        return None

    async def set(self, user: UserRef, message_id: str | None) -> None:
        return None
