"""Pruning bookkeeping rows that have done their job, so the database does not grow without end.

- `processed_events` exist to drop a platform's redelivery (Telegram keeps an unconfirmed update for up to
  24 hours; Slack retries within minutes). Kept 30 days: well past any redelivery, and `backcoach stats`
  counts active people over the last 7.
- Outbox rows that were sent, dropped or failed are kept 30 days (the "reminders ignored in a row" count
  and `backcoach stats` look back less than that). Pending rows are never touched.
- Except the replies to one event (dedupe key `reply:<inbox or outbox id>`: what the bot answered to a
  person's message or tap, or to a timer): kept 1 day once settled. Nothing counts them later, their key
  names an id that is never queued again, and they were most of the outbox's bytes (the words of every
  answer, for a month).
- And a timer, check-in, snooze or summary event once it has run (kind `event`): kept 1 day. Its replies are
  a row of their own; nothing counts it later; and its dedupe key names an instant (a hold's start, a due
  date or time) that a new one cannot be planned for once it is a day past. A session's holds made them
  most of the outbox's rows (one a hold, each kept a month).
- A processed inbox event's key is kept 2 days: a redelivery (Telegram: within 24 hours) is dropped by it at
  once; a later one would still be dropped by its processed event, kept 30 days.

A person's health records (sessions, exercises, activity, symptoms, reminder answers) are not bookkeeping:
they stay until the person sends /delete. Deletes go in batches, each its own short transaction, so a large
backlog never holds SQLite's write lock (or PostgreSQL row locks) for long. Safe to run in every process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, Table, delete, func, select

from bot.engine import Engine
from bot.storage.models import InboxEvent, OutboxMessage, ProcessedEvent, table_of

log = logging.getLogger(__name__)

EVENTS_KEPT = timedelta(days=30)
OUTBOX_KEPT = timedelta(days=30)
REPLIES_KEPT = timedelta(days=1)
EVENTS_RAN_KEPT = timedelta(days=1)
INBOX_KEPT = timedelta(days=2)
BATCH = 5000


@dataclass
class PruneStats:
    events: int = 0
    outbox: int = 0
    inbox: int = 0


async def prune(engine: Engine, now: datetime, *, batch: int = BATCH) -> PruneStats:
    """Delete expired processed events and finished outbox rows; returns how many of each went."""
    events_before, outbox_before = now - EVENTS_KEPT, now - OUTBOX_KEPT
    expired_events = select(ProcessedEvent.id).where(ProcessedEvent.at < events_before)
    finished_outbox = select(OutboxMessage.id).where(
        OutboxMessage.status != "pending",
        func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < outbox_before,
    )
    settled_replies = select(OutboxMessage.id).where(
        OutboxMessage.status != "pending",
        OutboxMessage.dedupe_key.startswith("reply:", autoescape=True),
        func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < now - REPLIES_KEPT,
    )
    ran_events = select(OutboxMessage.id).where(
        OutboxMessage.status != "pending",
        OutboxMessage.kind == "event",
        func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < now - EVENTS_RAN_KEPT,
    )
    processed_inbox = select(InboxEvent.id).where(
        InboxEvent.status == "done", InboxEvent.received_at < now - INBOX_KEPT
    )
    stats = PruneStats(
        events=await _delete_in_batches(engine, table_of(ProcessedEvent), expired_events, batch),
        outbox=await _delete_in_batches(engine, table_of(OutboxMessage), finished_outbox, batch)
        + await _delete_in_batches(engine, table_of(OutboxMessage), settled_replies, batch)
        + await _delete_in_batches(engine, table_of(OutboxMessage), ran_events, batch),
        inbox=await _delete_in_batches(engine, table_of(InboxEvent), processed_inbox, batch),
    )
    if stats.events or stats.outbox or stats.inbox:
        log.info("pruned", extra={"events": stats.events, "outbox": stats.outbox, "inbox": stats.inbox})
    return stats


async def _delete_in_batches(engine: Engine, table: Table, ids: Select[tuple[int]], batch: int) -> int:
    total = 0
    while True:
        async with engine.writer(), engine.sessions() as session, session.begin():
            chosen = (await session.execute(ids.limit(batch))).scalars().all()
            if chosen:
                await session.execute(delete(table).where(table.c.id.in_(chosen)))
        total += len(chosen)
        if len(chosen) < batch:
            return total
