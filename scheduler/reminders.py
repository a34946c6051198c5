"""Claiming due reminders: the one place a daily reminder is born.

A batch of due users is locked (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two processes take disjoint batches;
SQLite: the async writers' lock and an IMMEDIATE transaction), and for each, in the same transaction: decide
send-late or skip (`missed_decision` with the grace period), build the reminder through the core (SYSTEM
"reminder"), write the outbox row with the unique key `reminder:<user id>:<local date>`, set `served_through`
to that date and replan `next_fire_at`. Commit. A crash before the commit leaves the users due (claimed again,
nothing sent); after it the reminder is in the outbox (sent by the outbox, at least once). Two reminders for
one local day are impossible twice over: `served_through` moves the next fire past the day, and the dedupe key
is unique.

Cheap path: a plain reminder needs only two history figures, loaded for the whole batch in two queries
(`repository.reminder_counts`), and the outbox rows go in as one multi-row insert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Engine
from bot.flows import dispatch
from bot.flows.common import zone_named
from bot.schedule.planning import late_reminder, missed_fires
from bot.schedule.timing import local_date_of, missed_decision
from bot.state import History
from bot.storage import repository as repo
from bot.storage.models import OutboxMessage, User, table_of
from bot.types import Inbound, InboundKind, UserRef
from bot.wire import replies_to_json

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class ClaimStats:
    claimed: int = 0  # users whose due reminder was handled (queued, skipped or silent)
    queued: int = 0  # outbox rows written
    skipped_late: int = 0  # missed by more than the grace period: skipped to the next day
    silent: int = 0  # due but nothing to say (mid-session)
    batches: int = 0

    def add(self, other: ClaimStats) -> None:
        self.claimed += other.claimed
        self.queued += other.queued
        self.skipped_late += other.skipped_late
        self.silent += other.silent
        self.batches += other.batches


def due_query(now: datetime, limit: int, *, postgres: bool):  # type: ignore[no-untyped-def]
    query = (
        select(User)
        .where(
            User.next_fire_at <= now,
            User.reminders_on.is_(True),
            User.active.is_(True),
            User.hold_reason.is_(None),
            or_(User.paused_until.is_(None), User.paused_until <= now),
        )
        .order_by(User.next_fire_at)
        .limit(limit)
    )
    return query.with_for_update(skip_locked=True) if postgres else query


async def claim_due_reminders(
    engine: Engine,
    now: datetime,
    *,
    grace: timedelta,
    batch: int = BATCH,
    max_batches: int | None = None,
    ahead: timedelta = timedelta(0),
) -> ClaimStats:
    """Claim and queue every reminder due by `now + ahead`, one transaction per batch, until none are left.
    A reminder claimed ahead waits in the outbox until its due time (`not_before`), so a wave is built before
    it is due and goes out on time."""
    total = ClaimStats()
    while max_batches is None or total.batches < max_batches:
        async with engine.writer(), engine.sessions() as session, session.begin():
            stats = await claim_batch(engine, session, now, grace=grace, limit=batch, ahead=ahead)
        total.add(stats)
        if stats.claimed < batch:
            break
    if total.claimed:
        log.info(
            "reminders claimed",
            extra={
                "claimed": total.claimed,
                "queued": total.queued,
                "skipped_late": total.skipped_late,
                "silent": total.silent,
            },
        )
    return total


async def claim_batch(
    engine: Engine,
    session: AsyncSession,
    now: datetime,
    *,
    grace: timedelta,
    limit: int,
    ahead: timedelta = timedelta(0),
) -> ClaimStats:
    """One batch inside the caller's transaction (and, on SQLite, the async writers' lock)."""
    stats = ClaimStats(batches=1)
    due = due_query(now + ahead, limit, postgres=engine.db.dialect.name == "postgresql")
    users = list((await session.execute(due)).scalars())
    if not users:
        return stats
    counts = await session.run_sync(repo.reminder_counts, [u.id for u in users], now)
    rows: list[dict] = []
    for user in users:
        stats.claimed += 1
        row = await _one(engine, session, user, now, grace, counts[user.id], stats)
        if row is not None:
            rows.append(row)
    if rows:
        # Core executemany on the table (not the ORM bulk path): compiled once, sent as batched VALUES.
        statement = repo._insert(session.sync_session, table_of(OutboxMessage)).on_conflict_do_nothing()
        await session.execute(statement, rows)
        stats.queued += len(rows)
    await session.flush()
    return stats


async def _one(
    engine: Engine,
    session: AsyncSession,
    user: User,
    now: datetime,
    grace: timedelta,
    counts: tuple[int, int],
    stats: ClaimStats,
) -> dict | None:
    """Decide, build through the core, mark the day served and replan. Returns the outbox row, if any."""
    due = user.next_fire_at
    assert due is not None
    zone = zone_named(user.timezone)
    day = local_date_of(due, zone)
    ref = UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id)
    view = repo.to_view(user, ref, History(pain_skips_14d=counts[0], reminders_ignored=counts[1]))
    before = view.schedule.model_copy()
    if missed_decision(due_at=due, now=now, grace=grace) == "skip":
        # Down past one reminder or more: the latest is sent late if within the grace, every older one skipped.
        profile = view.profile
        fires = missed_fires(view.schedule, now, quiet_start=profile.quiet_start, quiet_end=profile.quiet_end)
        fires = fires or [due]
        late = late_reminder(fires, now, grace)
        stats.skipped_late += len(fires) - (late is not None)
        if late is None:
            last = local_date_of(fires[-1], zone)
            view.schedule.served_through = max(last, view.schedule.served_through or last)
            engine.replan(before, view, now)
            repo.save_view(user, view)
            return None
        due, day = late, local_date_of(late, zone)
    inbound = Inbound(user=ref, kind=InboundKind.SYSTEM, action="reminder", text=day.isoformat())
    outcome = dispatch.handle_owned(view, inbound, now, engine.content)
    schedule = outcome.view.schedule
    schedule.served_through = max(day, schedule.served_through or day)
    engine.replan(before, outcome.view, now)
    repo.save_view(user, outcome.view)
    if outcome.effects:  # a plain reminder has none (so no per-user flush); kept general all the same
        await session.run_sync(repo.apply_effects, user.id, outcome.effects, now)
    if not outcome.replies:
        stats.silent += 1
        return None
    return {
        "user_id": user.id,
        "kind": "reminder",
        "dedupe_key": f"reminder:{user.id}:{day.isoformat()}",
        "payload": {"replies": replies_to_json(outcome.replies)},
        "created_at": now,
        "not_before": max(now, due),  # claimed ahead: sent at its due time, not before
        "attempts": 0,
        "status": "pending",
    }
