"""The engine: one event, one transaction. Load the person's state, run the pure flow, save, reply.

The transaction is one synchronous function (`_handle_in`) on a Core connection, run whole: on SQLite in
the writer thread (bot/storage/sqlite_writer.py), on PostgreSQL through `AsyncConnection.run_sync`.

Per-user serialisation: a row lock (`SELECT ... FOR UPDATE`) on PostgreSQL. On SQLite the writer thread runs
one event at a time; the async writers (outbox, reminder claims, adapters) take `writer()` among themselves,
and every SQLite transaction begins IMMEDIATE, so the two sides wait for each other's lock instead of failing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import configure_mappers

from bot.clock import Clock
from bot.effects import EraseUser
from bot.flows import dispatch
from bot.flows.common import Outcome, zone_named
from bot.flows.registry import Need
from bot.leases import LEASE, Leases, new_token
from bot.rendering import materialise
from bot.schedule.planning import late_reminder, missed_fires, plan_next_fire
from bot.schedule.timing import local_date_of, missed_decision
from bot.state import History, Schedule, UserView
from bot.storage import inbox_repo, outbox_repo
from bot.storage import repository as repo
from bot.storage.db import session_factory
from bot.storage.sqlite_writer import SqliteWriter
from bot.turns import Turns
from bot.types import Inbound, InboundKind, Reply, UserRef
from bot.wire import replies_to_inputs, replies_to_json
from content.loader import Content

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Ticket:
    """A reply row leased to this process: send it, then settle it with the same fencing token."""

    outbox_id: int
    token: str
    user_id: int


@dataclass(frozen=True)
class Processed:
    """One inbox event run through the core: the replies to send now (`ticket` None when there are none;
    for a person who has just erased everything it holds a farewell row: user id 0, addressed by chat)."""

    inbound: Inbound
    ref: UserRef
    replies: list[Reply]
    ticket: Ticket | None
    stored: list[dict[str, Any]] = field(default_factory=list)  # the replies as the outbox row holds them


@dataclass(frozen=True)
class Taken:
    """`Engine.receive_and_process`: processed at once (`processed`), or left in the inbox (`pending`:
    it still needs `process_next`), or neither (a redelivery of an event already handled)."""

    pending: bool
    processed: Processed | None = None


@dataclass
class _Done:
    inbox_id: int
    inbound: Inbound
    ref: UserRef
    outcome: Outcome | None = None
    ticket: Ticket | None = None
    live_message: str | None = None  # the person's live question id, read with their row
    stored: list[dict[str, Any]] | None = None  # the replies as the outbox row holds them (encoded once)


@dataclass(frozen=True)
class _Take:
    received: inbox_repo.Received
    done: _Done | None = None  # processed in the same transaction


class Engine:
    def __init__(
        self, db: AsyncEngine, content: Content, clock: Clock, *, lease: timedelta = LEASE, render_inputs: bool = True
    ) -> None:
        self.db = db
        self.content = content
        self.clock = clock
        # Queued messages (reminders, timers' and check-ins' replies) are stored as what renders them, not
        # their words (bot/wire.py); False keeps the words (`bench storage --words` compares the two).
        self.render_inputs = render_inputs
        self.sessions: async_sessionmaker = session_factory(db)
        configure_mappers()  # at start-up, not inside the first event that reads through the ORM (Slack's)
        sqlite = db.dialect.name == "sqlite"
        self._sqlite_writer = asyncio.Lock() if sqlite else None
        self._sqlite_thread = SqliteWriter(db.url) if sqlite else None
        self.leases = Leases(self, lease)
        self.turns = Turns()  # one person's inbox events, one after another, in arrival order
        # The live question's id as the event's transaction read it, for the send that follows at once
        # (adapters/live.py takes it instead of a transaction of its own); taken once, then gone.
        self._live_hints: dict[tuple[str, str, str], str | None] = {}
        self._token_prefix = new_token()[:16]
        self._token_count = itertools.count(1)

    def writer(self) -> AbstractAsyncContextManager[object]:
        """Serialise the async writers on SQLite; PostgreSQL relies on row locks instead."""
        return self._sqlite_writer if self._sqlite_writer is not None else nullcontext()

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` as one transaction, committed when it returns, rolled back if it raises.
        A Core connection, not an ORM session: the session's bookkeeping cost more than the event's SQL."""
        if self._sqlite_thread is not None:  # the thread runs one at a time; the next waits in its queue
            return await self._sqlite_thread.run(work)
        async with self.db.begin() as connection:
            return await connection.run_sync(work)

    def close(self) -> None:
        """Release the SQLite writer thread and its connection (the async engine is the caller's)."""
        self.leases.stop()
        if self._sqlite_thread is not None:
            self._sqlite_thread.close()

    # --- hooks (bot/metrics.py counts here) ------------------------------------------------------------

    def on_event(self, inbound: Inbound) -> None:
        """A new event reached the engine (a redelivery of one already received is not counted)."""

    def on_replies(self, platform: str, count: int) -> None:
        """The core produced `count` replies for someone."""

    # --- the inbox: received durably, then processed in order per person --------------------------------

    async def receive(self, inbound: Inbound) -> inbox_repo.Received:
        """Make the event durable (the platform may be answered once this returns). Raises on a database
        error: the platform must then be told to deliver again (a 5xx), or the caller retries."""
        event_id = inbound.event_id or f"local:{uuid.uuid4().hex}"
        now = self.clock.now()
        received = await self.transaction(lambda db: inbox_repo.receive(db, inbound, event_id, now))
        if received.fresh:
            self.on_event(inbound)
        if not received.pending:
            log.info("duplicate event dropped", extra={"platform": inbound.user.platform})
        return received

    async def process_next(self, person: str) -> Processed | None:
        """Run the person's oldest unprocessed event through the core, in one transaction with its state
        change, the processed mark and its replies (an outbox row leased to us). None when nothing waits."""
        now = self.clock.now()
        token = self._token()
        until = now + self.leases.lease
        done: list[_Done | None] = []
        try:
            result = await self.transaction(lambda db: _kept(done, self._process_in(db, person, now, token, until)))
        except DBAPIError:
            result = done[0] if done else None
            if result is None or not await self._inbox_landed(result.inbox_id):
                raise
        if result is None:
            return None
        return await self._processed(result, token)

    async def receive_and_process(
        self, inbound: Inbound, *, defer: Callable[[Row[Any] | None], bool] | None = None
    ) -> Taken:
        """`receive` and `process_next` in one transaction, when the event can run at once: nothing of the
        person's is pending before it (their order), and `defer` (given the person's row, None for someone
        new) does not ask it to wait (Slack's time-zone hint is looked up after the ack). Otherwise the event
        is received as `receive` does and left pending for `process_next`. Either way it is durable once this
        returns; the inbox row is its durability and dedupe record. The caller holds the person's turn.
        Raises on a database error when nothing may have landed (the caller then receives the usual way)."""
        event_id = inbound.event_id or f"local:{uuid.uuid4().hex}"
        now = self.clock.now()
        token = self._token()
        until = now + self.leases.lease
        kept: list[_Take] = []
        try:
            take = await self.transaction(
                lambda db: _kept(kept, self._take_in(db, inbound, event_id, now, token, until, defer))
            )
        except DBAPIError:
            landed = kept[0] if kept else None
            if landed is None or landed.done is None or not await self._inbox_landed(landed.done.inbox_id):
                raise
            take = landed
        received = take.received
        if received.fresh:
            self.on_event(inbound)
        if not received.pending:
            log.info("duplicate event dropped", extra={"platform": inbound.user.platform})
        if take.done is None:
            return Taken(received.pending)
        return Taken(False, await self._processed(take.done, token))

    def _take_in(
        self,
        db: Connection,
        inbound: Inbound,
        event_id: str,
        now: datetime,
        token: str,
        until: datetime,
        defer: Callable[[Row[Any] | None], bool] | None,
    ) -> _Take:
        found, waiting = inbox_repo.user_and_waiting(db, inbound.user)
        if not waiting:
            if defer is None or not defer(found):
                row_id = inbox_repo.receive_done(db, inbound, event_id, now)
                if row_id is None:  # a redelivery of an event already received
                    status = inbox_repo.key_status(db, inbound.user, event_id)
                    return _Take(inbox_repo.Received(fresh=False, pending=status == "pending"))
                done = _Done(row_id, inbound, inbound.user)
                self._process_event(db, done, found, now, token, until)
                return _Take(inbox_repo.Received(fresh=True, pending=True), done)
        return _Take(inbox_repo.receive(db, inbound, event_id, now))

    async def _processed(self, result: _Done, token: str) -> Processed:
        """After the commit: hold the reply row's lease, keep the live question's id, draw the replies."""
        if result.ticket is not None:
            self.leases.hold(token, [result.ticket.outbox_id])
            self._live_hints[_live_key(result.ref)] = result.live_message
        outcome = result.outcome
        if outcome is None:
            return Processed(result.inbound, result.ref, [], None)
        self.on_replies(result.ref.platform, len(outcome.replies))
        replies = await materialise(outcome.replies, self.content)
        stored = result.stored if result.stored is not None else replies_to_json(outcome.replies)
        return Processed(result.inbound, result.ref, replies, result.ticket, stored)

    def _token(self) -> str:
        """A fencing token unique across processes and restarts: a random prefix drawn once, and a counter
        (a fresh random token per event cost a getrandom call each; uniqueness is all a fence needs)."""
        return f"{self._token_prefix}{next(self._token_count):x}"

    def take_live_hint(self, ref: UserRef) -> tuple[bool, str | None]:
        """(True, id) once after `process_next` committed replies for this person, else (False, None)."""
        key = _live_key(ref)
        if key in self._live_hints:
            return True, self._live_hints.pop(key)
        return False, None

    def drop_live_hint(self, ref: UserRef) -> None:
        """The send it was for is over (or never came): later sends read the id afresh."""
        self._live_hints.pop(_live_key(ref), None)

    def _process_in(self, db: Connection, person: str, now: datetime, token: str, until: datetime) -> _Done | None:
        pending = inbox_repo.next_pending(db, person)
        if pending is None:
            return None
        inbox_repo.finish(db, pending.id)
        done = _Done(pending.id, pending.inbound, pending.inbound.user)
        return self._process_event(db, done, repo.find_user(db, pending.inbound.user), now, token, until)

    def _process_event(
        self, db: Connection, done: _Done, found: Row[Any] | None, now: datetime, token: str, until: datetime
    ) -> _Done:
        """The event's work once its inbox row is done: `found` is the person's (locked) row, or None."""
        inbound = done.inbound
        if found is None and inbound.kind is InboundKind.BUTTON:  # a tap never creates a person (e.g. after /delete)
            log.info("tap from nobody known dropped", extra={"platform": inbound.user.platform})
            return done
        user = found if found is not None else repo.load_user(db, inbound.user, now)
        if inbound.event_id and not repo.mark_processed(db, user.id, inbound.user, inbound.event_id, now):
            return done
        done.ref = ref = UserRef(
            user.platform, user.workspace, user.platform_user_id, inbound.user.chat_id or user.chat_id
        )
        done.outcome = outcome = self._run(db, user, ref, inbound, now, active=True)
        if not outcome.replies:
            return done
        if any(isinstance(e, EraseUser) for e in outcome.effects):  # the row is gone: a farewell, by chat id
            replies = replies_to_json(outcome.replies)
            row = outbox_repo.add_claimed_farewell(db, ref, reply_key(done.inbox_id), replies, now, until, token)
            done.ticket = Ticket(row, token, 0) if row is not None else None
            return done
        done.stored = replies_to_json(outcome.replies)
        payload = {"replies": done.stored}
        row = outbox_repo.add_claimed_reply(db, user.id, reply_key(done.inbox_id), payload, now, until, token)
        done.ticket = Ticket(row, token, user.id) if row is not None else None
        done.live_message = user.live_message  # the flow and save_user never change it
        return done

    async def _inbox_landed(self, inbox_id: int) -> bool:
        try:
            status = await self.transaction(lambda db: inbox_repo.status_of(db, inbox_id))
        except DBAPIError:
            return False
        if status == "done":
            log.warning("commit reported an error but had succeeded; replying")
        return status == "done"

    async def failed_attempt(self, person: str, limit: int) -> bool:
        """The person's oldest event failed to process (not a database error: the flow raised). After
        `limit` tries it is set aside, so one poisoned event cannot hold up everything after it."""

        def work(db: Connection) -> bool:
            pending = inbox_repo.next_pending(db, person)
            if pending is None:
                return False
            if inbox_repo.failed_attempt(db, pending.id) >= limit:
                inbox_repo.finish(db, pending.id)
                return True
            return False

        return await self.transaction(work)

    async def add_hint(self, inbound: Inbound, timezone_hint: str) -> None:
        """A time-zone hint for an event already received (looked up after the platform was answered)."""
        if not inbound.event_id:
            return
        ref, event_id = inbound.user, inbound.event_id

        def work(db: Connection) -> None:
            row_id = inbox_repo.row_id_of(db, ref.platform, ref.workspace, event_id)
            if row_id is not None:
                inbox_repo.set_hint(db, row_id, timezone_hint)

        await self.transaction(work)

    async def mark_blocked(self, ref: UserRef) -> None:
        """The person blocked the bot (or left): send nothing more until they write again."""
        await self.transaction(lambda db: repo.mark_inactive_ref(db, ref))

    # --- the direct path (console, tests): handled and answered in this call, no inbox ---------------------

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one event exactly once; returns the replies to send (empty for a duplicate)."""
        self.on_event(inbound)
        now = self.clock.now()
        done: list[Outcome | None] = []  # the flow's result, kept in case the commit's answer is lost
        try:
            outcome = await self.transaction(lambda db: _kept(done, self._handle_in(db, inbound, now)))
        except DBAPIError:
            if not (done and done[0] is not None and await self._committed_anyway(inbound)):
                raise
            outcome = done[0]
        if outcome is None:
            log.info("duplicate event dropped", extra={"platform": inbound.user.platform})
            return []
        log.info(
            "event handled",
            extra={"platform": inbound.user.platform, "kind": inbound.kind.value, "replies": len(outcome.replies)},
        )
        self.on_replies(inbound.user.platform, len(outcome.replies))
        return await materialise(outcome.replies, self.content)  # charts are drawn after the commit

    async def _committed_anyway(self, inbound: Inbound) -> bool:
        """After the connection died around COMMIT: did the transaction land? Its event id says so. If it
        did, the replies must still go out: the platform's redelivery would be dropped as a duplicate."""
        if not inbound.event_id:
            return False
        event_id = inbound.event_id
        try:
            landed = await self.transaction(lambda db: repo.was_processed(db, inbound.user, event_id))
        except DBAPIError:
            return False  # still unreachable: fail the event; the platform's redelivery decides
        if landed:
            log.warning(
                "commit reported an error but had succeeded; replying", extra={"platform": inbound.user.platform}
            )
        return landed

    def _handle_in(self, db: Connection, inbound: Inbound, now: datetime) -> Outcome | None:
        if inbound.kind is InboundKind.BUTTON and repo.find_user(db, inbound.user) is None:
            return None  # a tap never creates a person
        user = repo.load_user(db, inbound.user, now)
        if inbound.event_id and not repo.mark_processed(db, user.id, inbound.user, inbound.event_id, now):
            return None
        ref = UserRef(user.platform, user.workspace, user.platform_user_id, inbound.user.chat_id or user.chat_id)
        # Someone writing is active: a person who blocked the bot and came back is welcomed back.
        return self._run(db, user, ref, inbound, now, active=True)

    async def handle_system(self, outbox_id: int, user_id: int, action: str, data: dict[str, str]) -> int:
        """Run a due timer or check-in through the core; its replies become one outbox message, written
        in the same transaction that marks the event done, so a crash can neither lose nor repeat it."""
        now = self.clock.now()
        return await self.transaction(lambda db: self._system_in(db, outbox_id, user_id, action, data, now))

    def _system_in(
        self, db: Connection, outbox_id: int, user_id: int, action: str, data: dict[str, str], now: datetime
    ) -> int:
        if not repo.claim_event(db, outbox_id):
            return 0
        user = repo.user_by_id(db, user_id)
        if user is None:
            return 0
        ref = UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id)
        inbound = Inbound(user=ref, kind=InboundKind.SYSTEM, action=action, text=data.get("token", ""))
        outcome = self._run(db, user, ref, inbound, now, active=user.active)
        if outcome.replies:
            repo.enqueue(
                db,
                user.id,
                "message",
                timer_reply_key(outbox_id),
                {"replies": self.queued(outcome.replies)},
                now,
                now,
            )
        repo.mark_sent(db, outbox_id, now)
        return len(outcome.replies)

    def queued(self, replies: list[Reply]) -> list[dict[str, Any]]:
        """Replies as an outbox row holds them until they are sent (and for weeks after)."""
        return replies_to_inputs(replies, self.content) if self.render_inputs else replies_to_json(replies)

    @property
    def on_sqlite(self) -> bool:
        return self._sqlite_thread is not None

    def _run(
        self,
        db: Connection,
        user: Row[Any],
        ref: UserRef,
        inbound: Inbound,
        now: datetime,
        *,
        active: bool,
        history: History | None = None,
        serve: date | None = None,
    ) -> Outcome:
        """Load what the flow declares it reads (bot/flows/registry.Need), run the pure flow, save. The caller
        owns the transaction and the lock. `history`: figures the caller already has (the reminder claim reads
        them for a whole batch); `serve`: a reminder's local day, which counts as served (the next fire moves
        past it) whatever the flow said."""
        before = repo.schedule_of(user)
        view = repo.to_view(user, ref, None, active=active)
        need = dispatch.needs(view, inbound)
        if need is not Need.NOTHING:
            full = need is Need.RECORDS
            if history is not None and not full:
                view.loaded_history = history
            else:
                records = dispatch.records_range(inbound)
                view.loaded_history = self._history(db, user, now, full=full, records=records)
        # the view is built here and read by nobody else, so the flow may have it (no defensive copy)
        outcome = dispatch.handle_owned(view, inbound, now, self.content)
        if serve is not None:
            schedule = outcome.view.schedule
            schedule.served_through = max(serve, schedule.served_through or serve)
        self.replan(before, outcome.view, now)
        repo.save_user(db, user.id, outcome.view, ref.chat_id, user)  # before effects: an erase comes after
        repo.apply_effects(db, user.id, outcome.effects, now)
        return outcome

    @staticmethod
    def _history(
        db: Connection, user: Row[Any], now: datetime, *, full: bool, records: tuple[bool, date | None]
    ) -> History:
        today = now.astimezone(zone_named(user.timezone)).date()
        wanted, since = records
        return repo.load_history(db, user.id, now, today, full=full, records=wanted, records_since=since)

    @staticmethod
    def replan(before: Schedule, after: UserView, now: datetime) -> None:
        """Recompute the next reminder whenever the schedule, a pause or a hold changed."""
        replan_schedule(before, after.schedule, now, after.profile.quiet_start, after.profile.quiet_end)

    # --- reminders: the claim runs here, like every other event ---------------------------------------------

    async def claim_reminders(
        self, now: datetime, *, grace: timedelta, limit: int, ahead: timedelta = timedelta(0), quick: bool = True
    ) -> ClaimStats:
        """One batch of due reminders in one transaction (see scheduler/reminders.py). `quick`: build a plain
        reminder from the row (`dispatch.quick_reminder`, the same message as the flow's) instead of running
        the whole flow; anything else about the person runs the flow as an event would."""
        return await self.transaction(lambda db: self._claim_in(db, now, grace, limit, ahead, quick))

    def _claim_in(
        self, db: Connection, now: datetime, grace: timedelta, limit: int, ahead: timedelta, quick: bool
    ) -> ClaimStats:
        stats = ClaimStats(batches=1)
        users = repo.due_reminders(db, now + ahead, limit)
        if not users:
            return stats
        counts = repo.reminder_counts(db, [u.id for u in users], now)
        rows: list[dict[str, Any]] = []
        served: list[dict[str, Any]] = []
        memo: dict[tuple[date, bool], Any] = {}  # a day's reminder text and buttons, built once per batch
        for user in users:
            stats.claimed += 1
            due = user.next_fire_at
            zone = zone_named(user.timezone)
            day = local_date_of(due, zone)
            if missed_decision(due_at=due, now=now, grace=grace) == "skip":
                # Down past one reminder or more: the latest is sent late if within the grace, every older
                # one skipped (bot/schedule/planning.missed_fires).
                profile = user.profile or {}
                quiet = {"quiet_start": profile.get("quiet_start"), "quiet_end": profile.get("quiet_end")}
                fires = missed_fires(repo.schedule_of(user), now, **quiet) or [due]
                late = late_reminder(fires, now, grace)
                stats.skipped_late += len(fires) - (late is not None)
                if late is None:
                    served.append(_served(user, local_date_of(fires[-1], zone), now, None))
                    continue
                due, day = late, local_date_of(late, zone)
            pain, ignored = counts[user.id]
            built = None
            if quick:
                today = now.astimezone(zone).date()
                built = dispatch.quick_reminder(
                    user.profile or {}, user.conversation or {}, day, today, ignored, self.content, memo
                )
            if built is not None:
                stats.quick += 1
                replies, conversation = built
                served.append(_served(user, day, now, conversation))
            else:
                ref = UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id)
                inbound = Inbound(user=ref, kind=InboundKind.SYSTEM, action="reminder", text=day.isoformat())
                history = History(pain_skips_14d=pain, reminders_ignored=ignored)
                replies = self._run(db, user, ref, inbound, now, active=user.active, history=history, serve=day).replies
            if not replies:
                stats.silent += 1
                continue
            rows.append(
                {
                    "user_id": user.id,
                    "kind": "reminder",
                    "dedupe_key": f"reminder:{user.id}:{day.isoformat()}",
                    "payload": {"replies": self.queued(replies)},
                    "created_at": now,
                    "not_before": max(now, due),  # claimed ahead: sent at its due time, not before
                    "attempts": 0,
                    "status": "pending",
                }
            )
        repo.save_served(db, served)
        stats.queued += repo.queue_reminders(db, rows)
        return stats


@dataclass
class ClaimStats:
    claimed: int = 0  # users whose due reminder was handled (queued, skipped or silent)
    queued: int = 0  # outbox rows written
    skipped_late: int = 0  # missed by more than the grace period: skipped to the next day
    silent: int = 0  # due but nothing to say (mid-session)
    batches: int = 0
    quick: int = 0  # built from the row (`dispatch.quick_reminder`) rather than by running the flow

    def add(self, other: ClaimStats) -> None:
        self.claimed += other.claimed
        self.queued += other.queued
        self.skipped_late += other.skipped_late
        self.silent += other.silent
        self.batches += other.batches
        self.quick += other.quick


def _served(user: Row[Any], day: date, now: datetime, conversation: dict[str, Any] | None) -> dict[str, Any]:
    """A claimed reminder's day is served and the next fire planned past it (the flow's path does the same
    in `_run`); `conversation` is the quick reminder's new one, or None when it was skipped as too late."""
    before = repo.schedule_of(user)
    after = before.model_copy()
    after.served_through = max(day, after.served_through or day)
    profile = user.profile or {}
    replan_schedule(before, after, now, profile.get("quiet_start"), profile.get("quiet_end"))
    return {
        "row_id": user.id,
        "new_served_through": after.served_through,
        "new_next_fire_at": after.next_fire_at,
        "new_conversation": conversation,
    }


def replan_schedule(
    before: Schedule, new: Schedule, now: datetime, quiet_start: str | None, quiet_end: str | None
) -> None:
    """`Engine.replan` on the schedule alone (the quick reminder claim has no view)."""
    changed = any(getattr(before, k) != getattr(new, k) for k in _PLAN_KEYS)
    if changed or (new.next_fire_at is None and new.reminders_on):
        new.next_fire_at = plan_next_fire(new, now, quiet_start=quiet_start, quiet_end=quiet_end)


_PLAN_KEYS = ("timezone", "reminder_time", "weekdays", "reminders_on", "paused_until", "hold_reason", "served_through")


def reply_key(inbox_id: int) -> str:
    """The outbox key of the replies to inbox event `inbox_id`. Its own namespace: before, an event's and a
    timer's replies were both `reply:<id>` (an inbox id, an outbox id), so equal ids collided and the
    second set of replies was not written (a timer's lost, or an event's sent with no durable row)."""
    return f"reply:e{inbox_id}"


def timer_reply_key(outbox_id: int) -> str:
    """The outbox key of the replies to the timer or check-in in outbox row `outbox_id`."""
    return f"reply:t{outbox_id}"


def _live_key(ref: UserRef) -> tuple[str, str, str]:
    return (ref.platform, ref.workspace, ref.user_id)


def _kept(done: list[T], outcome: T) -> T:
    done.append(outcome)
    return outcome
