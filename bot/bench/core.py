"""`backcoach bench core`: events per second and latency through `Engine.handle`.

A realistic mix: users each onboarded, then walking through sessions (button taps), typing free text
(triage runs on each), and the odd command. Two measurements, figures printed, nothing asserted:

- back to back: one user's events one after another, as fast as the engine takes them (its capacity and
  its own latency);
- offered load: events arrive on a fixed schedule (`--rate` a second) spread over `--users` people, and
  latency counts from when each event was due, so a backlog shows up in p99 instead of hiding.

The process pins itself to one CPU unless `--cpus 0`: the target is stated for one core.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
        for label in (
            "I understand",
            "No",
            "All of them",
            "07:00",
            "London",
            "Start",
            "3",
            "Done",
            "Ready",
            "Fine",
            "That's all",
            "Not now",
        ):
            action = _first_action(self.last, label)
            if action:
                return Inbound(self.user, InboundKind.BUTTON, action=action, event_id=event_id)
        text = "/start" if self.n == 1 else "/today"
        return Inbound(self.user, InboundKind.COMMAND, text=text, event_id=event_id)


def _figures(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "events": len(ordered),
        "events_per_s": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
    }


async def _engine(url: str) -> Engine:
    db = make_engine(url)
    await migrate(db)
    return Engine(db, default_content(), FakeClock(datetime(2026, 3, 2, 7, tzinfo=UTC)))


async def _onboard(drivers: list[_Driver]) -> None:
    for driver in drivers:
        for _ in range(8):
            await driver.step([])
    gc.freeze()  # as `serve` does after start-up: long-lived objects leave the collector's full passes


async def back_to_back(url: str, events: int) -> dict[str, float]:
    """One user's events one after another: the engine's capacity and its own latency."""
    engine = await _engine(url)
    driver = _Driver(engine, 0)
    await _onboard([driver])
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(events):
        await driver.step(latencies)
    elapsed = time.perf_counter() - started
    engine.close()
    await engine.db.dispose()
    return _figures(latencies, elapsed)


async def offered_load(url: str, users: int, events: int, rate: float) -> dict[str, float]:
    """Events due every 1/rate s, each to a user with nothing in flight; latency counts from the due time."""
    engine = await _engine(url)
    drivers = [_Driver(engine, i) for i in range(users)]
    await _onboard(drivers)
    idle: deque[_Driver] = deque(drivers)
    freed = asyncio.Event()
    latencies: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(driver: _Driver, due: float) -> None:
        await driver.step([])
        latencies.append(loop.time() - due)
        idle.append(driver)
        freed.set()

    tasks = set()
    start = loop.time()
    for n in range(events):
        due = start + n / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        while not idle:  # every user busy: the engine is behind; the wait shows in the latency
            freed.clear()
            await freed.wait()
        task = asyncio.create_task(one(idle.popleft(), due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    engine.close()
    await engine.db.dispose()
    return _figures(latencies, elapsed)


def _pin(cpus: int) -> str:
    """Pin this process (and the threads it starts later) to `cpus` CPUs; 0 leaves it as it is."""
    if cpus <= 0 or not hasattr(os, "sched_setaffinity"):
        return f"{os.cpu_count()} CPUs, not pinned"
    chosen = sorted(os.sched_getaffinity(0))[:cpus]
    os.sched_setaffinity(0, chosen)
    return f"pinned to CPU {','.join(map(str, chosen))}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench core")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--users", type=int, default=200, help="people sharing the offered load")
    parser.add_argument("--rate", type=float, default=1000, help="offered events a second")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs to pin to (0: do not pin)")
    parser.add_argument("--pg", help="also run on this PostgreSQL URL (a throw-away database is used)")
    args = parser.parse_args(argv)
    print(f"bench core: {_pin(args.cpus)}")
    with tempfile.TemporaryDirectory() as tmp:
        _print(
            "sqlite",
            "back to back",
            asyncio.run(back_to_back(f"sqlite+aiosqlite:///{Path(tmp) / 'a.db'}", args.events)),
        )
        label = f"{args.rate:.0f}/s offered, {args.users} users"
        _print(
            "sqlite",
            label,
            asyncio.run(offered_load(f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}", args.users, args.events, args.rate)),
        )
    if args.pg:
        _print("postgresql", "back to back", asyncio.run(_on_pg(args.pg, back_to_back, args.events)))
        label = f"{args.rate:.0f}/s offered, {args.users} users"
        _print("postgresql", label, asyncio.run(_on_pg(args.pg, offered_load, args.users, args.events, args.rate)))


async def _on_pg(admin_url: str, run: Callable[..., Awaitable[dict[str, float]]], *args: Any) -> dict[str, float]:
    import uuid

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"backcoach_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return await run(f"{admin_url.rpartition('/')[0]}/{name}", *args)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _print(database: str, how: str, figures: dict[str, float]) -> None:
    print(
        f"{database:10s} {how:32s} events={figures['events']:.0f} events/s={figures['events_per_s']:.0f} "
        f"p50={figures['p50_ms']:.2f}ms p99={figures['p99_ms']:.2f}ms"
    )


if __name__ == "__main__":
    main()
