"""Pacing for the outbox senders: an overall leaky bucket per platform plus spacing per chat.

The overall bucket is aiolimiter's `AsyncLimiter` (already installed with python-telegram-bot's
rate-limiter extra; small and well kept). Per-chat spacing is ours: a chat that is not ready is not waited
for (that would stall every other chat behind it) — the outbox defers that row to when the chat is ready.
A 429's `retry_after` holds the chat (and, for Telegram's bot-wide flood limit, everything) that long.
Time here is real monotonic time: pacing is about the platform's clock, not the simulated one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

MAX_CHATS_TRACKED = 50_000  # memory stays flat: the oldest entries are forgotten (they are long ready)


@dataclass(frozen=True)
class Limits:
    per_second: float  # overall messages per second for this platform
    chat_spacing: float  # seconds between two messages to one chat


DEFAULT_LIMITS: dict[str, Limits] = {
    "telegram": Limits(per_second=30, chat_spacing=1.0),  # ~30/s overall, ~1/s per private chat
    "slack": Limits(per_second=20, chat_spacing=1.0),  # chat.postMessage: ~1/s per channel
    "console": Limits(per_second=1000, chat_spacing=0.0),
}


class Pacer:
    """One platform's pacing. `chat_wait` says whether a chat may be sent to now; `acquire` takes
    overall capacity for `n` messages (waiting if needed); `sent` and `hold` record what happened."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._bucket = AsyncLimiter(max(limits.per_second, 1), time_period=1)
        self._clock = clock
        self._ready_at: OrderedDict[str, float] = OrderedDict()
        self._global_ready_at = 0.0
        self.deferred = 0
        self.throttled = 0

    def chat_wait(self, chat: str) -> float:
        """Seconds until this chat (and the platform as a whole) may take another message; 0 if now."""
        now = self._clock()
        ready = max(self._ready_at.get(chat, 0.0), self._global_ready_at)
        return max(0.0, ready - now)

    async def acquire(self, messages: int = 1) -> None:
        """Overall capacity for `messages` messages; larger bursts are taken a bucket-full at a time."""
        left = max(messages, 1)
        while left > 0:
            step = min(left, int(self._bucket.max_rate))
            await self._bucket.acquire(step)
            left -= step

    def sent(self, chat: str, messages: int = 1) -> None:
        """`messages` went to `chat`: it is next free after that many spacings."""
        self._mark(chat, self._clock() + self.limits.chat_spacing * max(messages, 1))

    def hold(self, chat: str, seconds: float, *, everything: bool = False) -> None:
        """The platform said 429 retry_after=seconds: leave this chat (or everything) alone until then."""
        until = self._clock() + max(seconds, 0.0)
        self.throttled += 1
        if everything:
            self._global_ready_at = max(self._global_ready_at, until)
        self._mark(chat, max(until, self._ready_at.get(chat, 0.0)))

    def _mark(self, chat: str, ready_at: float) -> None:
        self._ready_at[chat] = ready_at
        self._ready_at.move_to_end(chat)
        while len(self._ready_at) > MAX_CHATS_TRACKED:
            self._ready_at.popitem(last=False)


def pacers_for(platforms: list[str], overrides: dict[str, Limits] | None = None) -> dict[str, Pacer]:
    """A pacer per platform, with the defaults above unless overridden (configurable per platform)."""
    limits = {**DEFAULT_LIMITS, **(overrides or {})}
    return {p: Pacer(limits.get(p, Limits(per_second=30, chat_spacing=1.0))) for p in platforms}
