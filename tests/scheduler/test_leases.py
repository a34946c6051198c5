"""Claims a live worker keeps: leases renewed while sending, a fencing token on every outcome, and the
two-worker cases on PostgreSQL (a slow platform; connections dropped under a reminder wave) with zero
duplicates. Waits are on conditions (renewals counted, rows settled), never on elapsed time."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.clock import FakeClock, SystemClock
from bot.engine import Engine
from bot.storage.db import make_engine
from bot.storage.models import OutboxMessage
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler import outbox
from scheduler.runner import tick
from scheduler.sender import TransientError
from tests.conftest import PG_URL
from tests.scheduler.test_reminders import add_users

DUE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


class Recorder:
    platform = "console"

    def __init__(self, delay: float = 0.0) -> None:
        self.got: list[str] = []
        self.delay = delay
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.fail_next: BaseException | None = None

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.got.append(user.chat_id)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error


async def statuses(db: AsyncEngine) -> list[str]:
    async with db.connect() as conn:
        return list((await conn.execute(select(OutboxMessage.status).order_by(OutboxMessage.id))).scalars())


async def test_a_stale_workers_outcome_cannot_overwrite_the_new_owners(db: AsyncEngine, content: Content) -> None:
    clock = FakeClock(DUE - timedelta(minutes=1))
    await add_users(db, clock.now(), [{"id": "c0", "zone": "UTC", "at": "07:00"}])
    clock.set(DUE)
    old, new = Engine(db, content, clock), Engine(db, content, clock)
    slow = Recorder()
    slow.gate = asyncio.Event()
    slow.fail_next = TransientError("502 after the platform took it")  # it will come back saying "retry"
    first = asyncio.create_task(tick(old, {"console": slow}))
    await slow.started.wait()
    old.leases.stop()  # it stops renewing (stuck in a GC pause, say) and its lease runs out
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    other = Recorder()
    await tick(new, {"console": other})  # the new owner claims, sends and marks it sent
    assert other.got == ["c0"] and await statuses(db) == ["sent"]
    slow.gate.set()
    await first  # the stale worker's "retry later" finds the row no longer carries its token
    assert await statuses(db) == ["sent"]
    clock.advance(timedelta(hours=1))
    await tick(new, {"console": other})
    assert other.got == ["c0"]  # nobody sends it a third time
    old.close()
    new.close()


async def test_a_slow_send_keeps_its_lease_and_no_other_worker_takes_the_row(db: AsyncEngine, content: Content) -> None:
    """The clock moves half a lease after each renewal, never between: a loaded machine that delays a renewal
    delays the clock with it, so only a renewal that did not extend the lease lets the rival take the row."""
    clock = FakeClock(DUE)
    await add_users(db, clock.now(), [{"id": "c0", "next_fire_at": DUE - timedelta(seconds=1)}])
    lease = timedelta(seconds=0.9)
    owner, rival = Engine(db, content, clock, lease=lease), Engine(db, content, clock, lease=lease)
    slow, fast = Recorder(), Recorder()
    slow.gate = asyncio.Event()
    sending = asyncio.create_task(tick(owner, {"console": slow}))
    await slow.started.wait()
    async with asyncio.timeout(60):  # a guard against a hang; the condition is the number of renewals
        seen = owner.leases.renewals
        while owner.leases.renewals < 4:  # four renewals, two whole leases of the clock
            await asyncio.sleep(0.02)
            if owner.leases.renewals > seen:
                seen = owner.leases.renewals
                clock.advance(lease / 2)
                await tick(rival, {"console": fast})
    assert fast.got == []  # the rival found the row leased every time
    slow.gate.set()
    await sending
    await tick(rival, {"console": fast})
    assert slow.got == ["c0"] and fast.got == [] and await statuses(db) == ["sent"]
    owner.close()
    rival.close()


async def _clock_moves_with_renewals(clock: FakeClock, engines: list[Engine], lease: timedelta) -> None:
    """Half a lease on the clock each time every engine holding rows has renewed since the last step: time
    passes only as fast as live workers renew, so no lease of a live worker runs out however loaded the
    machine, while a batch still lasts several leases of the clock (renewal, not luck, keeps the rows)."""
    seen = [e.leases.renewals for e in engines]
    while True:
        await asyncio.sleep(0.01)
        busy = [i for i, e in enumerate(engines) if e.leases.held()]
        if busy and all(engines[i].leases.renewals > seen[i] for i in busy):
            clock.advance(lease / 2)
            seen = [e.leases.renewals for e in engines]


pg = pytest.mark.skipif(not PG_URL, reason="needs BACKCOACH_TEST_POSTGRES_URL (CI sets it)")


async def _wave(pg_db: AsyncEngine, users: int) -> datetime:
    now = SystemClock().now()
    specs = [{"id": f"u{i}", "next_fire_at": now - timedelta(seconds=1)} for i in range(users)]
    await add_users(pg_db, now, specs)
    return now


async def _until_all_sent(engines: list[Engine], senders: list[Recorder], users: int) -> None:
    """Tick both workers until every row is marked sent: a row whose mark was lost would be sent again
    after its lease, before this condition could hold, so a duplicate cannot slip past the count."""

    async def done() -> bool:
        with contextlib.suppress(Exception):
            found = await statuses(engines[0].db)
            return len(found) == users and set(found) == {"sent"}
        return False

    async def loop(engine: Engine, sender: Recorder) -> None:
        while not await done():
            with contextlib.suppress(Exception):  # a tick that met a dropped connection: the next goes on
                await tick(engine, {"console": sender})
            await asyncio.sleep(0.01)

    async with asyncio.timeout(120):  # a guard against a hang
        await asyncio.gather(*(loop(e, s) for e, s in zip(engines, senders, strict=True)))


@pg
async def test_two_workers_and_a_slow_platform_send_each_reminder_once(pg_db: AsyncEngine, content: Content) -> None:
    users = 64
    start = await _wave(pg_db, users)
    clock = FakeClock(start)
    other_db = make_engine(pg_db.url.render_as_string(hide_password=False))
    lease = timedelta(seconds=1.5)  # a batch takes 64 / 16 workers x 0.5 s = 2 s, 4 renewals: 2 leases of clock
    engines = [Engine(pg_db, content, clock, lease=lease), Engine(other_db, content, clock, lease=lease)]
    senders = [Recorder(delay=0.5), Recorder(delay=0.5)]
    mover = asyncio.create_task(_clock_moves_with_renewals(clock, engines, lease))
    try:
        await _until_all_sent(engines, senders, users)
        assert clock.now() - start > lease  # the wave outlasted a lease of the clock: renewals kept it
    finally:
        mover.cancel()
        for engine in engines:
            engine.close()
        await other_db.dispose()
    counts = Counter(senders[0].got + senders[1].got)
    assert len(counts) == users and set(counts.values()) == {1}, counts.most_common(3)
    assert set(await statuses(pg_db)) == {"sent"}


@pg
async def test_two_workers_with_connections_dropped_under_them_send_each_reminder_once(
    pg_db: AsyncEngine, content: Content
) -> None:
    users = 400
    await _wave(pg_db, users)
    name = pg_db.url.database
    other_db = make_engine(pg_db.url.render_as_string(hide_password=False))
    # Renewed every 3.3 s, so a lease outlives two failed renewals and a settle retries for 10 s: a loaded
    # machine (with a 3 s lease a run at load 10 sent 3 of 400 rows twice) is not mistaken for a dead
    # worker, while a mark that is lost for good still shows: its row is sent again after the lease, before
    # every row can read "sent" (see _until_all_sent).
    lease = timedelta(seconds=10)
    engines = [
        Engine(pg_db, content, SystemClock(), lease=lease),
        Engine(other_db, content, SystemClock(), lease=lease),
    ]
    senders = [Recorder(delay=0.02), Recorder(delay=0.02)]  # 400 x 20 ms / 32 workers: longer than the kills
    stop = asyncio.Event()
    killed: list[int] = []

    async def killer() -> None:
        assert PG_URL
        admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                for _ in range(20):  # 20 rounds of pg_terminate_backend on both workers' connections
                    if stop.is_set():
                        break
                    rows = await conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    )
                    killed.append(len(rows.all()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.1)
        finally:
            await admin.dispose()

    killing = asyncio.create_task(killer())
    waves = asyncio.create_task(_until_all_sent(engines, senders, users))
    try:
        await killing  # every round ran while the wave was being claimed, sent and marked
        await waves
    finally:
        stop.set()
        for engine in engines:
            engine.close()
        await other_db.dispose()
    assert sum(killed) > 0
    counts = Counter(senders[0].got + senders[1].got)
    assert len(counts) == users and set(counts.values()) == {1}, counts.most_common(3)
