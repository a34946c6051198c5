"""`backcoach bench wave`: a wave of reminders, all due at once, through the outbox, the pacer and the real
python-telegram-bot sender to a local Bot API that enforces Telegram's limits the way Telegram counts them
(30 messages in any 1 s window, 1 per chat; over either: 429). Prints the rate as a share of the limit, the
429s provoked and the messages lost. A figure, not a test: nothing asserts.

    backcoach bench wave [--reminders 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.fake_telegram import TOKEN, FakeTelegram, FloodLimits
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.db import make_engine, migrate
from bot.storage.models import OutboxMessage, User
from content.loader import default_content
from scheduler import outbox
from scheduler.ratelimit import DEFAULT_LIMITS, Pacer
from scheduler.reminders import claim_due_reminders

DUE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday; everyone's reminder is at 07:00 London (GMT)


async def insert_due_people(db: AsyncEngine, count: int, first_chat: int = 5_000_000) -> None:
    """`count` onboarded Telegram people whose 07:00 reminder is due at DUE."""
    rows = [
        {
            "platform": "telegram",
            "workspace": "",
            "platform_user_id": str(first_chat + n),
            "chat_id": str(first_chat + n),
            "created_at": DUE - timedelta(days=1),
            "active": True,
            "profile": {"consented": True, "onboarded": True, "exercises": []},
            "conversation": {"flow": "idle"},
            "timezone": "Europe/London",
            "reminder_time": "07:00",
            "weekdays": 0b1111111,
            "reminders_on": True,
            "next_fire_at": DUE,
        }
        for n in range(count)
    ]
    async with db.begin() as conn:
        await conn.execute(insert(User), rows)


@dataclass
class Wave:
    queued: int
    delivered_chats: int
    too_many: int
    pending: int
    seconds: float  # first accepted message to last
    sends: int

    @property
    def lost(self) -> int:
        return self.queued - self.delivered_chats

    def share_of(self, per_second: float) -> float:
        return (self.sends - 1) / self.seconds / per_second if self.seconds > 0 else float("nan")


async def run_wave(engine: Engine, fake: FakeTelegram, sender: Any, pacer: Pacer, patience: float = 600.0) -> Wave:
    """Claim the due reminders, then send as the scheduler's tick does until nothing is pending. The engine's
    clock is moved along with real time, so rows the pacer deferred come due as they would in production."""
    clock = engine.clock
    assert isinstance(clock, FakeClock)
    claim = await claim_due_reminders(engine, clock.now(), grace=timedelta(hours=2))
    began = time.monotonic()
    last = began
    while time.monotonic() - began < patience:
        clock.advance(timedelta(seconds=time.monotonic() - last))
        last = time.monotonic()
        senders = {"telegram": sender}
        sent = await outbox.send_due_messages(engine, senders, clock.now(), limit=500, pacers={"telegram": pacer})
        if not sent and await _pending(engine) == 0:
            break
        if not sent:
            await asyncio.sleep(0.05)  # only deferred rows left: they come due in a moment
    delivered = {str(c.params.get("chat_id")) for c in fake.calls if c.method == "sendMessage"}
    return Wave(
        queued=claim.queued,
        delivered_chats=len(delivered),
        too_many=fake.too_many,
        pending=await _pending(engine),
        seconds=(fake.accepted_at[-1] - fake.accepted_at[0]) if len(fake.accepted_at) > 1 else 0.0,
        sends=len(fake.accepted_at),
    )


async def _pending(engine: Engine) -> int:
    async with engine.sessions() as session:
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        return int((await session.execute(query)).scalar_one())


async def bench(reminders: int) -> None:
    from telegram import Bot

    from adapters.live import StoredLiveMessages
    from adapters.telegram import SEND_POOL_SIZE, texts_of
    from adapters.telegram_http import AiohttpRequest
    from adapters.telegram_send import TelegramSender

    limits = FloodLimits()
    with tempfile.TemporaryDirectory(prefix="backcoach-wave-") as tmp:
        db = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'wave.sqlite3'}")
        await migrate(db)
        await insert_due_people(db, reminders)
        engine = Engine(db, default_content(), FakeClock(DUE + timedelta(seconds=1)))
        fake = FakeTelegram(limits)
        await fake.start()
        bot = Bot(TOKEN, base_url=f"{fake.url}/bot", request=AiohttpRequest(SEND_POOL_SIZE))  # as the adapter
        await bot.initialize()
        try:
            pacer = Pacer(DEFAULT_LIMITS["telegram"])
            sender = TelegramSender(bot, texts_of(engine.content), StoredLiveMessages(engine))  # as the adapter's
            wave = await run_wave(engine, fake, sender, pacer)
        finally:
            await bot.shutdown()
            await fake.stop()
            engine.close()
            await db.dispose()
    print(
        f"wave of {wave.queued:,} reminders against a fake enforcing {limits.overall} messages in any"
        f" {limits.window:g} s and {limits.per_chat} per chat:"
        f" {wave.share_of(limits.overall):.1%} of the limit over {wave.seconds:.1f} s,"
        f" {wave.too_many} 429s, {wave.lost} lost, {wave.pending} still pending"
        " (goal: >= 95 % of the limit, zero 429s, zero lost)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench wave", description=__doc__.split("\n")[0])
    parser.add_argument("--reminders", type=int, default=3000)
    args = parser.parse_args(argv)
    asyncio.run(bench(args.reminders))


if __name__ == "__main__":
    main()
