"""The durable outbox: every proactive message and timer goes through these rows.

Delivery is at-least-once with a narrow window: a row is leased (claimed_until) before sending and
marked sent right after. A crash between the platform accepting a message and `sent_at` being written
re-sends that one message after the lease expires; nothing is ever lost. Reminders cannot be queued
twice for one local day: their dedupe key is unique.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Engine
from bot.storage import repository as repo
from bot.storage.models import OutboxMessage, User
from bot.types import UserRef
from bot.wire import replies_from_json
from scheduler.sender import Blocked, RetryLater, Sender, SendError

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 600


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
    )
    return [
        Claimed(
            id=row.id, user_id=row.user_id, kind=row.kind, payload=row.payload, attempts=row.attempts + 1,
            ref=UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id), active=user.active,
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


async def send_due_messages(engine: Engine, senders: dict[str, Sender], now: datetime, limit: int = 200) -> int:
    """Send due messages once each; retry what can be retried, stop for people who blocked us."""
    async with engine.writer(), engine.sessions() as session, session.begin():
        claimed = await claim(session, now, limit, ("message", "reminder"))
    sent = 0
    for item in claimed:
        sender = senders.get(item.ref.platform)
        if sender is None or not item.active:
            await _finish(engine, item, status="dropped", error="no sender" if sender is None else "inactive")
            continue
        try:
            await sender.send(item.ref, replies_from_json(item.payload["replies"]))
        except RetryLater as exc:
            await _retry(engine, item, now + timedelta(seconds=exc.retry_after), "429", count_attempt=False)
        except Blocked:
            await _finish(engine, item, status="dropped", error="blocked", block_user=True)
        except SendError as exc:
            await _retry(engine, item, now + backoff(item.attempts), type(exc).__name__)
        except Exception as exc:  # an adapter bug must not lose the message: retry later
            log.exception("sender failed", extra={"platform": item.ref.platform})
            await _retry(engine, item, now + backoff(item.attempts), type(exc).__name__)
        else:
            await _finish(engine, item, status="sent", sent_at=engine.clock.now())
            sent += 1
    return sent


async def _finish(engine: Engine, item: Claimed, *, status: str, error: str | None = None,
                  sent_at: datetime | None = None, block_user: bool = False) -> None:
    async with engine.writer(), engine.sessions() as session, session.begin():
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == item.id)
            .values(status=status, last_error=error, sent_at=sent_at, claimed_until=None)
        )
        if block_user:
            await repo.mark_inactive(session, item.user_id)


async def _retry(engine: Engine, item: Claimed, when: datetime, error: str, *, count_attempt: bool = True) -> None:
    gave_up = count_attempt and item.attempts >= MAX_ATTEMPTS
    async with engine.writer(), engine.sessions() as session, session.begin():
        values: dict = {"last_error": error[:200], "claimed_until": None, "not_before": when}
        if gave_up:
            values["status"] = "failed"
        if not count_attempt:
            values["attempts"] = OutboxMessage.attempts - 1  # a 429 is the platform pacing us, not a failure
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == item.id).values(**values))
    if gave_up:
        log.error("message gave up after retries", extra={"platform": item.ref.platform, "error": error})
