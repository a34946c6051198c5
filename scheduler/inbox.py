"""Processing the inbox: each person's received events, oldest first, one at a time, each delivered the
moment it commits (deliver now, or leave it to the outbox).

The same path serves an adapter that has just received an event and the runner recovering events that a
crash or a database error left behind (`recover`), so a person's events are handled in order either way:
in one process by `engine.turns`, across processes because each transaction takes the person's oldest
pending event under their row lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from bot.engine import Engine, Processed
from bot.storage import inbox_repo
from scheduler import delivery
from scheduler.ratelimit import Pacer
from scheduler.sender import Sender, SendError

log = logging.getLogger(__name__)

MAX_EVENT_ATTEMPTS = 5  # an event whose flow keeps raising is set aside after this many tries
RECOVER_AFTER = timedelta(seconds=5)  # a pending event this old has no live process working on it

person_of = inbox_repo.person_of


async def drain(
    engine: Engine,
    senders: dict[str, Sender],
    person: str,
    *,
    retry_transient: bool = True,
    pacers: dict[str, Pacer] | None = None,
) -> int:
    """Process and deliver everything waiting for this person. A database error propagates (the events
    stay pending for `recover`); a flow that raises is retried later, then set aside. The replies go out at
    once, never waiting for a pacer; what the platform took is noted in it, so a wave makes room."""
    handled = 0
    async with engine.turns.turn(person):
        while True:
            try:
                processed = await engine.process_next(person)
            except DBAPIError:
                raise
            except Exception:
                log.exception("inbox event failed")
                if not await engine.failed_attempt(person, MAX_EVENT_ATTEMPTS):
                    return handled
                log.error("inbox event set aside after repeated failures")
                continue
            if processed is None:
                return handled
            handled += 1
            platform = processed.ref.platform
            pacer = (pacers or {}).get(platform)
            await deliver_now(engine, senders.get(platform), processed, retry_transient=retry_transient, pacer=pacer)


async def deliver_now(
    engine: Engine,
    sender: Sender | None,
    processed: Processed,
    *,
    retry_transient: bool = True,
    pacer: Pacer | None = None,
) -> str:
    """Send an event's replies at once. What the platform will not take now stays in the outbox row.
    `pacer`: the replies the platform took count in its window (`Pacer.note`), after they went out."""
    if not processed.replies:
        return "none"
    ticket = processed.ticket
    if ticket is None:  # no row could be written for them (cannot happen today: every reply gets one)
        if sender is None:
            return "dropped"
        try:
            await sender.send(processed.ref, processed.replies)
        except SendError as exc:
            log.warning("reply without an outbox row not sent", extra={"error": type(exc).__name__})
            return "retry"
        if pacer is not None:
            pacer.note(len(processed.replies))
        return "sent"
    job = delivery.Job(
        ticket.outbox_id,
        ticket.token,
        ticket.user_id,
        processed.ref,
        processed.replies,
        attempts=1,
        raw=processed.stored,
    )
    try:
        result = await delivery.send_job(engine, sender, job, interactive=True, retry_transient=retry_transient)
    finally:
        engine.drop_live_hint(processed.ref)
        if pacer is not None:
            pacer.note(len(job.delivered))
    if result == "retry":
        log.info("reply left to the outbox", extra={"platform": processed.ref.platform})
    return result


async def recover(
    engine: Engine,
    senders: dict[str, Sender],
    now: datetime,
    older_than: timedelta,
    pacers: dict[str, Pacer] | None = None,
) -> int:
    """Process events received before `now - older_than` and still pending (their process died, or the
    database failed under it). Returns how many were handled."""
    people = await engine.transaction(lambda db: inbox_repo.people_waiting(db, now - older_than))
    handled = 0
    for person in people:
        try:
            handled += await drain(engine, senders, person, pacers=pacers)
        except DBAPIError as exc:
            log.warning("inbox recovery stopped by a database error", extra={"error": type(exc).__name__})
            break
    if handled:
        log.info("inbox events recovered", extra={"events": handled})
    return handled
