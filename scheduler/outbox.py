"""The durable outbox: every proactive message and timer goes through these rows.

Delivery is at-least-once with a narrow window: a row is leased (claimed_until) before sending and
marked sent right after. A crash between the platform accepting a message and `sent_at` being written
re-sends that one message after the lease expires; nothing is ever lost. Reminders cannot be queued
twice for one local day: their dedupe key is unique.

The at-least-once window, exactly: (1) stopped between claim and send — the row stays leased and is sent
once the lease (LEASE) runs out, by this or another process; (2) stopped after the platform accepted the
message but before `_finish` committed `sent_at` — that one message is sent again after the lease. A
reminder claim (scheduler/reminders.py) commits the outbox row with the day's `served_through`, so a
restart never builds a second reminder for the day.

Pacing: an optional `Pacer` per platform (scheduler/ratelimit.py). A chat that is not ready is deferred
(no attempt counted) rather than waited for, so one busy chat never stalls the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.engine import Engine
from bot.rendering import materialise
from bot.storage import repository as repo
from bot.storage.models import OutboxMessage, User
from bot.storage.repository import OUTBOX
from bot.types import UserRef
from bot.wire import replies_from_json
from scheduler.ratelimit import Pacer
from scheduler.sender import Blocked, RetryLater, Sender, SendError

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 600
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


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 ... seconds, capped: transient errors are retried without hammering the platform."""
    return timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS))


async def claim(session: AsyncSession, now: datetime, limit: int, kinds: tuple[str, ...]) -> list[Claimed]:
    """Lease up to `limit` due rows. SKIP LOCKED keeps two processes off the same row on PostgreSQL."""
    query = (
        select(OutboxMessage, User)
        .join(User, User.id == OutboxMessage.user_id)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.not_before <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.not_before)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    ids = [row.id for row, _ in rows]
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(claimed_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)  # keep the loaded rows' old count: +1 is added below
    )
    return [
        Claimed(
            id=row.id,
            user_id=row.user_id,
            kind=row.kind,
            payload=row.payload,
            attempts=row.attempts + 1,
            ref=UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id),
            active=user.active,
        )
        for row, user in rows
    ]


async def run_due_events(engine: Engine, now: datetime, limit: int = 200) -> int:
    """Turn due timers and check-ins into messages, each in the transaction that runs its flow."""
    async with engine.writer(), engine.sessions() as session, session.begin():
        claimed = await claim(session, now, limit, ("event",))
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
        claimed = await claim(session, now, limit, ("message", "reminder"))
    if not claimed:
        return 0
    # One queue entry per chat keeps each chat's messages in order; several workers send to different
    # chats at once, so one slow platform round trip does not hold up everybody else's reminder.
    by_chat: dict[tuple[str, str, str], list[Claimed]] = {}
    for item in claimed:
        by_chat.setdefault((item.ref.platform, item.ref.workspace, item.ref.chat_id), []).append(item)
    queue = deque(by_chat.values())

    async def drain(sessions: async_sessionmaker | None) -> int:
        sent = 0
        while queue:
            sent += await _deliver(engine, senders, now, queue.popleft(), pacers, sessions)
        return sent

    async def worker() -> int:
        if engine.on_sqlite:  # outcomes go through the engine's writer thread
            return await drain(None)
        async with engine.db.connect() as conn:  # one connection per worker: no pool checkout (and ping) per row
            return await drain(async_sessionmaker(bind=conn, expire_on_commit=False))

    results = await asyncio.gather(*(worker() for _ in range(min(SEND_WORKERS, len(queue)))), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:  # rows a failed worker did not finish stay leased and are retried after LEASE
        raise errors[0]
    return sum(r for r in results if isinstance(r, int))


async def _deliver(
    engine: Engine,
    senders: dict[str, Sender],
    now: datetime,
    claimed: list[Claimed],
    pacers: dict[str, Pacer] | None,
    sessions: async_sessionmaker | None,
) -> int:
    """Each row's outcome is committed right after its send: the at-least-once window is one message."""
    sent = 0
    for item in claimed:
        sender = senders.get(item.ref.platform)
        if sender is None or not item.active:
            await _finish(sessions, engine, item, status="dropped", error="no sender" if sender is None else "inactive")
            continue
        replies = await materialise(replies_from_json(item.payload["replies"]), engine.content)
        pacer = (pacers or {}).get(item.ref.platform)
        if pacer is not None:
            wait = pacer.chat_wait(item.ref.chat_id)
            if wait > 0:
                pacer.deferred += 1
                await _retry(sessions, engine, item, now + timedelta(seconds=wait), "paced", count_attempt=False)
                continue
        try:
            async with pacer.sending(len(replies)) if pacer is not None else nullcontext():
                await sender.send(item.ref, replies)
        except RetryLater as exc:
            if pacer is not None:
                pacer.hold(item.ref.chat_id, exc.retry_after)
            await _retry(sessions, engine, item, now + timedelta(seconds=exc.retry_after), "429", count_attempt=False)
        except Blocked:
            await _finish(sessions, engine, item, status="dropped", error="blocked", block_user=True)
        except SendError as exc:
            await _retry(sessions, engine, item, now + backoff(item.attempts), type(exc).__name__)
        except Exception as exc:  # an adapter bug must not lose the message: retry later
            log.exception("sender failed", extra={"platform": item.ref.platform})
            await _retry(sessions, engine, item, now + backoff(item.attempts), type(exc).__name__)
        else:
            if pacer is not None:
                pacer.sent(item.ref.chat_id, len(replies))
            await _finish(sessions, engine, item, status="sent", sent_at=engine.clock.now())
            sent += 1
    return sent


async def _finish(
    sessions: async_sessionmaker | None,
    engine: Engine,
    item: Claimed,
    *,
    status: str,
    error: str | None = None,
    sent_at: datetime | None = None,
    block_user: bool = False,
) -> None:
    def work(db: repo.Db) -> None:
        db.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == item.id)
            .values(status=status, last_error=error, sent_at=sent_at, claimed_until=None)
        )
        if block_user:
            repo.mark_inactive(db, item.user_id)

    await _write(engine, sessions, work)


async def _retry(
    sessions: async_sessionmaker | None,
    engine: Engine,
    item: Claimed,
    when: datetime,
    error: str,
    *,
    count_attempt: bool = True,
) -> None:
    gave_up = count_attempt and item.attempts >= MAX_ATTEMPTS
    values: dict = {"last_error": error[:200], "claimed_until": None, "not_before": when}
    if gave_up:
        values["status"] = "failed"
    if not count_attempt:
        values["attempts"] = OUTBOX.c.attempts - 1  # a 429 is the platform pacing us, not a failure
    await _write(engine, sessions, lambda db: db.execute(update(OUTBOX).where(OUTBOX.c.id == item.id).values(**values)))
    if gave_up:
        log.error("message gave up after retries", extra={"platform": item.ref.platform, "error": error})


async def _write(engine: Engine, sessions: async_sessionmaker | None, work: Callable[[repo.Db], object]) -> None:
    """One row's outcome in its own transaction: on SQLite on the engine's writer thread (one hop, and no
    contention with the engine's events), on PostgreSQL on this worker's own connection (no pool checkout)."""
    if sessions is None:
        await engine.transaction(work)
        return
    async with sessions() as session, session.begin():
        await session.run_sync(work)
