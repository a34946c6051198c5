"""Claiming due reminders: the one place a daily reminder is born.

Each batch is one transaction in the engine (`Engine.claim_reminders`, like every other event): due
people are locked (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two processes take disjoint batches; SQLite:
the writer thread, one transaction at a time), and for each, in that transaction: decide send-late or
skip (`missed_decision` with the grace period), build the reminder, write the outbox row with the unique
key `reminder:<user id>:<local date>`, set `served_through` to that date and replan `next_fire_at`.
Commit. A crash before the commit leaves the people due (claimed again, nothing sent); after it the
reminder is in the outbox (sent by the outbox, at least once). Two reminders for one local day are
impossible twice over: `served_through` moves the next fire past the day, and the dedupe key is unique.

Cheap path: a plain reminder (onboarded, idle, no session open) is built straight from the stored row
(`dispatch.quick_reminder`: the same message and conversation as the flow gives, held identical by
tests/core/test_quick_reminder.py); anyone else runs the whole flow through `Engine._run`. The two history
figures a reminder needs are loaded for the whole batch in two queries (`repository.reminder_counts`), the
rows' changes go in as one executemany and the outbox rows as one multi-row insert.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.engine import ClaimStats, Engine

log = logging.getLogger(__name__)

__all__ = ["BATCH", "ClaimStats", "claim_due_reminders"]

BATCH = 500


async def claim_due_reminders(
    engine: Engine,
    now: datetime,
    *,
    grace: timedelta,
    batch: int = BATCH,
    max_batches: int | None = None,
    ahead: timedelta = timedelta(0),
    quick: bool = True,
) -> ClaimStats:
    """Claim and queue every reminder due by `now + ahead`, one transaction per batch, until none are left.
    A reminder claimed ahead waits in the outbox until its due time (`not_before`), so a wave is built before
    it is due and goes out on time. `quick=False` runs the whole flow for everyone (the tests compare)."""
    total = ClaimStats()
    while max_batches is None or total.batches < max_batches:
        stats = await engine.claim_reminders(now, grace=grace, limit=batch, ahead=ahead, quick=quick)
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
