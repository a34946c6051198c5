"""`backcoach bench reminders`: how fast due reminders are claimed-and-queued and delivered (no-op sender),
and peak memory, for N users all due in the same minute. A benchmark, not a test: it prints figures.

SQLite in a temporary file always; PostgreSQL in a throw-away database when a URL is given (--pg or
BACKCOACH_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.db import make_engine, migrate
from bot.storage.models import User
from bot.types import Reply, UserRef
from content.loader import default_content
from scheduler import outbox
from scheduler.reminders import claim_due_reminders

START = datetime(2026, 3, 2, 6, 59, tzinfo=UTC)
INSERT_CHUNK = 5_000
ZONES = ("Europe/London", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC")


class NoopSender:
    platform = "bench"

    def __init__(self) -> None:
        self.count = 0

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.count += 1


@dataclass
class Figures:
    backend: str
    users: int
    insert_s: float
    queued: int
    queue_s: float
    delivered: int
    deliver_s: float
    peak_rss_queue_mb: float
    peak_rss_deliver_mb: float

    def lines(self) -> list[str]:
        return [
            f"[{self.backend}] {self.users:,} users inserted in {self.insert_s:.1f} s",
            f"[{self.backend}] claimed-and-queued: {self.queued:,} in {self.queue_s:.2f} s = "
            f"{self.queued / max(self.queue_s, 1e-9):,.0f} reminders/s; "
            f"peak RSS so far {self.peak_rss_queue_mb:.0f} MB",
            f"[{self.backend}] delivered (no-op sender): {self.delivered:,} in {self.deliver_s:.2f} s = "
            f"{self.delivered / max(self.deliver_s, 1e-9):,.0f} messages/s; peak RSS so far "
            f"{self.peak_rss_deliver_mb:.0f} MB",
        ]


def _local_utc_at_7(zone: str) -> str:
    """Each zone's local time that falls at 07:00 UTC on the bench day, so all users are due together."""
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 2, 7, 0, tzinfo=UTC).astimezone(ZoneInfo(zone))
    return f"{local:%H:%M}"


async def insert_users(db: AsyncEngine, users: int) -> None:
    """Core INSERT executemany in chunks: fast and flat in memory."""
    due = START + timedelta(minutes=1)
    profile = {"consented": True, "onboarded": True, "exercises": []}
    times = {z: _local_utc_at_7(z) for z in ZONES}
    for first in range(0, users, INSERT_CHUNK):
        rows = [
            {
                "platform": "bench",
                "workspace": "",
                "platform_user_id": f"b{i}",
                "chat_id": f"b{i}",
                "created_at": START,
                "active": True,
                "profile": profile,
                "conversation": {"flow": "idle"},
                "timezone": ZONES[i % len(ZONES)],
                "reminder_time": times[ZONES[i % len(ZONES)]],
                "weekdays": 0b1111111,
                "reminders_on": True,
                "next_fire_at": due,
            }
            for i in range(first, min(first + INSERT_CHUNK, users))
        ]
        async with db.begin() as conn:
            await conn.execute(insert(User), rows)


async def run_one(backend: str, db: AsyncEngine, users: int, batch: int) -> Figures:
    await migrate(db)
    t0 = time.perf_counter()
    await insert_users(db, users)
    insert_s = time.perf_counter() - t0
    clock = FakeClock(START + timedelta(minutes=1, seconds=30))
    engine = Engine(db, default_content(), clock)
    gc.collect()
    t0 = time.perf_counter()
    stats = await claim_due_reminders(engine, clock.now(), grace=timedelta(hours=2), batch=batch)
    queue_s = time.perf_counter() - t0
    peak_queue = _peak_rss_mb()
    sender = NoopSender()
    t0 = time.perf_counter()
    while await outbox.send_due_messages(engine, {"bench": sender}, clock.now(), limit=500):
        pass
    deliver_s = time.perf_counter() - t0
    return Figures(backend, users, insert_s, stats.queued, queue_s, sender.count, deliver_s, peak_queue, _peak_rss_mb())


def _peak_rss_mb() -> float:
    """The process's peak resident memory (Linux reports KiB). Compare runs with --users 10000 and 100000:
    the same figure means memory does not grow with the number of users."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench_reminders(users: int, pg_url: str | None, batch: int = 500) -> list[Figures]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}")
        try:
            results.append(await run_one("sqlite", db, users, batch))
        finally:
            await db.dispose()
    if pg_url:
        name = f"backcoach_bench_{uuid.uuid4().hex[:10]}"
        admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        db = make_engine(f"{pg_url.rpartition('/')[0]}/{name}")
        try:
            results.append(await run_one("postgresql", db, users, batch))
        finally:
            await db.dispose()
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
    return results


def main(users: int, pg_url: str | None, batch: int) -> None:
    pg_url = pg_url or os.environ.get("BACKCOACH_TEST_POSTGRES_URL")
    print(
        f"bench reminders: {users:,} users due in the same minute, batch {batch}"
        + ("" if pg_url else " (PostgreSQL skipped: no --pg or BACKCOACH_TEST_POSTGRES_URL)")
    )
    for figures in asyncio.run(bench_reminders(users, pg_url, batch)):
        for line in figures.lines():
            print(line, flush=True)
