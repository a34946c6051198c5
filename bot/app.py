"""The composition root: the one place that wires database, engine, adapters and scheduler together.

`backcoach chat`, `backcoach run` and `backcoach serve` (bot/serve.py) all build their process from the
pieces here, so no layer below has to reach up: scheduler/ knows no adapter and the engine knows neither;
only this module (and the web app on top of it) knows them all.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import PlatformAdapter, configured_adapters
from adapters.base import share_pacers
from bot.clock import Clock, OffsetClock, SystemClock
from bot.config import Settings
from bot.engine import Engine
from bot.leases import LEASE
from bot.storage.db import make_engine, migrate
from bot.triage_assess import warm
from content.loader import default_content
from scheduler.ratelimit import pacers_for
from scheduler.runner import Runner
from scheduler.sender import Sender

log = logging.getLogger(__name__)


async def wait_for_database(db: AsyncEngine, patience: float) -> None:
    """Start-up: retry (with backoff, up to `patience` seconds) until the database answers, then migrate.
    A process started before its database (containers, a reboot) waits instead of crashing."""
    deadline = time.monotonic() + patience
    delay = 0.25
    while True:
        try:
            await migrate(db)
            return
        except Exception as exc:  # refused, DNS, asyncpg's "database does not exist", ...
            if time.monotonic() + delay > deadline:
                log.error("database not reachable; giving up", extra={"error": type(exc).__name__})
                raise
            log.warning("database not reachable yet; retrying", extra={"error": type(exc).__name__, "retry_in": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def build_engine(db: AsyncEngine, clock: Clock, lease: timedelta = LEASE) -> Engine:
    """`lease`: how long an outbox claim lasts unrenewed (BACKCOACH_OUTBOX_LEASE_SECONDS). The triage rules
    and model are made ready here, at start-up, rather than inside the first person's message."""
    content = default_content()
    warm(content)
    return Engine(db, content, clock, lease=lease)


@asynccontextmanager
async def open_engine(database_url: str, clock: Clock) -> AsyncIterator[Engine]:
    """A migrated database and the engine on it; closed (writer thread, then pool) on the way out."""
    db = make_engine(database_url)
    try:
        await migrate(db)
        engine = build_engine(db, clock)
        try:
            yield engine
        finally:
            engine.close()
    finally:
        await db.dispose()


def build_runner(
    settings: Settings, engine: Engine, senders: dict[str, Sender], runner: type[Runner] = Runner
) -> Runner:
    """The scheduler for these senders, paced per platform, with the configured tick and grace."""
    return runner(
        engine,
        senders,
        tick_seconds=settings.tick_seconds,
        grace=timedelta(minutes=settings.reminder_grace_minutes),
        pacers=pacers_for(list(senders)),
    )


async def chat(
    database_url: str, clock: OffsetClock, settings: Settings, *, now: str | None = None, files: Path | None = None
) -> int:
    """`backcoach chat`: the console conversation, its scheduler tick driven by the console itself.
    `now` (--now) is read in the person's own zone, UTC before they have one, and the start is printed
    with its zone. Returns the exit status (2: --now could not be read)."""
    from zoneinfo import ZoneInfo

    from adapters.console import ConsoleChat
    from adapters.console_files import ConsoleFiles
    from adapters.console_time import describe, parse_now

    async with open_engine(database_url, clock) as engine:
        console = ConsoleChat(
            engine, files=ConsoleFiles(files), grace=timedelta(minutes=settings.reminder_grace_minutes)
        )
        if now:
            zone = ZoneInfo(await console.zone_name())
            try:
                start = parse_now(now, zone)
            except ValueError as exc:
                print(f"backcoach chat: {exc}", file=sys.stderr)
                return 2
            clock.set(start)
            console.note(f"(simulated clock starts at {describe(start, zone)})")
        await console.run()
    return 0


async def run(settings: Settings, db_url: str | None = None) -> None:
    """`backcoach run`: migrate, start every configured adapter (the console chat when none is) and the
    runner, and wait for SIGTERM/SIGINT (or the console chat ending). Then stop cleanly: no new tick, the
    tick in flight finishes, adapters stop; anything unsent stays in the outbox for the next start."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await _run(settings, db_url or settings.database_url, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _run(settings: Settings, database_url: str, stop: asyncio.Event) -> None:
    db = make_engine(database_url)
    try:
        await migrate(db)
        lease = timedelta(seconds=settings.outbox_lease_seconds)
        engine = build_engine(db, SystemClock(), lease)
        adapters: list[PlatformAdapter] = configured_adapters(settings, engine)
        chat_task: asyncio.Task[None] | None = None
        if adapters:
            for adapter in adapters:
                await adapter.start()
            senders: dict[str, Sender] = {a.platform: a.sender for a in adapters}
        else:
            from adapters.console import ConsoleChat

            engine = build_engine(db, OffsetClock(), lease)  # real time, plus /advance for demos
            console = ConsoleChat(engine, grace=timedelta(minutes=settings.reminder_grace_minutes))
            senders = {"console": console.sender}
            chat_task = asyncio.create_task(console.run())
            chat_task.add_done_callback(lambda _: stop.set())
        runner = build_runner(settings, engine, senders)
        share_pacers(adapters, runner.pacers)
        runner.start()
        log.info("running", extra={"platforms": sorted(senders), "tick_seconds": settings.tick_seconds})
        await stop.wait()
        log.info("stopping")
        await runner.stop()
        for adapter in adapters:
            await adapter.stop()
        if chat_task is not None:  # let its cancellation finish while the database is still open
            chat_task.cancel()
            await asyncio.gather(chat_task, return_exceptions=True)
        engine.close()
        log.info("stopped", extra={"ticks": runner.ticks})
    finally:
        await db.dispose()
