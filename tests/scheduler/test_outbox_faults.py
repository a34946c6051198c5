"""Delivery faults and restarts: 429 with retry_after, 5xx, timeouts, "blocked", a process that dies between
claim and send or between send and mark-sent. Counted, retried or stopped as they should be; nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import OutboxMessage, User
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler import outbox
from scheduler.ratelimit import Limits, Pacer
from scheduler.reminders import claim_due_reminders
from scheduler.runner import tick
from scheduler.sender import Blocked, RetryLater, TransientError
from tests.scheduler.test_reminders import add_users

DUE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


class Crash(BaseException):
    """The process dying mid-send: not an Exception, so nothing in our code catches it."""


class ScriptedSender:
    """Fails as told (one failure per call, in order), then delivers; records every delivery."""

    platform = "console"

    def __init__(self, *failures: BaseException, crash_after_delivery: bool = False) -> None:
        self.failures = list(failures)
        self.crash_after_delivery = crash_after_delivery
        self.delivered: list[str] = []
        self.calls = 0

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(user.chat_id)
        if self.crash_after_delivery:
            self.crash_after_delivery = False
            raise Crash()


async def setup(db: AsyncEngine, content: Content, users: int = 1) -> tuple[Engine, FakeClock]:
    clock = FakeClock(DUE - timedelta(minutes=1))
    await add_users(db, clock.now(), [{"id": f"c{i}", "zone": "UTC", "at": "07:00"} for i in range(users)])
    clock.set(DUE)
    return Engine(db, content, clock), clock


async def rows(engine: Engine) -> list[OutboxMessage]:
    async with engine.sessions() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_429_waits_retry_after_without_counting_an_attempt(db: AsyncEngine, content: Content) -> None:
    engine, clock = await setup(db, content)
    sender = ScriptedSender(RetryLater(30))
    await tick(engine, {"console": sender}, clock.now())
    [row] = await rows(engine)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, "429")
    assert row.not_before == DUE + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    await tick(engine, {"console": sender}, clock.now())
    assert sender.delivered == []
    clock.advance(timedelta(seconds=1))
    await tick(engine, {"console": sender}, clock.now())
    assert sender.delivered == ["c0"]
    assert (await rows(engine))[0].status == "sent"


@pytest.mark.parametrize("failure", [TransientError("502"), TimeoutError(), ConnectionResetError()])
async def test_5xx_and_timeouts_retry_with_backoff(db: AsyncEngine, content: Content, failure: Exception) -> None:
    engine, clock = await setup(db, content)
    sender = ScriptedSender(failure, failure)
    await tick(engine, {"console": sender}, clock.now())
    [row] = await rows(engine)
    assert (row.status, row.attempts, row.not_before) == ("pending", 1, DUE + timedelta(seconds=2))
    clock.advance(timedelta(seconds=2))
    await tick(engine, {"console": sender}, clock.now())
    [row] = await rows(engine)
    assert (row.attempts, row.not_before) == (2, clock.now() + timedelta(seconds=4))  # backoff doubles
    clock.advance(timedelta(seconds=4))
    await tick(engine, {"console": sender}, clock.now())
    assert sender.delivered == ["c0"] and sender.calls == 3
    assert (await rows(engine))[0].status == "sent"


async def test_gives_up_after_max_attempts_and_says_so(db: AsyncEngine, content: Content) -> None:
    engine, clock = await setup(db, content)
    sender = ScriptedSender(*[TransientError("503") for _ in range(outbox.MAX_ATTEMPTS)])
    for _ in range(outbox.MAX_ATTEMPTS):
        await tick(engine, {"console": sender}, clock.now())
        clock.advance(timedelta(seconds=outbox.MAX_BACKOFF_SECONDS))
    [row] = await rows(engine)
    assert (row.status, row.attempts, row.last_error) == ("failed", outbox.MAX_ATTEMPTS, "TransientError")
    assert sender.calls == outbox.MAX_ATTEMPTS


async def test_blocked_stops_everything_for_that_user(db: AsyncEngine, content: Content) -> None:
    engine, clock = await setup(db, content, users=2)
    sender = ScriptedSender(Blocked("403"))
    await tick(engine, {"console": sender}, clock.now())
    async with engine.sessions() as s:
        active = dict((await s.execute(select(User.chat_id, User.active))).all())
    blocked = next(c for c, a in active.items() if not a)
    assert sorted(active.values()) == [False, True] and sender.delivered == [c for c in active if c != blocked]
    assert sorted(r.status for r in await rows(engine)) == ["dropped", "sent"]
    clock.advance(timedelta(days=1))  # three more days: only the other user is reminded
    for _ in range(3 * 24):
        await tick(engine, {"console": sender}, clock.now())
        clock.advance(timedelta(hours=1))
    assert blocked not in sender.delivered
    assert len(sender.delivered) == 4


async def test_restart_between_claim_and_send(db: AsyncEngine, content: Content) -> None:
    """Claimed and queued, then the process dies before sending: the new process sends it, once."""
    first, clock = await setup(db, content)
    stats = await claim_due_reminders(first, clock.now(), grace=timedelta(hours=2))
    assert stats.queued == 1
    del first  # the process is gone; only the database remains
    second = Engine(db, content, clock)
    sender = ScriptedSender()
    clock.advance(timedelta(minutes=5))
    for _ in range(3):
        await tick(second, {"console": sender}, clock.now())
    assert sender.delivered == ["c0"]


async def test_crash_between_lease_and_send_is_sent_after_the_lease(db: AsyncEngine, content: Content) -> None:
    engine, clock = await setup(db, content)
    with pytest.raises(Crash):
        await tick(engine, {"console": ScriptedSender(Crash())}, clock.now())
    [row] = await rows(engine)
    assert (row.status, row.claimed_until) == ("pending", DUE + outbox.LEASE)
    restarted = Engine(db, content, clock)
    sender = ScriptedSender()
    await tick(restarted, {"console": sender}, clock.now())
    assert sender.delivered == []  # still leased by the dead process
    clock.set(DUE + outbox.LEASE + timedelta(seconds=1))
    await tick(restarted, {"console": sender}, clock.now())
    await tick(restarted, {"console": sender}, clock.now())
    assert sender.delivered == ["c0"]


async def test_crash_between_send_and_mark_sent_is_the_one_at_least_once_window(
    db: AsyncEngine, content: Content
) -> None:
    engine, clock = await setup(db, content)
    dying = ScriptedSender(crash_after_delivery=True)
    with pytest.raises(Crash):
        await tick(engine, {"console": dying}, clock.now())
    assert dying.delivered == ["c0"]
    restarted = Engine(db, content, clock)
    sender = ScriptedSender()
    clock.set(DUE + outbox.LEASE + timedelta(seconds=1))
    for _ in range(3):
        await tick(restarted, {"console": sender}, clock.now())
    # Delivered once more (documented in scheduler/outbox.py), and never a third time or a second reminder row.
    assert sender.delivered == ["c0"]
    assert [(r.kind, r.status) for r in await rows(restarted)] == [("reminder", "sent")]


async def test_pacer_spaces_messages_to_one_chat_and_defers_rather_than_waits(
    db: AsyncEngine, content: Content
) -> None:
    engine, clock = await setup(db, content)
    ticks = [0.0]
    pacer = Pacer(Limits(per_second=30, chat_spacing=1.0), clock=lambda: ticks[0])
    async with engine.sessions() as s, s.begin():
        from bot.storage import repository as repo
        from bot.wire import replies_to_json

        for n in range(2):
            payload = {"replies": replies_to_json([Reply(f"m{n}")])}
            await s.run_sync(repo.enqueue, 1, "message", f"m{n}", payload, DUE, DUE)
    sender = ScriptedSender()
    await outbox.send_due_messages(engine, {"console": sender}, clock.now(), pacers={"console": pacer})
    assert sender.delivered == ["c0"] and pacer.deferred == 1
    deferred = [r for r in await rows(engine) if r.status == "pending"]
    assert [r.attempts for r in deferred] == [0] and deferred[0].not_before == DUE + timedelta(seconds=1)
    ticks[0] += 1.0
    clock.advance(timedelta(seconds=1))
    await outbox.send_due_messages(engine, {"console": sender}, clock.now(), pacers={"console": pacer})
    assert sender.delivered == ["c0", "c0"]


async def test_pacer_honours_retry_after_for_the_chat() -> None:
    now = [100.0]
    pacer = Pacer(Limits(per_second=30, chat_spacing=1.0), clock=lambda: now[0])
    assert pacer.chat_wait("a") == 0
    pacer.sent("a", messages=2)
    assert pacer.chat_wait("a") == 2.0 and pacer.chat_wait("b") == 0
    pacer.hold("b", 30)
    assert pacer.chat_wait("b") == 30
    pacer.hold("c", 5, everything=True)
    assert pacer.chat_wait("zzz") == 5
    now[0] += 31
    assert pacer.chat_wait("a") == pacer.chat_wait("b") == 0
