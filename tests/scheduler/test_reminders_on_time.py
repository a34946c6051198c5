"""Reminders on time: claimed a little ahead of their due time (built, queued with `not_before` = due), then
sent when the runner wakes at that instant instead of at its next fixed tick."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock, OffsetClock
from bot.engine import Engine
from bot.storage.models import OutboxMessage
from content.loader import Content
from scheduler import outbox
from scheduler.reminders import claim_due_reminders
from scheduler.runner import Runner
from scheduler.wake import next_instant
from tests.scheduler.test_reminders import add_users
from tests.scheduler.test_runner import GUARD, GatedSender

DUE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


async def test_a_reminder_claimed_ahead_waits_for_its_due_time(db: AsyncEngine, content: Content) -> None:
    clock = FakeClock(DUE - timedelta(minutes=5))
    await add_users(db, clock.now(), [{"id": "a", "zone": "UTC", "at": "07:00"}])
    engine = Engine(db, content, clock)
    try:
        assert await next_instant(engine, clock.now(), ahead=timedelta(seconds=10)) == DUE - timedelta(seconds=10)
        clock.set(DUE - timedelta(seconds=4))
        stats = await claim_due_reminders(engine, clock.now(), grace=timedelta(hours=2), ahead=timedelta(seconds=10))
        assert stats.queued == 1
        async with engine.sessions() as s:
            row = (await s.execute(select(OutboxMessage))).scalar_one()
        assert row.not_before == DUE and row.status == "pending"
        assert await next_instant(engine, clock.now(), ahead=timedelta(seconds=10)) == DUE
        sender = GatedSender(gated=False)
        assert await outbox.send_due_messages(engine, {"console": sender}, clock.now()) == 0  # not yet
        assert sender.got == []
        clock.set(DUE)
        assert await outbox.send_due_messages(engine, {"console": sender}, clock.now()) == 1
        assert sender.got == ["a"]
        # claimed once: claiming again (ahead or not) queues nothing more for the day
        again = await claim_due_reminders(engine, clock.now(), grace=timedelta(hours=2), ahead=timedelta(seconds=10))
        assert again.queued == 0
    finally:
        engine.close()


async def test_the_runner_wakes_at_the_due_instant_not_at_its_next_tick(
    sqlite_db: AsyncEngine, content: Content
) -> None:
    # Real time passing, two seconds before the reminders: inside the claim-ahead window, so the first run
    # queues them for 07:00 and the runner has to wake at that instant (its next fixed tick is an hour away).
    clock = OffsetClock(DUE - timedelta(seconds=2))
    await add_users(sqlite_db, clock.now(), [{"id": f"r{i}", "zone": "UTC", "at": "07:00"} for i in range(3)])
    engine = Engine(sqlite_db, content, clock)
    sender = GatedSender(gated=False)
    runner = Runner(engine, {"console": sender}, tick_seconds=3600, retention_every=None)  # no tick in this test
    runner.start()
    try:
        await runner.run_once()  # as the first tick would: claims ahead, plans the wake at 07:00
        async with engine.sessions() as s:
            assert set((await s.execute(select(OutboxMessage.not_before))).scalars()) == {DUE}
        async with asyncio.timeout(GUARD):  # a hang guard only
            await sender.three.wait()
    finally:
        await runner.stop()
        engine.close()
    assert sorted(sender.got) == ["r0", "r1", "r2"]  # with the next fixed tick an hour away
