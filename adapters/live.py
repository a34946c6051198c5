"""Where each person's live question message is, for the senders that edit it (Telegram, Slack).

The core says what to edit ("the live question"); only the platform knows which message that is, so the
sender reads the id before a batch of replies and records the new one after, through the repository.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from bot.engine import Engine
from bot.storage import repository as repo
from bot.types import UserRef

log = logging.getLogger(__name__)


class LiveMessages(Protocol):
    async def get(self, user: UserRef) -> str | None: ...
    async def set(self, user: UserRef, message_id: str | None) -> None: ...


class StoredLiveMessages:
    """The ids on the person's user row, each read or write its own short transaction.

    Cosmetic by nature: if the database cannot be reached here, the replies still go out (a tap's edit names
    its message itself; only an old keyboard may stay), because the event is already committed and a failure
    now would lose them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def get(self, user: UserRef) -> str | None:
        known, message_id = self.engine.take_live_hint(user)  # read by the event's own transaction just now
        if known:
            return message_id
        try:
            return await self.engine.transaction(lambda db: repo.live_message(db, user))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("live message id not read", extra={"platform": user.platform, "error": type(exc).__name__})
            return None

    async def set(self, user: UserRef, message_id: str | None) -> None:
        try:
            await self.engine.transaction(lambda db: repo.set_live_message(db, user, message_id))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("live message id not kept", extra={"platform": user.platform, "error": type(exc).__name__})


class NoLiveMessages:
    """For a sender used without a database (tools, unit tests): every question is a new message."""

    async def get(self, user: UserRef) -> str | None:
        return None

    async def set(self, user: UserRef, message_id: str | None) -> None:
        return None


@dataclass
class Tap:
    """A button tap this process is answering now: a toast can still reach it (answered once, at most)."""

    toast: Callable[[str], Awaitable[None]]
    source_text: str = ""  # the tapped message's text, where the platform gives it (Slack)
    answered: bool = False

    async def say(self, text: str) -> None:
        if not self.answered:
            self.answered = True
            await self.toast(text)


class Taps:
    """The taps in flight, per person. A reply sent later by the outbox (another process, or after a
    restart) finds none: its toast is dropped, as the tap it answered is long settled."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str, str], Tap] = {}

    @staticmethod
    def _key(user: UserRef) -> tuple[str, str, str]:
        return (user.platform, user.workspace, user.user_id)

    def open(self, user: UserRef, tap: Tap) -> None:
        self._open[self._key(user)] = tap

    def close(self, user: UserRef, tap: Tap) -> None:
        if self._open.get(self._key(user)) is tap:
            del self._open[self._key(user)]

    def get(self, user: UserRef) -> Tap | None:
        return self._open.get(self._key(user))
