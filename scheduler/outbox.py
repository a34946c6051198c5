"""The durable outbox: every message to a person goes through these rows — replies to their own events
(written with the state change, sent at once by the process that committed; see bot/engine.py), reminders,
timers and check-ins, and anything a platform would not take at the first try.

Claims: a batch of due rows is leased (claimed_until) under a fresh fencing token (claim_token). The lease
is renewed while the worker is alive and sending (bot/leases.py), however slow the platform, so no
other process takes a row from a live worker. Each outcome is recorded only if the row still carries the
token, and an outcome that meets a dropped connection is retried on a fresh one (scheduler/delivery.py).

What can still repeat, exactly: the platforms offer no idempotency key, so a process killed after the
platform accepted a message and before `sent_at` was committed leaves that row leased; once the lease
runs out another process (or this one, restarted) sends it again. That is at most the sends in flight at
the instant of the kill: SEND_WORKERS chats at once for the outbox, plus the replies being sent inline.
Rows claimed but not yet sent are sent once, after the lease. Reminders cannot be queued twice for one
local day: their dedupe key is unique, and the claim commits the day's `served_through` with the row.

Pacing: an optional `Pacer` per platform (scheduler/ratelimit.py). A chat that is not ready is deferred
(no attempt counted) rather than waited for, so one busy chat never stalls the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Engine
from bot.leases import LEASE, new_token
from bot.rendering import materialise
from bot.storage import outbox_repo
from bot.storage.models import OutboxMessage, User
from bot.types import UserRef
from bot.wire import replies_from_json
from scheduler import delivery
from scheduler.delivery import MAX_ATTEMPTS, MAX_BACKOFF_SECONDS, Job, backoff
from scheduler.ratelimit import Pacer
from scheduler.sender import Sender

log = logging.getLogger(__name__)

__all__ = ["LEASE", "MAX_ATTEMPTS", "MAX_BACKOFF_SECONDS", "backoff", "claim", "run_due_events", "send_due_messages"]

SEND_WORKERS = 16  # chats sent to at once; the per-platform Pacer still caps the overall rate


@dataclass(frozen=True)
class Claimed:
    id: int
    user_id: int
    kind: str
    payload: dict
    attempts: int
    ref: UserRef
    active: bool
    token: str = ""


async def claim(
    session: AsyncSession, now: datetime, limit: int, kinds: tuple[str, ...], lease: timedelta = LEASE
) -> list[Claimed]:
    """Lease up to `limit` due rows under one new fencing token. SKIP LOCKED keeps two processes off the
    same row on PostgreSQL; the lease keeps them off it afterwards."""
    query = (
        select(OutboxMessage, User)
        .outerjoin(User, User.id == OutboxMessage.user_id)  # a farewell has no user: it is addressed by chat
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.not_before <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        # Due at the same instant (a timer's replies and a summary's, queued by one tick): in the order they
        # were queued. PostgreSQL returns ties in no set order, and a chat's messages must keep theirs.
        .order_by(OutboxMessage.not_before, OutboxMessage.id)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    ids = [row.id for row, _ in rows]
    token = new_token()
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(claimed_until=now + lease, attempts=OutboxMessage.attempts + 1, claim_token=token)
        .execution_options(synchronize_session=False)  # keep the loaded rows' old count: +1 is added below
    )
    return [
        Claimed(
            id=row.id,
            user_id=row.user_id or 0,
            kind=row.kind,
            payload=row.payload,
            attempts=row.attempts + 1,
            ref=UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id)
            if user is not None
            else outbox_repo.address_of(row.payload),
            active=user.active if user is not None else True,
            token=token,
        )
        for row, user in rows
    ]


async def run_due_events(engine: Engine, now: datetime, limit: int = 200) -> int:
    """Turn due timers and check-ins into messages, each in the transaction that runs its flow."""
    async with engine.writer(), engine.sessions() as session, session.begin():
        claimed = await claim(session, now, limit, ("event",), engine.leases.lease)
    for item in claimed:
        await engine.handle_system(item.id, item.user_id, item.payload["action"], item.payload.get("data", {}))
    return len(claimed)


async def send_due_messages(
    engine: Engine,
    senders: dict[str, Sender],
    now: datetime,
    limit: int = 200,
    pacers: dict[str, Pacer] | None = None,
) -> int:
    """Send due messages once each; retry what can be retried, stop for people who blocked us."""
    async with engine.writer(), engine.sessions() as session, session.begin():
        claimed = await claim(session, now, limit, ("message", "reminder", "reply", "farewell"), engine.leases.lease)
    if not claimed:
        return 0
    engine.leases.hold(claimed[0].token, [c.id for c in claimed])  # renewed until each row is settled
    # One queue entry per chat keeps each chat's messages in order; several workers send to different
    # chats at once, so one slow platform round trip does not hold up everybody else's reminder.
    by_chat: dict[tuple[str, str, str], list[Claimed]] = {}
    for item in claimed:
        by_chat.setdefault((item.ref.platform, item.ref.workspace, item.ref.chat_id), []).append(item)
    queue = deque(by_chat.values())

    async def worker() -> int:
        sent = 0
        while queue:
            sent += await _deliver(engine, senders, now, queue.popleft(), pacers)
        return sent

    results = await asyncio.gather(*(worker() for _ in range(min(SEND_WORKERS, len(queue)))), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:  # rows a failed worker did not settle stay leased, are no longer renewed, and are retried after it
        for item in claimed:
            engine.leases.release(item.token, item.id)
        raise errors[0]
    return sum(r for r in results if isinstance(r, int))


async def _deliver(
    engine: Engine,
    senders: dict[str, Sender],
    now: datetime,
    claimed: list[Claimed],
    pacers: dict[str, Pacer] | None,
) -> int:
    """Each row's outcome is committed right after its send (and retried until it is)."""
    sent = 0
    for item in claimed:
        sender = senders.get(item.ref.platform)
        raw = list(item.payload.get("replies", []))
        job = Job(item.id, item.token, item.user_id, item.ref, [], item.attempts, raw=raw)
        if sender is None or not item.active:
            await delivery.finish(engine, job, status="dropped", error="no sender" if sender is None else "inactive")
            continue
        try:
            job.replies = await materialise(replies_from_json(raw, engine.content), engine.content)
        except (KeyError, IndexError, ValueError) as exc:  # render inputs naming a message the content lost
            log.error("queued message cannot be rendered", extra={"platform": item.ref.platform, "missing": str(exc)})
            await delivery.retry(engine, job, now + backoff(item.attempts), "cannot render")
            continue
        pacer = (pacers or {}).get(item.ref.platform)
        if pacer is not None:
            wait = pacer.chat_wait(item.ref.chat_id)
            if wait > 0:
                pacer.deferred += 1
                await delivery.retry(engine, job, now + timedelta(seconds=wait), "paced", count_attempt=False)
                continue
        async with pacer.sending(len(job.replies)) if pacer is not None else nullcontext() as slot:
            answered = slot.done if slot is not None else None  # the window counts the send, not the settling
            result = await delivery.send_job(engine, sender, job, interactive=False, answered=answered)
        if pacer is not None and result == "sent":
            pacer.sent(item.ref.chat_id, len(job.replies))
        elif pacer is not None and job.retry_after is not None:
            pacer.hold(item.ref.chat_id, job.retry_after)
        if result == "sent":
            sent += 1
    return sent
