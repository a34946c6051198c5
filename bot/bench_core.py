"""`backcoach bench core`: events per second and latency through `Engine.handle`.

A realistic mix: many users each onboarded, then walking through sessions (button taps), typing free
text (triage runs on each), and the odd command. Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.db import make_engine, migrate
from bot.types import Inbound, InboundKind, Reply, UserRef
from content.loader import default_content


def _first_action(replies: list[Reply], label: str) -> str | None:
    for reply in reversed(replies):
        for button in reply.buttons:
            if button.label.lower().startswith(label.lower()):
                return button.action
    return None


class _Driver:
    """One simulated person: taps whatever moves the conversation on, sometimes types."""

    def __init__(self, engine: Engine, index: int) -> None:
        self.engine = engine
        self.user = UserRef("console", "", f"bench{index}", f"bench{index}")
        self.last: list[Reply] = []
        self.n = 0

    async def step(self, latencies: list[float]) -> None:
        self.n += 1
        inbound = self._next()
        started = time.perf_counter()
        self.last = await self.engine.handle(inbound)
        latencies.append(time.perf_counter() - started)

    def _next(self) -> Inbound:
        event_id = f"{self.user.user_id}:{self.n}"
        if self.n % 17 == 0:
            return Inbound(self.user, InboundKind.TEXT, text="feeling a bit stiff but ok today", event_id=event_id)
        for label in ("I understand", "No", "All of them", "07:00", "London", "Start", "3", "Done", "That's all",
                      "Not now"):
            action = _first_action(self.last, label)
            if action:
                return Inbound(self.user, InboundKind.BUTTON, action=action, event_id=event_id)
        text = "/start" if self.n == 1 else "/today"
        return Inbound(self.user, InboundKind.COMMAND, text=text, event_id=event_id)


async def bench(url: str, users: int, events: int) -> dict[str, float]:
    db = make_engine(url)
    await migrate(db)
    engine = Engine(db, default_content(), FakeClock(datetime(2026, 3, 2, 7, tzinfo=UTC)))
    drivers = [_Driver(engine, i) for i in range(users)]
    latencies: list[float] = []
    for driver in drivers:  # warm-up: onboard everyone
        for _ in range(8):
            await driver.step([])
    started = time.perf_counter()
    per_user = max(1, events // users)
    for _ in range(per_user):
        await asyncio.gather(*(d.step(latencies) for d in drivers))
    elapsed = time.perf_counter() - started
    await db.dispose()
    ordered = sorted(latencies)
    return {
        "events": len(latencies),
        "events_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench core")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--pg", help="also run on this PostgreSQL URL (a throw-away database is used)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        _print("sqlite", asyncio.run(bench(url, args.users, args.events)))
    if args.pg:
        _print("postgresql", asyncio.run(_bench_pg(args.pg, args.users, args.events)))


async def _bench_pg(admin_url: str, users: int, events: int) -> dict[str, float]:
    import uuid

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"backcoach_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return await bench(f"{admin_url.rpartition('/')[0]}/{name}", users, events)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _print(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:10s} events={figures['events']:.0f} events/s={figures['events_per_s']:.0f} "
        f"p50={figures['p50_ms']:.2f}ms p99={figures['p99_ms']:.2f}ms"
    )


if __name__ == "__main__":
    main()
