"""The engine: one event, one transaction. Load the person's state, run the pure flow, save, reply.

Per-user serialisation: a row lock (`SELECT ... FOR UPDATE`) on PostgreSQL; a single writer on SQLite
(one asyncio lock per process — SQLite is the one-process deployment).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.flows import dispatch
from bot.flows.common import Outcome, zone_named
from bot.rendering import materialise
from bot.state import History, HistoryNeeded, Schedule, UserView
from bot.storage import repository as repo
from bot.storage.db import session_factory
from bot.storage.models import OutboxMessage, User
from bot.types import Inbound, InboundKind, Reply, UserRef
from bot.wire import replies_to_json
from content.loader import Content
from scheduler.planning import plan_next_fire

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, db: AsyncEngine, content: Content, clock: Clock) -> None:
        self.db = db
        self.content = content
        self.clock = clock
        self.sessions: async_sessionmaker = session_factory(db)
        self._sqlite_writer = asyncio.Lock() if db.dialect.name == "sqlite" else None

    def writer(self) -> AbstractAsyncContextManager[object]:
        """Serialise writers on SQLite; PostgreSQL relies on row locks instead."""
        return self._sqlite_writer if self._sqlite_writer is not None else nullcontext()

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one event exactly once; returns the replies to send (empty for a duplicate)."""
        now = self.clock.now()
        async with self.writer(), self.sessions() as session, session.begin():
            user = await repo.load_user(session, inbound.user, now)
            if inbound.event_id and not await repo.mark_processed(
                session, user, inbound.user, inbound.event_id, now
            ):
                log.info("duplicate event dropped", extra={"platform": inbound.user.platform})
                return []
            full = dispatch.wants_records(inbound)
            outcome = await self._run(session, user, inbound, now, full_history=full)
        log.info(
            "event handled",
            extra={"platform": inbound.user.platform, "kind": inbound.kind.value, "replies": len(outcome.replies)},
        )
        return await materialise(outcome.replies, self.content)  # charts are drawn after the commit

    async def handle_system(self, outbox_id: int, user_id: int, action: str, data: dict[str, str]) -> int:
        """Run a due timer or check-in through the core; its replies become one outbox message, written
        in the same transaction that marks the event done, so a crash can neither lose nor repeat it."""
        now = self.clock.now()
        async with self.writer(), self.sessions() as session, session.begin():
            event_row = await session.get(OutboxMessage, outbox_id, with_for_update=self._pg)
            if event_row is None or event_row.status != "pending":
                return 0
            user = await session.get(User, user_id, with_for_update=self._pg)
            if user is None:
                return 0
            ref = UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id)
            inbound = Inbound(user=ref, kind=InboundKind.SYSTEM, action=action, text=data.get("token", ""), at=now)
            outcome = await self._run(session, user, inbound, now, full_history=dispatch.wants_records(inbound))
            if outcome.replies:
                await repo.enqueue(
                    session, user.id, "message", f"reply:{outbox_id}",
                    {"replies": replies_to_json(outcome.replies)}, now, now,
                )
            event_row.status, event_row.sent_at, event_row.claimed_until = "sent", now, None
        return len(outcome.replies)

    @property
    def _pg(self) -> bool:
        return self.db.dialect.name == "postgresql"

    async def _run(
        self, session: AsyncSession, user: User, inbound: Inbound, now: datetime, *, full_history: bool
    ) -> Outcome:
        """Load, run the pure flow, save. The caller owns the transaction and the lock."""
        ref = UserRef(user.platform, user.workspace, user.platform_user_id, user.chat_id)
        view = await self.load_view(session, user, ref, now, history=full_history, full_history=full_history)
        try:
            outcome = dispatch.handle(view, inbound, now, self.content)
        except HistoryNeeded:  # the flow is pure, so running it again with history is safe
            view.loaded_history = await self._history(session, user, now, full=full_history)
            outcome = dispatch.handle(view, inbound, now, self.content)
        self.replan(view.schedule, outcome.view, now)
        repo.save_view(user, outcome.view)
        await repo.apply_effects(session, user, outcome.effects, now)
        return outcome

    async def load_view(
        self, session: AsyncSession, user: User, ref: UserRef, now: datetime, *, history: bool = True,
        full_history: bool = False,
    ) -> UserView:
        loaded = await self._history(session, user, now, full=full_history) if history else None
        return repo.to_view(user, ref, loaded)

    @staticmethod
    async def _history(session: AsyncSession, user: User, now: datetime, *, full: bool) -> History:
        today = now.astimezone(zone_named(user.timezone)).date()
        return await repo.load_history(session, user.id, now, today, full=full)

    @staticmethod
    def replan(before: Schedule, after: UserView, now: datetime) -> None:
        """Recompute the next reminder whenever the schedule, a pause or a hold changed."""
        new = after.schedule
        keys = ("timezone", "reminder_time", "weekdays", "reminders_on", "paused_until", "hold_reason",
                "served_through")
        changed = any(getattr(before, k) != getattr(new, k) for k in keys)
        if changed or (new.next_fire_at is None and new.reminders_on):
            profile = after.profile
            new.next_fire_at = plan_next_fire(new, now, quiet_start=profile.quiet_start, quiet_end=profile.quiet_end)
