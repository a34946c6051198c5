"""The APScheduler runner: one job with a fixed id, delivering through the outbox, and a clean shutdown
(the tick in flight finishes; nothing is lost). Plus `backcoach run` stopping on SIGTERM, and the console
chat showing reminders as they fire under its simulated clock."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from select import select as readable

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.console import ConsoleChat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import OutboxMessage
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler.runner import JOB_ID, RETENTION_JOB_ID, Runner
from tests.scheduler.test_reminders import add_users

DUE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
GUARD = 120  # seconds: only a hang guard (a loaded machine starts a process slowly), never a timing assertion
ROOT = Path(__file__).resolve().parents[2]


class GatedSender:
    """Signals when a send starts and holds it until the gate opens: a send in flight at shutdown."""

    platform = "console"

    def __init__(self, *, gated: bool) -> None:
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.got: list[str] = []
        self.three = asyncio.Event()

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.started.set()
        await self.gate.wait()
        self.got.append(user.chat_id)
        if len(self.got) >= 3:
            self.three.set()


async def _engine_with_due_users(db: AsyncEngine, content: Content, users: int) -> Engine:
    clock = FakeClock(DUE - timedelta(minutes=1))
    await add_users(db, clock.now(), [{"id": f"r{i}", "zone": "UTC", "at": "07:00"} for i in range(users)])
    clock.set(DUE)
    return Engine(db, content, clock)


async def _statuses(engine: Engine) -> list[str]:
    async with engine.sessions() as s:
        return sorted((await s.execute(select(OutboxMessage.status))).scalars())


async def test_one_job_with_fixed_id_coalescing_and_a_misfire_grace(sqlite_db: AsyncEngine, content: Content) -> None:
    engine = await _engine_with_due_users(sqlite_db, content, 0)
    runner = Runner(engine, {}, tick_seconds=3)
    runner.start()
    try:
        runner.scheduler.add_job(runner._job, "interval", seconds=3, id=JOB_ID, replace_existing=True)
        jobs = runner.scheduler.get_jobs()
        assert sorted(j.id for j in jobs) == sorted([JOB_ID, RETENTION_JOB_ID])  # a second add made no third
        runner.scheduler.remove_all_jobs()
        runner.scheduler.shutdown(wait=False)
        runner = Runner(engine, {}, tick_seconds=3)
        runner.start()
        job = runner.scheduler.get_job(JOB_ID)
        assert job is not None
        assert (job.id, job.coalesce, job.max_instances) == (JOB_ID, True, 1)
        assert job.misfire_grace_time >= 30  # APScheduler's default of 1 s would silently drop a late tick
        assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(seconds=3)
    finally:
        await runner.stop()


async def test_runner_delivers_due_reminders(sqlite_db: AsyncEngine, content: Content) -> None:
    engine = await _engine_with_due_users(sqlite_db, content, 3)
    sender = GatedSender(gated=False)
    runner = Runner(engine, {"console": sender}, tick_seconds=0.05)
    runner.start()
    try:
        async with asyncio.timeout(GUARD):
            await sender.three.wait()
    finally:
        await runner.stop()
    assert sorted(sender.got) == ["r0", "r1", "r2"]
    assert await _statuses(engine) == ["sent"] * 3


async def test_shutdown_lets_the_tick_in_flight_finish(sqlite_db: AsyncEngine, content: Content) -> None:
    engine = await _engine_with_due_users(sqlite_db, content, 3)
    sender = GatedSender(gated=True)
    runner = Runner(engine, {"console": sender}, tick_seconds=0.05)
    runner.start()
    async with asyncio.timeout(GUARD):
        await sender.started.wait()  # a send is in flight
    stopping = asyncio.create_task(runner.stop())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()  # waits for the send in flight
    assert not runner._running.is_set()
    sender.gate.set()
    async with asyncio.timeout(GUARD):
        await stopping
    assert not runner.scheduler.running
    ticks = runner.ticks
    await asyncio.sleep(0.2)
    assert runner.ticks == ticks  # no tick after shutdown
    statuses = await _statuses(engine)
    assert len(statuses) == 3 and set(statuses) <= {"sent", "pending"}  # sent, or still in the outbox
    assert statuses.count("sent") == len(sender.got) >= 1


async def test_console_shows_reminders_as_they_fire(sqlite_db: AsyncEngine, content: Content) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    out = io.StringIO()
    chat = ConsoleChat(Engine(sqlite_db, content, clock), out=out)
    for line in ["/start", "1", *["2"] * 10]:  # consent, then "No" to each screening question
        if "Yes" not in [label for label, _ in chat.sender.last_buttons] and line == "2":
            break
        await chat.say(line)
    await chat.say("All of them")
    await chat.say("07:00")
    await chat.say("London")
    assert "all set" in out.getvalue().lower()
    before = len(out.getvalue())
    await chat.say("/advance 30m")
    assert "back exercises" not in out.getvalue()[before:]
    await chat.say("/advance 1h")
    assert "Time for your back exercises" in out.getvalue()[before:]


async def test_backcoach_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BACKCOACH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite3'}",
        "BACKCOACH_TICK_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(key, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None and proc.stdin is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(GUARD):
            while not any("bot.app: running" in line for line in lines):
                line = (await proc.stderr.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
            proc.send_signal(signal.SIGTERM)
            proc.stdin.close()
            rest = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0, rest
    finally:
        if proc.returncode is None:  # never leave a stray bot process behind a failed test
            proc.kill()
            await proc.wait()
    assert "bot.app: stopped" in rest


def test_backcoach_run_stops_on_sigterm_while_the_terminal_waits_for_input(tmp_path: Path) -> None:
    """In a terminal the console blocks reading a line; SIGTERM must not wait for the person to type."""
    env = {
        **os.environ,
        "BACKCOACH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tty.sqlite3'}",
        "BACKCOACH_TICK_SECONDS": "0.2",
    }
    for key in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(key, None)
    main, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=ROOT,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
    )
    os.close(terminal)
    try:
        shown = b""
        deadline = time.monotonic() + GUARD
        while b"you>" not in shown and time.monotonic() < deadline:  # the prompt: it is waiting for input
            if readable([main], [], [], 0.5)[0]:
                shown += os.read(main, 4096)
        assert b"you>" in shown, shown.decode(errors="replace")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=GUARD) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
