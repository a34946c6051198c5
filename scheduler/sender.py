"""The neutral sending interface every adapter implements, and the errors it may raise."""

from __future__ import annotations

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


class Sender(Protocol):
    platform: str

    async def send(self, user: UserRef, replies: list[Reply]) -> None:
        """Deliver replies in order, or raise a SendError."""
        ...
