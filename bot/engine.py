"""The engine: one event, one transaction. Load the person's state, run the pure flow, save, reply.

The transaction is one synchronous function (`_handle_in`) on a Core connection, run whole: on SQLite in
the writer thread (bot/storage/sqlite_writer.py), on PostgreSQL through `AsyncConnection.run_sync`.

Per-user serialisation: a row lock (`SELECT ... FOR UPDATE`) on PostgreSQL. On SQLite the writer thread runs
one event at a time; the async writers (outbox, reminder claims, adapters) take `writer()` among themselves,
and every SQLite transaction begins IMMEDIATE, so the two sides wait for each other's lock instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.clock import Clock
from bot.flows import dispatch
from bot.flows.common import Outcome, zone_named
from bot.rendering import materialise
from bot.state import History, HistoryNeeded, Schedule, UserView
from bot.storage import repository as repo
from bot.storage.db import session_factory
from bot.storage.sqlite_writer import SqliteWriter
from bot.types import Inbound, InboundKind, Reply, UserRef
from bot.wire import replies_to_json
from content.loader import Content
from scheduler.planning import plan_next_fire

log = logging.getLogger(__name__)

T = TypeVar("T")


class Engine:
    def __init__(self, db: AsyncEngine, content: Content, clock: Clock) -> None:
        self.db = db
        self.content = content
        self.clock = clock
        self.sessions: async_sessionmaker = session_factory(db)
        sqlite = db.dialect.name == "sqlite"
        self._sqlite_writer = asyncio.Lock() if sqlite else None
        self._sqlite_thread = SqliteWriter(db.url) if sqlite else None

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
        if self._sqlite_thread is not None:
            self._sqlite_thread.close()

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one event exactly once; returns the replies to send (empty for a duplicate)."""
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
                f"reply:{outbox_id}",
                {"replies": replies_to_json(outcome.replies)},
                now,
                now,
            )
        repo.mark_sent(db, outbox_id, now)
        return len(outcome.replies)

    @property
    def on_sqlite(self) -> bool:
        return self._sqlite_thread is not None

    def _run(
        self, db: Connection, user: Row[Any], ref: UserRef, inbound: Inbound, now: datetime, *, active: bool
    ) -> Outcome:
        """Load, run the pure flow, save. The caller owns the transaction and the lock."""
        full = dispatch.wants_records(inbound)
        records = dispatch.records_range(inbound)
        before = repo.schedule_of(user)
        loaded = self._history(db, user, now, full=True, records=records) if full else None
        try:  # the view is built here and read by nobody else, so the flow may have it (no defensive copy)
            outcome = dispatch.handle_owned(repo.to_view(user, ref, loaded, active=active), inbound, now, self.content)
        except HistoryNeeded:
            # The flow is pure, so running it again with history is safe. It may have changed nested values
            # it shared with the row, so it gets a freshly read row (a Core row is decoded anew on every read).
            user = repo.user_by_id(db, user.id) or user
            loaded = self._history(db, user, now, full=full, records=records)
            outcome = dispatch.handle_owned(repo.to_view(user, ref, loaded, active=active), inbound, now, self.content)
        self.replan(before, outcome.view, now)
        repo.save_user(db, user.id, outcome.view, ref.chat_id)  # before effects: an erase comes after
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
        new = after.schedule
        keys = (
            "timezone",
            "reminder_time",
            "weekdays",
            "reminders_on",
            "paused_until",
            "hold_reason",
            "served_through",
        )
        changed = any(getattr(before, k) != getattr(new, k) for k in keys)
        if changed or (new.next_fire_at is None and new.reminders_on):
            profile = after.profile
            new.next_fire_at = plan_next_fire(new, now, quiet_start=profile.quiet_start, quiet_end=profile.quiet_end)


def _kept(done: list[Outcome | None], outcome: Outcome | None) -> Outcome | None:
    done.append(outcome)
    return outcome
