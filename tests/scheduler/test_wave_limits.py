"""A reminder wave against a Bot API that enforces Telegram's limits as Telegram counts them (a sliding 1 s
window of 30 messages, 1 per chat): the pacer keeps under them, so no 429 is provoked and nothing is lost.
Real PTB sender, real outbox, real SQLite; no timing assertion (the wave simply takes as long as it takes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from telegram import Bot

from adapters.telegram import texts_of
from adapters.telegram_send import TelegramSender
from adapters.testing.fake_telegram import TOKEN, FakeTelegram, FloodLimits
from bot.bench.wave import DUE, insert_due_people, run_wave
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.db import make_engine, migrate
from bot.types import Inbound, InboundKind, UserRef
from content.loader import Content
from scheduler import inbox
from scheduler.ratelimit import DEFAULT_LIMITS, Limits, Pacer, SlidingWindow, Slot
from tests.storage.test_inbox import Counting

PEOPLE = 45  # more than one window's worth: the pacer has to hold some back


@pytest.fixture
async def limited() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(FloodLimits(overall=30, per_chat=1))
    await fake.start()
    yield fake
    await fake.stop()


async def test_a_wave_provokes_no_429_and_loses_nothing(
    tmp_path: Path, content: Content, limited: FakeTelegram
) -> None:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'wave.sqlite3'}")
    await migrate(db)
    await insert_due_people(db, PEOPLE)
    engine = Engine(db, content, FakeClock(DUE + timedelta(seconds=1)))
    bot = Bot(TOKEN, base_url=f"{limited.url}/bot")
    await bot.initialize()
    try:
        sender = TelegramSender(bot, texts_of(content))
        wave = await run_wave(engine, limited, sender, Pacer(DEFAULT_LIMITS["telegram"]))
    finally:
        await bot.shutdown()
        engine.close()
        await db.dispose()
    assert wave.queued == PEOPLE
    assert wave.too_many == 0
    assert wave.lost == 0 and wave.pending == 0
    sent = [c for c in limited.calls if c.method == "sendMessage"]
    assert len(sent) == PEOPLE  # once each


async def test_the_fake_counts_a_sliding_window() -> None:
    """The fake itself: 30 pass, the 31st within the same second is refused, and so is a 2nd to one chat."""
    fake = FakeTelegram(FloodLimits(overall=30, per_chat=1))
    assert all(fake._within_limits(str(n)) for n in range(30))
    assert not fake._within_limits("31")
    fresh = FakeTelegram(FloodLimits(overall=30, per_chat=1))
    assert fresh._within_limits("a") and not fresh._within_limits("a")


def test_a_send_holds_its_place_from_start_until_a_window_after_it_completed() -> None:
    now = [0.0]
    window = SlidingWindow(2, 1.0, clock=lambda: now[0])
    window._in_flight = 2  # two sends started, not answered yet: no room, however long they take
    now[0] = 5.0
    assert window.wait_time() > 0
    window.release(2)  # answered at t=5: they count until t=6
    now[0] = 5.9
    assert window.wait_time() == pytest.approx(0.1)
    now[0] = 6.0
    assert window.wait_time() == 0


def test_a_flood_429_holds_every_bulk_send_on_telegram_but_one_chat_elsewhere() -> None:
    now = [0.0]
    telegram = Pacer(DEFAULT_LIMITS["telegram"], clock=lambda: now[0])
    telegram.hold("a", 7)
    assert telegram.chat_wait("someone-else") == 7
    other = Pacer(Limits(per_second=20, chat_spacing=1.0), clock=lambda: now[0])
    other.hold("a", 7)
    assert other.chat_wait("a") == 7 and other.chat_wait("someone-else") == 0


def test_bulk_sends_leave_the_reserve_free_and_count_from_the_platforms_answer() -> None:
    now = [0.0]
    pacer = Pacer(Limits(per_second=30, chat_spacing=1.0, reserve=1), clock=lambda: now[0])
    pacer.window._in_flight = 29  # a wave has 29 in flight: the 30th place is the replies' reserve
    assert pacer.window.wait_time() > 0
    pacer.window._in_flight = 0
    slot = Slot(pacer.window, 29)
    pacer.window._in_flight = 29
    now[0] = 0.2
    slot.done()  # answered at 0.2; the outbox then records the outcome, which the window does not wait for
    slot.done()  # once only
    assert pacer.window.used() == 29
    now[0] = 1.2
    assert pacer.window.used() == 0


async def test_a_reply_to_a_persons_own_action_goes_out_through_a_full_window_and_is_noted(
    engine: Engine, content: Content
) -> None:
    """The wave waits for the reply; the reply never waits for the wave."""
    now = [0.0]
    pacer = Pacer(Limits(per_second=30, chat_spacing=1.0, reserve=1), clock=lambda: now[0])
    pacer.window.note(29)  # a wave has just filled its share of the window
    sender = Counting()
    ann = UserRef("console", "", "ann", "chat-ann")
    await engine.receive(Inbound(ann, InboundKind.COMMAND, text="/start", event_id="e1"))
    handled = await inbox.drain(engine, {"console": sender}, inbox.person_of(ann), pacers={"console": pacer})
    assert handled == 1 and sender.sent  # sent at once, though the window had no room for bulk sends
    assert pacer.window.used() == 29 + len(sender.sent)  # ...and counted, so the wave makes room for it
    assert pacer.window.wait_time() > 0
