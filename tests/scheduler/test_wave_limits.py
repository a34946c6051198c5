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
from content.loader import Content
from scheduler.ratelimit import DEFAULT_LIMITS, Limits, Pacer, SlidingWindow

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
