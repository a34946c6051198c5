"""An event's replies and a timer's replies are keyed apart in the outbox. Both were `reply:<id>`, one an
inbox id and the other an outbox id, so when the ids were equal the second set was not written: a timer's
replies were lost, or an event's went out with no durable row behind them."""

from __future__ import annotations

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import InboxEvent, OutboxMessage, User
from bot.types import Inbound, InboundKind, UserRef
from scheduler import inbox
from tests.storage.test_inbox import Counting

ANN = UserRef("console", "", "ann", "chat-ann")
SAME_ID = 5000


async def _next_inbox_id_is(db: AsyncEngine, wanted: int, clock: FakeClock) -> None:
    async with db.begin() as conn:
        if db.dialect.name == "postgresql":
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('inbox', 'id'), :v)"), {"v": wanted - 1})
        else:  # SQLite: the next rowid follows the largest
            await conn.execute(
                insert(InboxEvent).values(
                    id=wanted - 1, event_key="filler", platform="console", status="done", received_at=clock.now()
                )
            )


async def test_a_timers_replies_and_an_events_replies_with_equal_ids_are_both_kept_and_sent(
    engine: Engine, db: AsyncEngine, clock: FakeClock
) -> None:
    sender = Counting()
    await engine.receive(Inbound(ANN, InboundKind.COMMAND, text="/start", event_id="e1"))
    await inbox.drain(engine, {"console": sender}, inbox.person_of(ANN))
    async with db.begin() as conn:
        user_id = (await conn.execute(select(User.id))).scalar_one()
        await conn.execute(  # a due check-in whose outbox id is the id the next inbox event will get
            insert(OutboxMessage).values(
                id=SAME_ID,
                user_id=user_id,
                kind="event",
                dedupe_key="checkin-test",
                payload={"action": "checkin.rest", "data": {}},
                created_at=clock.now(),
                not_before=clock.now(),
                attempts=0,
                status="pending",
            )
        )
    await _next_inbox_id_is(db, SAME_ID, clock)
    timer_replies = await engine.handle_system(SAME_ID, user_id, "checkin.rest", {})
    assert timer_replies > 0, "the check-in must answer something for this test to mean anything"
    await engine.receive(Inbound(ANN, InboundKind.COMMAND, text="/help", event_id="e2"))
    processed = await engine.process_next(inbox.person_of(ANN))
    assert processed is not None and processed.replies
    async with db.connect() as conn:
        pending_id = (await conn.execute(select(func.max(InboxEvent.id)))).scalar()
    assert pending_id == SAME_ID  # the collision this test is about really happened
    assert processed.ticket is not None  # the event's replies have their own durable row...
    async with db.connect() as conn:
        kinds = (await conn.execute(select(OutboxMessage.kind).where(OutboxMessage.kind != "event"))).scalars()
        assert sorted(kinds).count("message") == 1  # ...and the timer's are still there, to be sent
