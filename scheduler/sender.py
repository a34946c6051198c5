"""The neutral sending interface every adapter implements, and the errors it may raise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.types import Reply, UserRef


class SendError(Exception):
    """A send that did not happen. Subclasses say what to do about it."""


class RetryLater(SendError):
    """The platform asked us to slow down (HTTP 429): try again after `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(SendError):
    """A 5xx, a timeout or a network error: retry with backoff."""


class Blocked(SendError):
    """The person blocked the bot, left, or the app was uninstalled: stop sending to them."""


@dataclass(frozen=True)
class Sent:
    """The platform accepted reply number `index` of a send (0-based over the replies given)."""

    index: int
    message_id: str | None = None  # the platform's id of the message it made, where it says one


OnSent = Callable[[Sent], None]


class Sender(Protocol):
    platform: str

    async def send(self, user: UserRef, replies: list[Reply], on_sent: OnSent | None = None) -> None:
        """Deliver replies in order, or raise a SendError. Call `on_sent` as each reply is accepted, so a
        failure part-way retries only the rest (and whoever needs the message id can record it)."""
        ...
