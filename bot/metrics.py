"""Prometheus metrics for `backcoach serve`, in one registry of our own (no default process collectors
mixed with tests). Counters are per process (Prometheus sums them across processes); what lives in the
shared database (outbox depth and age, safety events) is read from it at scrape time, so every process
reports the same truth. Labels carry platform, kind and result only: never user ids or message text."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine import Engine
from bot.storage.models import InboxEvent, OutboxMessage, SymptomReport
from bot.types import Inbound, Reply, UserRef
from scheduler.runner import Runner, TickStats
from scheduler.sender import Blocked, OnSent, RetryLater, Sender, TransientError

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "backcoach_events_handled", "Events received by the engine, each once", ["platform", "kind"], registry=r
        )
        self.replies = Counter("backcoach_replies", "Replies produced for people", ["platform"], registry=r)
        self.sends = Counter("backcoach_outbox_sends", "Outbox sends by result", ["platform", "result"], registry=r)
        self.ticks = Histogram(
            "backcoach_tick_duration_seconds",
            "Scheduler tick duration",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.tick_failures = Counter("backcoach_tick_failures", "Scheduler ticks that raised", registry=r)
        self.inbox_pending = Gauge(
            "backcoach_inbox_pending", "Events received and not yet processed (whole database)", registry=r
        )
        self.outbox_pending = Gauge(
            "backcoach_outbox_pending", "Outbox rows not yet done, including timers scheduled for later", registry=r
        )
        self.outbox_depth = Gauge(
            "backcoach_outbox_due", "Outbox rows due now and not yet sent: the backlog", registry=r
        )
        self.outbox_age = Gauge(
            "backcoach_outbox_oldest_due_age_seconds", "How long the oldest due row has waited", registry=r
        )
        self.safety = Gauge("backcoach_safety_events", "Safety rules fired, all time, by rule", ["kind"], registry=r)
        self.waiting = Gauge(
            "backcoach_events_waiting_for_slot",
            "Events received by this process and waiting for a processing slot (admission control)",
            registry=r,
        )
        self.db_up = Gauge("backcoach_database_up", "1 when the last scrape reached the database", registry=r)

    async def refresh_from_database(self, db: AsyncEngine, now: datetime) -> None:
        """The shared figures, read at scrape time. A database outage shows as database_up 0."""
        try:
            async with db.connect() as conn:  # one round trip for the backlog figures: a flapping database
                due = OutboxMessage.status == "pending", OutboxMessage.not_before <= now  # still gets read
                pending, depth, oldest, inbox = (
                    await conn.execute(
                        select(
                            select(func.count()).where(OutboxMessage.status == "pending").scalar_subquery(),
                            select(func.count()).where(*due).scalar_subquery(),
                            select(func.min(OutboxMessage.not_before)).where(*due).scalar_subquery(),
                            select(func.count()).where(InboxEvent.status == "pending").scalar_subquery(),
                        )
                    )
                ).one()
                rules = (
                    await conn.execute(select(SymptomReport.rule_id, func.count()).group_by(SymptomReport.rule_id))
                ).all()
        except Exception:
            self.db_up.set(0)
            return
        self.db_up.set(1)
        self.inbox_pending.set(inbox)
        self.outbox_pending.set(pending)
        self.outbox_depth.set(depth)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        self.outbox_age.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        for rule_id, count in rules:
            self.safety.labels(kind=rule_id).set(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MeteredEngine(Engine):
    """The engine, counting what it handles (kind and number of replies only)."""

    metrics: Metrics

    def on_event(self, inbound: Inbound) -> None:
        self.metrics.events.labels(platform=inbound.user.platform, kind=inbound.kind.value).inc()

    def on_replies(self, platform: str, count: int) -> None:
        if count:
            self.metrics.replies.labels(platform=platform).inc(count)


def metered_engine(engine: Engine, metrics: Metrics) -> MeteredEngine:
    metered = MeteredEngine(engine.db, engine.content, engine.clock, lease=engine.leases.lease)
    metered.metrics = metrics
    return metered


class MeteredSender:
    """Wraps a platform Sender; counts each outbox send by its result and re-raises unchanged."""

    def __init__(self, inner: Sender, metrics: Metrics) -> None:
        self.inner = inner
        self.platform = inner.platform
        self.metrics = metrics

    async def send(self, user: UserRef, replies: list[Reply], on_sent: OnSent | None = None) -> None:
        result = "error"
        try:
            await self.inner.send(user, replies, on_sent)
            result = "sent"
        except RetryLater:
            result = "rate_limited"
            raise
        except TransientError:
            result = "transient"
            raise
        except Blocked:
            result = "blocked"
            raise
        finally:
            self.metrics.sends.labels(platform=self.platform, result=result).inc()


class MeteredRunner(Runner):
    """The scheduler runner, timing every tick and remembering when the last one finished (for /healthz)."""

    metrics: Metrics | None = None
    last_tick_at: float | None = None  # time.monotonic() of the last tick that completed without raising

    async def run_once(self) -> TickStats:
        started = time.monotonic()
        before = self.ticks
        stats = await super().run_once()
        if self.metrics is not None:
            self.metrics.ticks.observe(time.monotonic() - started)
            if self.ticks == before:
                self.metrics.tick_failures.inc()
        if self.ticks != before:
            self.last_tick_at = time.monotonic()
        return stats
