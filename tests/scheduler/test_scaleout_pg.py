"""Scale-out on real PostgreSQL: two runners with their own engines and connection pools share one
database; thousands of users are due in the same minute; every user gets exactly one reminder.

2,000 users in batches of 250 keep both runners contending for eight batches, which is what this checks;
the throughput at 100,000 is `backcoach bench reminders`' job. BACKCOACH_SCALE_USERS=10000 runs it bigger."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.db import make_engine
from bot.storage.models import OutboxMessage
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler.runner import tick
from tests.scheduler.test_reminders import add_users

USERS = int(os.environ.get("BACKCOACH_SCALE_USERS", "2000"))


class NoopSender:
    platform = "console"

    def __init__(self) -> None:
        self.got: list[str] = []

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.got.append(user.chat_id)
        await asyncio.sleep(0)  # let the other runner interleave


async def test_two_runners_one_database_every_user_exactly_once(pg_db: AsyncEngine, content: Content) -> None:
    start = datetime(2026, 3, 2, 6, 59, tzinfo=UTC)
    await add_users(pg_db, start, [{"id": f"u{i}", "zone": "Europe/London", "at": "07:00"} for i in range(USERS)])
    clock = FakeClock(start + timedelta(minutes=1, seconds=30))
    other_db = make_engine(pg_db.url.render_as_string(hide_password=False))
    try:
        runners = [Engine(pg_db, content, clock), Engine(other_db, content, clock)]
        senders = [NoopSender(), NoopSender()]
        stats = await asyncio.gather(
            *(
                tick(engine, {"console": sender}, clock.now(), batch=250)
                for engine, sender in zip(runners, senders, strict=True)
            )
        )
        # A second round finds nothing left to do.
        again = await asyncio.gather(
            *(tick(e, {"console": s}, clock.now()) for e, s in zip(runners, senders, strict=True))
        )
    finally:
        await other_db.dispose()
    assert sum(s.reminders_queued for s in stats) == USERS
    assert all(s.reminders_queued > 0 for s in stats), "both runners took a share"
    assert sum(s.reminders_queued + s.sent for s in again) == 0
    delivered = Counter(senders[0].got + senders[1].got)
    assert len(delivered) == USERS and set(delivered.values()) == {1}
    async with runners[0].sessions() as s:
        per_user = (
            await s.execute(
                select(OutboxMessage.user_id, func.count())
                .where(OutboxMessage.kind == "reminder")
                .group_by(OutboxMessage.user_id)
            )
        ).all()
        statuses = (await s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()
    assert len(per_user) == USERS and {n for _, n in per_user} == {1}
    assert dict(statuses) == {"sent": USERS}
