"""The scheduler: one APScheduler job that, every few seconds, claims due reminders, runs due timers and
check-ins, and sends due messages. The database holds all the state; the job holds none, so a restart
or a second process loses nothing and doubles nothing.

Shutdown: the scheduler is paused (no new tick), the tick in flight finishes its current batch (it checks
`stopping` between batches), then the scheduler shuts down. APScheduler's asyncio executor cancels
running jobs on shutdown, so the tick runs as its own shielded task.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.engine import Engine
from scheduler import inbox, outbox, retention
from scheduler.ratelimit import Pacer
from scheduler.reminders import BATCH, claim_due_reminders
from scheduler.sender import Sender
from scheduler.wake import next_instant

log = logging.getLogger(__name__)

JOB_ID = "backcoach-tick"
RETENTION_JOB_ID = "backcoach-retention"
RETENTION_EVERY = timedelta(hours=1)
SEND_BATCH = 200
DEFAULT_GRACE = timedelta(hours=2)
CLAIM_AHEAD = timedelta(seconds=10)  # reminders are built this long before they are due, then sent on time


@dataclass
class TickStats:
    reminders_queued: int = 0
    reminders_skipped: int = 0
    events: int = 0
    sent: int = 0
    recovered: int = 0  # inbox events a crash or a database error had left unprocessed


async def tick(
    engine: Engine,
    senders: dict[str, Sender],
    now: datetime | None = None,
    *,
    grace: timedelta = DEFAULT_GRACE,
    pacers: dict[str, Pacer] | None = None,
    batch: int = BATCH,
    keep_going: asyncio.Event | None = None,
    ahead: timedelta = timedelta(0),
    recover_after: timedelta | None = inbox.RECOVER_AFTER,
) -> TickStats:
    """One pass over everything due at `now` (default: the engine's clock, read afresh for each phase so
    that messages a timer just queued go out in the same tick). Used by the runner and the console alike.
    Sends in batches until nothing due is left or `keep_going` is cleared (shutdown)."""
    stats = TickStats()
    if recover_after is not None:
        stats.recovered = await inbox.recover(engine, senders, now or engine.clock.now(), recover_after, pacers)
    claim = await claim_due_reminders(engine, now or engine.clock.now(), grace=grace, batch=batch, ahead=ahead)
    stats.reminders_queued, stats.reminders_skipped = claim.queued, claim.skipped_late
    stats.events = await outbox.run_due_events(engine, now or engine.clock.now())
    while keep_going is None or keep_going.is_set():
        sent = await outbox.send_due_messages(
            engine, senders, now or engine.clock.now(), limit=SEND_BATCH, pacers=pacers
        )
        stats.sent += sent
        if sent == 0:
            break
    return stats


class Runner:
    """Owns the AsyncIOScheduler and its single job."""

    def __init__(
        self,
        engine: Engine,
        senders: dict[str, Sender],
        *,
        tick_seconds: float = 5.0,
        grace: timedelta = DEFAULT_GRACE,
        pacers: dict[str, Pacer] | None = None,
        retention_every: timedelta | None = RETENTION_EVERY,
        claim_ahead: timedelta = CLAIM_AHEAD,
    ) -> None:
        self.engine = engine
        self.senders = senders
        self.tick_seconds = tick_seconds
        self.grace = grace
        self.pacers = pacers
        self.retention_every = retention_every
        self.claim_ahead = claim_ahead
        self._wake: asyncio.TimerHandle | None = None  # the next due instant, when it comes before the next tick
        self._woken_task: asyncio.Future[None] | None = None
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._running = asyncio.Event()
        self._current: asyncio.Task[TickStats] | None = None
        self.ticks = 0
        self._recover_after = timedelta(0)  # at start, whatever a crash left pending; later only stale events

    def start(self) -> None:
        """Add the one job (fixed id, so a restart replaces rather than duplicates it) and start."""
        self._running.set()
        self.scheduler.add_job(
            self._job,
            "interval",
            seconds=self.tick_seconds,
            id=JOB_ID,
            replace_existing=True,
            coalesce=True,  # many missed ticks run once
            max_instances=1,  # a slow tick is never overlapped by the next
            misfire_grace_time=max(int(self.tick_seconds * 6), 30),  # a late tick still runs (default: 1 s)
        )
        if self.retention_every is not None:
            self.scheduler.add_job(
                self._prune,
                "interval",
                seconds=self.retention_every.total_seconds(),
                id=RETENTION_JOB_ID,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )
        self.scheduler.start()

    async def _prune(self) -> None:
        if not self._running.is_set():
            return
        try:
            await retention.prune(self.engine, self.engine.clock.now())
        except Exception:  # the next hour tries again; nothing is lost by pruning late
            log.exception("pruning failed")

    async def _job(self) -> None:
        if not self._running.is_set():
            return
        self._current = asyncio.ensure_future(self.run_once())
        try:
            await asyncio.shield(self._current)
        except asyncio.CancelledError:
            pass  # the scheduler shut down; stop() awaits the tick itself

    async def run_once(self) -> TickStats:
        try:
            stats = await tick(
                self.engine,
                self.senders,
                grace=self.grace,
                pacers=self.pacers,
                keep_going=self._running,
                ahead=self.claim_ahead,
                recover_after=self._recover_after,
            )
            self._recover_after = inbox.RECOVER_AFTER
            await self._plan_wake()
        except Exception:  # a failed tick must not stop the next one; the database still holds all the work
            log.exception("tick failed")
            return TickStats()
        self.ticks += 1
        if stats.reminders_queued or stats.sent or stats.events or stats.recovered:
            log.info(
                "tick",
                extra={
                    "queued": stats.reminders_queued,
                    "events": stats.events,
                    "sent": stats.sent,
                    "recovered": stats.recovered,
                },
            )
        return stats

    async def _plan_wake(self) -> None:
        """Wake at the next due instant (a reminder to claim, a message to send) if it comes before the next
        tick: due work then waits milliseconds, not up to a whole tick."""
        now = self.engine.clock.now()
        instant = await next_instant(self.engine, now, ahead=self.claim_ahead)
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        delay = (instant - now).total_seconds() if instant is not None else None
        if delay is not None and delay < self.tick_seconds and self._running.is_set():
            # a millisecond late rather than early: asyncio may run a timer up to its clock resolution early
            self._wake = asyncio.get_running_loop().call_later(max(delay, 0.0) + 0.001, self._woken)

    def _woken(self) -> None:
        self._wake = None
        if self._running.is_set() and (self._current is None or self._current.done()):
            self._woken_task = asyncio.ensure_future(self._job())

    async def stop(self) -> None:
        """No new tick; the one in flight finishes its batch (anything unsent stays in the outbox)."""
        self._running.clear()
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self.scheduler.running:
            self.scheduler.pause()
        if self._current is not None and not self._current.done():
            await asyncio.wait([self._current])
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
