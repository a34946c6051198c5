"""Benchmark, not a test (skipped unless BACKCOACH_BENCH=1): updates per second through the real PTB
polling loop, the engine and the fake Bot API. Prints figures; asserts only that every update was answered.

    BACKCOACH_BENCH=1 BACKCOACH_TEST_POSTGRES_URL=... .venv/bin/pytest -q -s tests/bench/test_telegram_bench.py
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from adapters.telegram import TelegramAdapter, TelegramConfig
from adapters.testing.fake_telegram import TOKEN, FakeTelegram, text_update
from bot.engine import Engine

pytestmark = pytest.mark.skipif(not os.environ.get("BACKCOACH_BENCH"), reason="benchmark: set BACKCOACH_BENCH=1")
PEOPLE = 200


async def test_bench_start_burst(engine: Engine) -> None:
    fake = FakeTelegram()
    await fake.start()
    adapter = TelegramAdapter(TelegramConfig(token=TOKEN, api_base_url=fake.url, poll_timeout=0.5), engine)
    await adapter.start()
    try:
        began = time.perf_counter()
        ids = [fake.push(text_update(10_000 + n, "/start")) for n in range(PEOPLE)]
        async with asyncio.timeout(120):
            for update_id in ids:
                await adapter.wait_handled(update_id)
        elapsed = time.perf_counter() - began
    finally:
        await adapter.stop()
        await fake.stop()
    sent = [c for c in fake.calls if c.method == "sendMessage"]
    assert len(sent) == 2 * PEOPLE
    print(
        f"\n[{engine.db.dialect.name}] {PEOPLE} /start updates (first contact: user row + 2 replies each) "
        f"in {elapsed:.2f} s = {PEOPLE / elapsed:.0f} updates/s"
    )
