"""Sending a claimed outbox row and recording what happened: one path for a reply sent the moment its
event committed and for everything the outbox sends later.

Every outcome is fenced (bot/storage/outbox_repo.py): it counts only while the row still carries the
claim's token. An outcome that meets a database error (the connection dropped after the platform took
the message) is retried on a fresh connection until the lease would run out; the lease is renewed
meanwhile (bot/leases.py), so nobody else takes the row and sends it again.

Progress inside a row: a row may hold several replies. Each reply the platform accepted is counted (the
sender's `on_sent`), so a failure part-way leaves only the replies not yet sent in the row; a retry never
repeats the ones before it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.engine import Engine
from bot.storage import outbox_repo
from bot.storage import repository as repo
from bot.types import Reply, UserRef
from bot.wire import has_attachments, replies_to_json, without_attachments
from scheduler.sender import Blocked, RetryLater, Sender, SendError, Sent, TransientError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 600
INLINE_RETRY_WAIT = 5.0  # a reply someone is waiting for sits out a 429 this long before going to the outbox
INLINE_TRANSIENT_PAUSE = 0.5


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 ... seconds, capped: transient errors are retried without hammering the platform."""
    return timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS))


@dataclass
class Job:
    """One claimed row to send: whose, what, and the claim that lets us record the outcome."""

    row_id: int
    token: str
    user_id: int
    ref: UserRef
    replies: list[Reply]
    attempts: int
    raw: list[dict[str, Any]] = field(default_factory=list)  # the row's replies as stored (for progress)
    delivered: set[int] = field(default_factory=set)  # indexes of replies the platform accepted
    message_ids: dict[int, str] = field(default_factory=dict)  # reply index -> the platform's message id
    retry_after: float | None = None  # the platform's 429 said this many seconds

    @property
    def farewell(self) -> bool:
        """A reply to someone who has erased everything: no user row behind it (user_id 0)."""
        return not self.user_id

    def on_sent(self, sent: Sent) -> None:
        self.delivered.add(sent.index)
        if sent.message_id is not None:
            self.message_ids[sent.index] = sent.message_id

    def remaining(self) -> tuple[list[Reply], list[dict[str, Any]]]:
        keep = [i for i in range(len(self.replies)) if i not in self.delivered]
        return [self.replies[i] for i in keep], [self.raw[i] for i in keep] if self.raw else []


async def send_job(
    engine: Engine,
    sender: Sender | None,
    job: Job,
    *,
    interactive: bool,
    retry_transient: bool = True,
    answered: Callable[[], None] | None = None,
) -> str:
    """Send the job's replies and settle the row. Returns "sent", "retry", "dropped" or "lost" (the claim
    was no longer ours). `interactive`: someone is waiting, so a short 429 (and, if `retry_transient`,
    one 5xx or timeout) is sat out in place before the row goes back to the outbox. `answered` is called
    once the platform has had its say, before the outcome is recorded (the pacer's window ends there)."""
    if sender is None:
        return await finish(engine, job, status="dropped", error="no sender")
    return await _send_and_settle(engine, sender, job, interactive, retry_transient, answered)


async def _send_and_settle(
    engine: Engine,
    sender: Sender,
    job: Job,
    interactive: bool,
    retry_transient: bool,
    answered: Callable[[], None] | None,
) -> str:
    result = await _send(sender, job, interactive, retry_transient, answered)
    if answered is not None:
        answered()
    if isinstance(result, str):
        return await finish(engine, job, status="dropped", error="blocked", block_user=True)
    if result is None:
        return await finish(engine, job, status="sent", sent_at=engine.clock.now())
    now = engine.clock.now()
    if isinstance(result, RetryLater):
        when = now + timedelta(seconds=result.retry_after)
        return await retry(engine, job, when, "429", count_attempt=False)
    return await retry(engine, job, now + backoff(job.attempts), type(result).__name__)


async def _send(
    sender: Sender, job: Job, interactive: bool, retry_transient: bool, answered: Callable[[], None] | None = None
) -> SendError | str | None:
    """The platform's answer: None (all sent), "blocked", or the error that stopped the send. `answered` is
    called as soon as the platform has taken the last reply (before the sender's own bookkeeping)."""
    tries = 2 if interactive else 1
    error: SendError | None = None
    for attempt in range(tries):
        replies, _ = job.remaining()
        try:
            await sender.send(job.ref, replies, on_sent=_shifted(job, replies, answered))
        except RetryLater as exc:
            error = exc
            job.retry_after = exc.retry_after
            if interactive and attempt + 1 < tries and exc.retry_after <= INLINE_RETRY_WAIT:
                await asyncio.sleep(exc.retry_after)
                continue
        except Blocked:
            return "blocked"
        except TransientError as exc:
            error = exc
            if interactive and retry_transient and attempt + 1 < tries:
                await asyncio.sleep(INLINE_TRANSIENT_PAUSE)
                continue
        except SendError as exc:
            error = exc
        except Exception as exc:  # an adapter bug must not lose the message: retry later
            log.exception("sender failed", extra={"platform": job.ref.platform})
            error = SendError(type(exc).__name__)
        else:
            return None
        break
    assert error is not None
    return error


def _shifted(job: Job, replies: list[Reply], answered: Callable[[], None] | None = None) -> Callable[[Sent], None]:
    """The sender counts from 0 over what it was given; the row counts over all its replies."""
    index = [i for i in range(len(job.replies)) if i not in job.delivered]

    def record(sent: Sent) -> None:
        job.on_sent(Sent(index[sent.index], sent.message_id))
        if answered is not None and len(job.delivered) >= len(job.replies):
            answered()  # e.g. the live question's id is still to be recorded: no part of what the platform counts

    return record


async def finish(
    engine: Engine,
    job: Job,
    *,
    status: str,
    error: str | None = None,
    sent_at: datetime | None = None,
    block_user: bool = False,
) -> str:
    values: dict[str, Any] = {"status": status, "last_error": error, "sent_at": sent_at, "claimed_until": None}
    if has_attachments(job.raw):  # the export's files go once the row is settled for good
        values["payload"] = {"replies": without_attachments(job.raw)}

    def work(db: repo.Db) -> bool:
        mine = outbox_repo.settle(db, job.row_id, job.token, farewell=job.farewell, **values)
        if mine and block_user and not job.farewell:
            repo.mark_inactive(db, job.user_id)
        return mine

    return await _settle(engine, job, work, status)


async def retry(engine: Engine, job: Job, when: datetime, error: str, *, count_attempt: bool = True) -> str:
    """Give the row back to the outbox for `when`, with only the replies not yet delivered."""
    gave_up = count_attempt and job.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {"last_error": error[:200], "claimed_until": None, "not_before": when}
    if not count_attempt:
        values["attempts"] = repo.OUTBOX.c.attempts - 1  # a 429 is the platform pacing us, not a failure
    if gave_up:
        values["status"] = "failed"
    if job.delivered and job.raw:
        values["payload"] = {"replies": job.remaining()[1]}
    elif job.delivered:
        values["payload"] = {"replies": replies_to_json(job.remaining()[0])}
    if gave_up and has_attachments(job.raw):  # never to be sent: its files need not wait 30 days for retention
        values["payload"] = {"replies": without_attachments(values.get("payload", {}).get("replies", job.raw))}
    result = await _settle(
        engine,
        job,
        lambda db: outbox_repo.settle(db, job.row_id, job.token, farewell=job.farewell, **values),
        "failed" if gave_up else "retry",
    )
    if gave_up:
        log.error("message gave up after retries", extra={"platform": job.ref.platform, "error": error})
    return result


async def _settle(engine: Engine, job: Job, work: Callable[[repo.Db], bool], outcome: str) -> str:
    """Run the fenced update, on a fresh connection after a database error, until the lease would end."""
    deadline = time.monotonic() + engine.leases.lease.total_seconds()
    delay = 0.05
    try:
        while True:
            try:
                mine = await engine.transaction(work)
                break
            except DBAPIError as exc:
                if time.monotonic() + delay > deadline:
                    log.error("could not record a send's outcome", extra={"error": type(exc).__name__})
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
    finally:
        engine.leases.release(job.token, job.row_id)
    if not mine:
        log.warning("outbox row was no longer ours; outcome not recorded", extra={"platform": job.ref.platform})
        return "lost"
    return outcome
