"""What every chat platform adapter shares: receive an event durably, then process and deliver it in
order per person (deliver now, or leave it to the outbox), and log without message text.

A platform adapter translates; this base owns the order of things. `receive` returns once the event is in
the inbox (the platform may be answered from then on); `process` runs the person's waiting events through
the engine and sends each one's replies at once (scheduler/inbox.py). A crash after `receive` loses
nothing: the runner's recovery processes what is left. With a processing slot free and nothing of the
person's in flight or pending, `take` does both in one transaction (the inbox row is written done, still
the event's durability and dedupe record) and the replies follow in the same slot and turn. Log lines
carry the platform, the event's kind and error class names, never what anybody wrote.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from contextlib import AsyncExitStack
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.engine import Engine, Taken
from bot.types import Inbound
from scheduler import inbox
from scheduler.ratelimit import Pacer
from scheduler.sender import Sender

log = logging.getLogger(__name__)

RECEIVE_RETRY_MAX = 5.0  # seconds between tries when an event must be kept (polling has no redelivery)
DATABASE_ERRORS = (SQLAlchemyError, OSError)  # what a dropped or refused database connection raises
PROCESS_RETRIES = 6  # background tries after a database error, before leaving it to the runner's recovery
# Admission control. Events processed at once per adapter: enough to overlap the platform's round trips
# (about 100 events/s x 0.1-0.3 s), few enough that an overload queues in the inbox instead of as hundreds
# of half-done events contending for the database. Beyond MAX_WAITING waiting in this process, an event is
# left to the runner's inbox recovery (it is durable either way).
PROCESS_SLOTS = 32
MAX_WAITING = 10_000


class ConversationAdapter:
    platform: str = ""
    retry_transient_inline = True  # a 5xx on a reply someone waits for is tried once more at once

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.pacer: Pacer | None = None  # the outbox's pacer for this platform (bot/app.py shares it)
        self._slots = asyncio.Semaphore(PROCESS_SLOTS)
        self.waiting = 0  # events received here and waiting for a processing slot (bot/metrics.py shows it)

    @property
    def sender(self) -> Sender:
        raise NotImplementedError

    async def receive(self, inbound: Inbound, *, persist: bool = False) -> bool:
        """Make the event durable; True when it still needs processing (False: a redelivery of one done).
        A database error raises (the platform is told to deliver again), or, with `persist`, is retried
        until the event is kept: long polling confirms updates whatever we do, so nothing else would."""
        delay = 0.1
        while True:
            try:
                received = await self.engine.receive(inbound)
            except DBAPIError as exc:
                if not persist or self._stopping:
                    raise
                log.warning(
                    "event not yet durable; retrying", extra={"platform": self.platform, "error": type(exc).__name__}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECEIVE_RETRY_MAX)
                continue
            return received.pending

    async def process(self, inbound: Inbound, *, counted: bool = False) -> None:
        """Process and deliver whatever waits for this person, in one of the adapter's processing slots
        (waiting for one if all are busy). A failure is logged, not raised: the event is in the inbox. After
        a database error it is tried again in the background a few times (the person is waiting); should
        that fail too, the runner's recovery takes it up. `counted`: already in `waiting` (queued by `admit`)."""
        if not counted:
            self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            done = await self._process_once(inbound)
        finally:
            self._slots.release()
        if not done and not self._stopping:
            self.spawn(self._process_later(inbound))

    async def admit(self, inbound: Inbound) -> None:
        """After `receive`: process now if a slot is free (the caller answers the platform after the replies),
        else in the background once one is (the caller answers at once: the event is durable). Under
        overload the backlog waits in the inbox and processing stays at capacity."""
        if not self._slots.locked():
            await self.process(inbound)
        elif self.waiting < MAX_WAITING and not self._stopping:
            self.waiting += 1  # counted from now: the metrics show it at once
            self.spawn(self.process(inbound, counted=True))
        else:
            log.warning("event left to inbox recovery: too many waiting", extra={"platform": self.platform})

    async def _process_once(self, inbound: Inbound) -> bool:
        try:
            person = inbox.person_of(inbound.user)
            senders = {self.platform: self.sender}
            pacers = {self.platform: self.pacer} if self.pacer is not None else None
            await inbox.drain(self.engine, senders, person, retry_transient=self.retry_transient_inline, pacers=pacers)
            return True
        except Exception as exc:
            log.warning(
                "event left in the inbox for now", extra={"platform": self.platform, "error": type(exc).__name__}
            )
            return False

    async def _process_later(self, inbound: Inbound) -> None:
        delay = 0.1
        for _ in range(PROCESS_RETRIES):
            await asyncio.sleep(delay)
            if self._stopping or await self._process_once(inbound):
                return
            delay = min(delay * 2, RECEIVE_RETRY_MAX)

    async def converse(self, inbound: Inbound, *, persist: bool = False) -> None:
        """Receive, then process at once, or later under overload (for platforms answered after the work,
        like Telegram's webhook and polling). With a slot free, one transaction does both (`take`)."""
        later = await self.take(inbound)
        if later is not None:
            await later.finish()
            if not later.pending:
                return
            await self.admit(inbound)
        elif await self.receive(inbound, persist=persist):
            await self.admit(inbound)

    async def take(self, inbound: Inbound, *, defer: Defer | None = None) -> AtOnce | None:
        """Receive and process in one transaction (`Engine.receive_and_process`), holding a processing slot
        and the person's turn, which the returned `AtOnce` keeps until its replies are delivered (`finish`),
        so the person's replies still go out in order. None when that is not for now (no free slot, the
        person has work in flight, stopping) or the database failed: then nothing of it has landed, or it
        is safely in the inbox, and the caller receives as usual (`receive` finds it if it is)."""
        person = inbox.person_of(inbound.user)
        if self._stopping or self._slots.locked() or self.engine.turns.busy(person):
            return None
        stack = AsyncExitStack()
        await stack.enter_async_context(self._slots)
        await stack.enter_async_context(self.engine.turns.turn(person))
        try:
            taken = await self.engine.receive_and_process(inbound, defer=defer)
        except Exception as exc:  # a database error or a flow that raised: received the usual way instead
            await stack.aclose()
            log.info("event taken the usual way", extra={"platform": self.platform, "error": type(exc).__name__})
            return None
        return AtOnce(self, taken, stack)

    # -- background work -------------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:  # logged without the message; the inbox still holds the event
            log.warning("background work failed", extra={"platform": self.platform, "error": type(exc).__name__})

    async def drain(self) -> None:
        """Wait for in-flight work (stop uses it, and tests, to know the work is done)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


Defer = Callable[[Any], bool]  # given the person's row (None: someone new): leave the event pending for now


class AtOnce:
    """An event received and processed in one transaction: its replies are still to be delivered, in the
    processing slot and the person's turn that `ConversationAdapter.take` holds until `finish`."""

    def __init__(self, adapter: ConversationAdapter, taken: Taken, stack: AsyncExitStack) -> None:
        self.adapter, self.taken, self._stack = adapter, taken, stack

    @property
    def pending(self) -> bool:
        """Left in the inbox (an older event of the person waits, or `defer` asked): process it as usual."""
        return self.taken.pending

    async def finish(self) -> None:
        """Deliver the replies (what the platform will not take now stays in the outbox), then release."""
        try:
            processed = self.taken.processed
            if processed is not None:
                adapter = self.adapter
                try:
                    await inbox.deliver_now(
                        adapter.engine,
                        adapter.sender,
                        processed,
                        retry_transient=adapter.retry_transient_inline,
                        pacer=adapter.pacer,
                    )
                except Exception as exc:  # the row is in the outbox under our lease: it is sent later
                    log.warning(
                        "reply left to the outbox", extra={"platform": adapter.platform, "error": type(exc).__name__}
                    )
        finally:
            await self._stack.aclose()


def share_pacers(adapters: Iterable[object], pacers: dict[str, Pacer] | None) -> None:
    """Each adapter notes the replies it sends at once in the outbox's pacer for its platform: one window per
    platform, so a wave makes room for them (bot/app.py and bot/serve.py call this with the runner's)."""
    for adapter in adapters:
        if isinstance(adapter, ConversationAdapter):
            adapter.pacer = (pacers or {}).get(adapter.platform)
