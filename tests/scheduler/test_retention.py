"""Pruning: expired duplicate-check ids and finished outbox rows go; everything still needed stays."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import ActivityLog, ExerciseSession, InboxEvent, OutboxMessage, ProcessedEvent
from bot.types import Inbound, InboundKind, UserRef
from content.loader import Content
from scheduler import inbox, retention
from scheduler.runner import RETENTION_JOB_ID, Runner
from tests.flow_helpers import skipped_session_and_activity, start_session_to_first_step
from tests.storage.test_inbox import Counting


async def _count(db: AsyncEngine, model: type) -> int:
    async with db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def _outbox_keys(db: AsyncEngine) -> set[str]:
    async with db.connect() as conn:
        return set((await conn.execute(select(OutboxMessage.dedupe_key))).scalars())


async def test_prune_keeps_what_is_still_needed(
    engine: Engine, db: AsyncEngine, clock: FakeClock, content: Content
) -> None:
    prune_at = clock.now() + timedelta(days=31)
    chat = Chat(engine, "old")
    await chat.onboard()
    await skipped_session_and_activity(chat, content, pain=3, minutes=20)
    async with engine.sessions() as session, session.begin():
        user_id = (await session.execute(select(ProcessedEvent.user_id))).scalars().first()
        assert user_id is not None
        for key, status, age_days in (
            ("sent-old", "sent", 40),
            ("failed-old", "failed", 40),
            ("sent-recent", "sent", 3),
            ("pending-old", "pending", 40),
        ):
            at = prune_at - timedelta(days=age_days)
            session.add(
                OutboxMessage(
                    user_id=user_id,
                    kind="message",
                    dedupe_key=key,
                    payload={"replies": []},
                    created_at=at,
                    not_before=at,
                    attempts=0,
                    status=status,
                    sent_at=at if status == "sent" else None,
                )
            )
    events_at_start = await _count(db, ProcessedEvent)
    records = (await _count(db, ExerciseSession), await _count(db, ActivityLog))

    clock.set(prune_at)
    await chat.say("/help")  # a fresh event, to be kept
    stats = await retention.prune(engine, clock.now(), batch=2)  # small batches: the loop is exercised

    assert stats.events == events_at_start
    assert await _count(db, ProcessedEvent) == 1
    keys = await _outbox_keys(db)
    assert {"sent-old", "failed-old"}.isdisjoint(keys)
    assert {"sent-recent", "pending-old"} <= keys  # recent, or still to be sent
    assert records[0] >= 1 and records[1] >= 1
    assert (await _count(db, ExerciseSession), await _count(db, ActivityLog)) == records  # health records stay
    assert await retention.prune(engine, clock.now()) == retention.PruneStats()  # nothing left to do


async def test_a_duplicate_within_the_kept_window_is_still_dropped(engine: Engine, clock: FakeClock) -> None:
    chat = Chat(engine, "dup")
    await chat.say("/start", event_id="tg:1")
    clock.advance(retention.EVENTS_KEPT - timedelta(hours=1))
    await retention.prune(engine, clock.now())
    assert await chat.say("/start", event_id="tg:1") == []


async def test_the_runner_prunes_hourly_in_its_own_job(
    sqlite_db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    runner = Runner(Engine(sqlite_db, content, clock), {}, tick_seconds=3600)
    runner.start()
    try:
        job = runner.scheduler.get_job(RETENTION_JOB_ID)
        assert job is not None and isinstance(job.trigger, IntervalTrigger)
        assert job.trigger.interval == timedelta(hours=1)
        assert (job.coalesce, job.max_instances) == (True, 1)
    finally:
        await runner.stop()


async def test_the_replies_to_one_event_go_a_day_after_they_were_settled(
    engine: Engine, db: AsyncEngine, clock: FakeClock
) -> None:
    """Their words are most of the outbox's bytes and nothing reads them once sent; their keys name ids
    that are never queued again. A reminder, a timer, or any other message keeps the 30 days."""
    chat = Chat(engine, "replies")
    await chat.say("/help")
    now = clock.now()
    async with engine.sessions() as session, session.begin():
        user_id = (await session.execute(select(ProcessedEvent.user_id))).scalars().first()
        for key, kind, status, age in (
            ("reply:e1", "reply", "sent", timedelta(days=2)),
            ("reply:t2", "message", "sent", timedelta(days=2)),
            ("reply:e3", "reply", "sent", timedelta(hours=2)),
            ("reply:e4", "reply", "pending", timedelta(days=2)),
            ("reply:5", "message", "failed", timedelta(days=2)),  # the keys before the namespaces
            ("summary:w10", "message", "sent", timedelta(days=2)),
            ("reminder:x", "reminder", "sent", timedelta(days=2)),
        ):
            at = now - age
            session.add(
                OutboxMessage(
                    user_id=user_id,
                    kind=kind,
                    dedupe_key=key,
                    payload={"replies": []},
                    created_at=at,
                    not_before=at,
                    attempts=0,
                    status=status,
                    sent_at=at if status == "sent" else None,
                )
            )
    await retention.prune(engine, now)
    keys = await _outbox_keys(db)
    assert {"reply:e1", "reply:t2", "reply:5"}.isdisjoint(keys)
    assert {"reply:e3", "reply:e4", "summary:w10", "reminder:x"} <= keys


async def test_an_inbox_key_goes_after_two_days_and_a_later_redelivery_is_still_dropped(
    engine: Engine, db: AsyncEngine, clock: FakeClock
) -> None:
    ann = UserRef("console", "", "ann", "chat-ann")
    sender = Counting()
    await engine.receive(Inbound(ann, InboundKind.COMMAND, text="/help", event_id="tg:7"))
    await inbox.drain(engine, {"console": sender}, inbox.person_of(ann))
    answered = len(sender.sent)
    assert answered and await _count(db, InboxEvent) == 1
    clock.advance(timedelta(days=1))
    await retention.prune(engine, clock.now())
    assert await _count(db, InboxEvent) == 1  # a redelivery within a day meets its key
    clock.advance(timedelta(days=2))
    await retention.prune(engine, clock.now())
    assert await _count(db, InboxEvent) == 0
    await engine.receive(Inbound(ann, InboundKind.COMMAND, text="/help", event_id="tg:7"))  # very late
    await inbox.drain(engine, {"console": sender}, inbox.person_of(ann))
    assert len(sender.sent) == answered  # dropped by its processed event: answered once


async def _events(db: AsyncEngine) -> list[tuple[str, str]]:
    async with db.connect() as conn:
        query = select(OutboxMessage.dedupe_key, OutboxMessage.status).where(OutboxMessage.kind == "event")
        return sorted((key.partition(":")[0], status) for key, status in (await conn.execute(query)).all())


async def test_a_timer_goes_a_day_after_it_ran_and_one_still_to_run_stays(
    engine: Engine, db: AsyncEngine, clock: FakeClock, content: Content
) -> None:
    """A hold's timer, once run, is a day's bookkeeping (its replies are their own row): a session's holds
    were most of the outbox's rows, each kept a month. A timer or summary still to come is never touched."""
    chat = Chat(engine, "holds")
    await start_session_to_first_step(chat, content)
    while "I'll message you in" not in chat.texts():
        await chat.tap(next(label for label in ("Start", "Done") if label in chat.labels()))
    ended = await chat.advance(timedelta(seconds=41))
    assert "Time's up" in chat.texts(ended)
    await chat.tap("Ready", ended)  # the other side: a second timer, still to run
    assert await _events(db) == [("summary", "pending"), ("timer", "pending"), ("timer", "sent")]
    await retention.prune(engine, clock.now() + timedelta(hours=20))
    assert await _events(db) == [("summary", "pending"), ("timer", "pending"), ("timer", "sent")]
    await retention.prune(engine, clock.now() + retention.EVENTS_RAN_KEPT + timedelta(minutes=1))
    assert await _events(db) == [("summary", "pending"), ("timer", "pending")]
