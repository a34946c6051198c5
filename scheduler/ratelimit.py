"""Pacing for the outbox senders, counted the way the platforms count: a sliding 1 s window overall
(Telegram: 30 messages in any second) plus spacing per chat (about 1 message per second for bulk sends).

The overall window is ours, not a token bucket: a bucket (aiolimiter) lets a full burst through at the start
of every wave and after any idle gap, on top of what was just sent, and the platform answers that with 429s.
Here a send holds its place in the window from the moment it starts until one window after it completed, so
however the network reorders requests, the platform never sees more than the limit in any window of its own.

Per-chat spacing: a chat that is not ready is not waited for (that would stall every other chat behind it):
the outbox defers that row to when the chat is ready. A 429's `retry_after` holds the chat, and on Telegram
(whose 429 is the bot-wide flood limit) every bulk send of the bot, that long. Replies to a person's own
action do not go through here: they go out at once (scheduler/inbox.py), and `note` counts them into the
window so the wave makes room for them; bulk sends leave `reserve` of each window free (BackCoach's choice:
one message), so a reply that arrives while a wave fills the window still fits. Time is real monotonic
time: pacing is about the platform's clock, not the simulated one.

A send's place in the window ends a window after the platform answered it (`Slot.done`, called by the
outbox as soon as the sender returns), not after the outbox has also recorded the outcome in the database:
that bookkeeping is no part of what the platform counts, and holding the window through it kept a wave
well under the limit whenever the database was busy.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

MAX_CHATS_TRACKED = 50_000  # memory stays flat: the oldest entries are forgotten (they are long ready)
WINDOW = 1.0  # seconds: the platforms count messages per second
POLL = 0.005  # seconds between looks while only in-flight sends fill the window (they finish in milliseconds)


@dataclass(frozen=True)
class Limits:
    per_second: float  # overall messages in any 1 s window for this platform
    chat_spacing: float  # seconds between two messages to one chat
    flood_holds_all: bool = False  # a 429 holds every bulk send of the bot, not just that chat
    reserve: int = 1  # messages per window bulk sends leave free for replies to a person's own action


DEFAULT_LIMITS: dict[str, Limits] = {
    "telegram": Limits(per_second=30, chat_spacing=1.0, flood_holds_all=True),
    "slack": Limits(per_second=20, chat_spacing=1.0),  # chat.postMessage: ~1/s per channel
    "console": Limits(per_second=1000, chat_spacing=0.0),
}


class SlidingWindow:
    """At most `limit` sends in any `window` seconds. A send counts from when it starts (`acquire`) until
    `window` after it completed (`release`): the platform stamps it somewhere in between."""

    def __init__(self, limit: int, window: float = WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(limit, 1)
        self.window = window
        self._clock = clock
        self._finished: deque[float] = deque()  # completion times still inside the window
        self._in_flight = 0

    def used(self) -> int:
        now = self._clock()
        while self._finished and self._finished[0] + self.window <= now:
            self._finished.popleft()
        return self._in_flight + len(self._finished)

    def wait_time(self, messages: int = 1) -> float:
        """Seconds until `messages` more fit (0: now). More than the limit fits only into an empty window."""
        used = self.used()
        if used + min(messages, self.limit) <= self.limit:
            return 0.0
        room_needed = used + min(messages, self.limit) - self.limit
        if room_needed > len(self._finished):  # the rest are still in flight
            return POLL
        return max(self._finished[room_needed - 1] + self.window - self._clock(), POLL)

    async def acquire(self, messages: int = 1) -> None:
        while (wait := self.wait_time(messages)) > 0:  # noqa: ASYNC110 (waiting for time to pass, not an event)
            await asyncio.sleep(wait)
        self._in_flight += messages

    def release(self, messages: int = 1) -> None:
        self._in_flight -= messages
        self.note(messages)

    def note(self, messages: int = 1) -> None:
        """`messages` were sent outside `acquire` (a person's own replies): they count in the window."""
        now = self._clock()
        self._finished.extend([now] * messages)


class Slot:
    """Room for `messages` in the window while they are sent: `done()` once the platform has answered."""

    def __init__(self, window: SlidingWindow, messages: int) -> None:
        self._window, self._messages, self._open = window, messages, True

    def done(self) -> None:
        if self._open:
            self._open = False
            self._window.release(self._messages)


class Pacer:
    """One platform's pacing. `chat_wait` says whether a chat may be sent to now; `sending` holds overall
    capacity for `n` messages around their send (waiting for room first); `sent` and `hold` record what
    happened; `note` counts replies sent outside the outbox."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        bulk = int(max(limits.per_second, 1)) - max(limits.reserve, 0)
        self.window = SlidingWindow(max(bulk, 1), WINDOW, clock)  # own replies are noted here, never wait
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

    @asynccontextmanager
    async def sending(self, messages: int = 1) -> AsyncIterator[Slot]:
        """Room in the window for `messages`, held while they are sent (until `Slot.done`, at the latest
        the end of the block) and for a window after."""
        await self.window.acquire(messages)
        slot = Slot(self.window, messages)
        try:
            yield slot
        finally:
            slot.done()

    def note(self, messages: int = 1) -> None:
        """Replies to a person's own action, sent at once outside `sending`: the wave makes room for them."""
        if messages > 0:
            self.window.note(messages)

    def sent(self, chat: str, messages: int = 1) -> None:
        """`messages` went to `chat`: it is next free after that many spacings."""
        self._mark(chat, self._clock() + self.limits.chat_spacing * max(messages, 1))

    def hold(self, chat: str, seconds: float, *, everything: bool | None = None) -> None:
        """The platform said 429 retry_after=seconds: leave this chat (and, for a flood limit, everything)
        alone until then."""
        until = self._clock() + max(seconds, 0.0)
        self.throttled += 1
        if self.limits.flood_holds_all if everything is None else everything:
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
