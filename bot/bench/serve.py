"""`backcoach bench serve`: webhook updates at rising rates into one and then two `backcoach serve`
processes on one PostgreSQL (or one process on SQLite), printing updates answered and processed a second,
the answer latency, and the backlog (`/metrics`: inbox pending, events waiting for a processing slot) with
the time it takes to drain once the offered load stops. Above capacity, admission control answers each
update once it is durable and the inbox absorbs the rest: processing should hold at capacity.

Throughput is read from the shared database's inbox (events done a second while the load is offered, and
while the backlog drains), not from the answers. `--overload` finds the capacity first (a saturating probe),
then offers 1x and 2x of it, so "no collapse" reads directly: the 2x line's processing rate against the 1x's.
Each run uses a fresh database (PostgreSQL: a throw-away one made from the admin URL, as the test fixtures do).
The serve processes' CPU (cores they got, milliseconds per event) is printed beside it: on a shared machine
throughput is that share divided by the cost of an event, and a collapse shows as the cost per event growing
with the load (contention, repeated work) rather than as the share shrinking.

    backcoach bench serve --overload --seconds 8 [--processes 1,2] [--pg postgresql+asyncpg://...]

Telegram's side is played by adapters/testing/fake_telegram.py on 127.0.0.1 (in this process, which also sends the
load), so the figures include the bot's outgoing sendMessage calls. A figure, not a test: nothing asserts.
The process launcher here is shared with tests/processes/test_serve_pg.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]  # the source tree (or site-packages, from a wheel)
SECRET = "bench-webhook-secret"
_OWN_PREFIXES = ("BACKCOACH_", "TELEGRAM_", "SLACK_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(port: int, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of one serve process: ours only (nothing inherited from the caller's BACKCOACH_*,
    TELEGRAM_* or SLACK_* variables), listening on 127.0.0.1:`port`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "BACKCOACH_HOST": "127.0.0.1",
            "BACKCOACH_PORT": str(port),
            "BACKCOACH_DATABASE_URL": database_url,
            "BACKCOACH_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


class ServeProcess:
    """One real `backcoach serve` (or another subcommand) subprocess; its output goes to a log file the caller
    can show."""

    command = "serve"

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.port = int(env["BACKCOACH_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            self.command,
            env=self.env,
            cwd=self.workdir,  # no stray .env is read
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def wait_ready(self, patience: float = 60.0) -> None:
        """Until /healthz answers 200 (the database is migrated and the adapters are up)."""
        deadline = time.monotonic() + patience
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"serve exited {self.proc.returncode}:\n{self.output()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"serve not ready in {patience}s:\n{self.output()}")

    async def stop(self) -> int | None:
        """SIGTERM and wait for a graceful exit (SIGKILL only if it hangs)."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def output(self, tail: int = 4000) -> str:
        """The end of the process's log (all of it with tail=0)."""
        if self._log is not None and not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:] if tail else text


def telegram_env(fake_url: str, token: str, port: int) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": fake_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }


# --- the benchmark ------------------------------------------------------------------------------------


def _update(update_id: int, user: int, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private", "first_name": "B"},
        "from": {"id": user, "is_bot": False, "first_name": "B"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def _post(session: aiohttp.ClientSession, url: str, update: dict[str, Any]) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        async with session.post(
            f"{url}/telegram",
            data=json.dumps(update),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as resp:
            await resp.read()
            status = resp.status
    except aiohttp.ClientError:
        status = 0
    return status, time.perf_counter() - started


class Inbox:
    """The shared database's inbox, read by the benchmark itself: events processed so far (done) and still
    waiting (pending), so throughput is what the processes got through, not what they answered."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.db = create_async_engine(url)

    async def counts(self) -> tuple[int, int]:
        from sqlalchemy import func, select

        from bot.storage.models import InboxEvent

        query = select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
        async with self.db.connect() as conn:
            got = dict((await conn.execute(query)).tuples().all())
        return int(got.get("done", 0)), int(got.get("pending", 0))

    async def lock_waits(self) -> int:
        """PostgreSQL: the database's sessions waiting for a lock now (two processes after one person's row)."""
        if self.db.dialect.name != "postgresql":
            return 0
        from sqlalchemy import text

        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        async with self.db.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def close(self) -> None:
        await self.db.dispose()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux /proc; 0 where it cannot be read)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)
    return total / os.sysconf("SC_CLK_TCK")


SAMPLE_EVERY = 0.5  # seconds between the inbox readings


async def _sample(inbox: Inbox, into: list[tuple[float, int, int, int]], stop: asyncio.Event) -> None:
    """(time, done, pending, lock waits) every SAMPLE_EVERY seconds until `stop`, and once more after it."""
    while True:
        done, pending = await inbox.counts()
        into.append((time.perf_counter(), done, pending, await inbox.lock_waits()))
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)


def _rate(samples: list[tuple[float, int, int, int]], start: float, end: float) -> float:
    """Events processed a second between `start` and `end` (the samples nearest inside them)."""
    inside = [s for s in samples if start <= s[0] <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return 0.0
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


async def _run_rate(
    urls: list[str],
    rate: float,
    seconds: float,
    users: int,
    ids: itertools.count,
    inbox: Inbox,
    pids: list[int] | None = None,
) -> dict[str, float]:
    """Open loop: updates leave on schedule whether or not earlier ones were answered. Throughput is read
    from the inbox while the load is offered and while the backlog drains afterwards."""
    total = int(rate * seconds)
    texts = ("/help", "feeling a bit stiff but ok today", "/today")
    connector = aiohttp.TCPConnector(limit=0)
    samples: list[tuple[float, int, int, int]] = []
    stop = asyncio.Event()
    done_before, _ = await inbox.counts()
    sampler = asyncio.create_task(_sample(inbox, samples, stop))
    cpu_before = cpu_seconds(pids or [])
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            update = _update(next(ids), 10_000 + i % users, texts[i % len(texts)])
            tasks.append(asyncio.create_task(_post(session, urls[i % len(urls)], update)))
        offered_until = time.perf_counter()  # the last update has left
        results = await asyncio.gather(*tasks)
        answered_at = time.perf_counter()
        drained = answered_at
        while time.perf_counter() - answered_at < DRAIN_PATIENCE:
            backlog = max(await _backlog(session, urls), samples[-1][2] if samples else 0)
            if not backlog:
                break
            await asyncio.sleep(0.25)
        drained = time.perf_counter()
    cpu = cpu_seconds(pids or []) - cpu_before
    stop.set()
    await sampler
    done_after, left = await inbox.counts()
    ok = sorted(lat for status, lat in results if status == 200)
    first_second = start + min(1.0, seconds / 4)  # the backlog builds up in the first moments
    return {
        "offered": rate,
        "sent": total,
        "sent_per_s": total / (offered_until - start) if offered_until > start else 0.0,
        "ok": len(ok),
        "failed": total - len(ok),
        "p50_ms": statistics.median(ok) * 1000 if ok else float("nan"),
        "p99_ms": ok[max(0, int(len(ok) * 0.99) - 1)] * 1000 if ok else float("nan"),
        "backlog": float(max((s[2] for s in samples), default=0)),
        "lock_waits": float(max((s[3] for s in samples), default=0)),
        "drain_s": drained - offered_until,
        "left": float(left),
        "processed": float(done_after - done_before),
        "processed_per_s": _rate(samples, first_second, offered_until),  # while the load is offered
        "draining_per_s": _rate(samples, offered_until, drained),
        "overall_per_s": (done_after - done_before) / (drained - start) if drained > start else 0.0,
        "cpu_share": cpu / (drained - start) if drained > start else 0.0,  # cores the serve processes got
        "cpu_ms_per_event": cpu * 1000 / (done_after - done_before) if done_after > done_before else 0.0,
    }


DRAIN_PATIENCE = 120.0  # seconds to wait for the backlog to clear after the offered load stops


async def _backlog(session: aiohttp.ClientSession, urls: list[str]) -> int:
    """Events answered and not yet processed: the inbox's pending rows (shared database), plus, per process,
    those waiting for a processing slot (already counted in the inbox; the larger of the two is shown)."""
    pending, waiting = 0, 0
    for url in urls:
        try:
            async with session.get(f"{url}/metrics") as resp:
                text = await resp.text()
        except aiohttp.ClientError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "backcoach_inbox_pending":
                pending = max(pending, int(float(value)))
            elif name == "backcoach_events_waiting_for_slot":
                waiting += int(float(value))
    return max(pending, waiting)


def _line(count: int, db: str, label: str, r: dict[str, float]) -> str:
    return (
        f"processes={count} db={db} {label}offered={r['offered']:.0f}/s (sent {r['sent_per_s']:.0f}/s) "
        f"sent={r['sent']:.0f} ok={r['ok']:.0f} failed={r['failed']:.0f} "
        f"answer p50={r['p50_ms']:.1f}ms p99={r['p99_ms']:.1f}ms; "
        f"processed {r['processed_per_s']:.0f}/s while offered, {r['draining_per_s']:.0f}/s draining, "
        f"{r['overall_per_s']:.0f}/s overall ({r['processed']:.0f} events); backlog peak={r['backlog']:.0f} "
        f"events, drained {r['drain_s']:.1f}s after the last update; row-lock waits peak={r['lock_waits']:.0f}; "
        f"serve CPU {r['cpu_share']:.2f} cores, {r['cpu_ms_per_event']:.1f} ms per event (answer and process)"
        + (f", {r['left']:.0f} STILL PENDING" if r["left"] else "")
    )


async def _bench(args: argparse.Namespace) -> None:
    from adapters.testing.fake_telegram import TOKEN, FakeTelegram

    fake = FakeTelegram()
    fake_url = await fake.start()
    ids = itertools.count(1)
    rates = [float(r) for r in args.rates.split(",")]
    counts = [int(c) for c in args.processes.split(",")]
    try:
        for count in counts:
            if count > 1 and not args.pg:
                print("two processes need PostgreSQL: pass --pg or set BACKCOACH_TEST_POSTGRES_URL")
                break
            db, capacity = ("postgresql" if args.pg else "sqlite"), 0.0
            async with _database(args.pg) as url, _processes(count, url, fake_url, TOKEN) as procs:
                urls = [p.url for p in procs]
                pids = [p.proc.pid for p in procs if p.proc is not None]
                inbox = Inbox(url)
                try:
                    await _run_rate(urls, 20, 1.0, args.users, ids, inbox)  # warm-up: users exist, pools filled
                    if args.overload:
                        probe = await _run_rate(urls, args.probe_rate, args.probe_seconds, args.users, ids, inbox, pids)
                        capacity = max(1.0, probe["overall_per_s"])  # offered and drained: what it got through
                        print(_line(count, db, "probe: ", probe), flush=True)
                        print(f"processes={count} db={db} capacity: {capacity:.0f} events/s processed", flush=True)
                        rates = [capacity, 2 * capacity]
                    for rate in rates:
                        r = await _run_rate(urls, rate, args.seconds, args.users, ids, inbox, pids)
                        label = f"{rate / capacity:.0f}x capacity: " if capacity else ""
                        print(_line(count, db, label, r), flush=True)
                        fake.calls.clear()
                finally:
                    await inbox.close()
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def _database(pg: str | None):  # type: ignore[no-untyped-def]
    if not pg:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"backcoach_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(pg, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{pg.rpartition('/')[0]}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def _processes(count: int, db_url: str, fake_url: str, token: str):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for _ in range(count):
            port = free_port()
            procs.append(ServeProcess(serve_env(port, db_url, **telegram_env(fake_url, token, port)), Path(tmp)))
        try:
            for p in procs:
                await p.start()
            for p in procs:
                await p.wait_ready()
            yield procs
        finally:
            for p in procs:
                await p.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench serve")
    parser.add_argument(
        "--pg",
        default=os.environ.get("BACKCOACH_TEST_POSTGRES_URL"),
        help="PostgreSQL admin URL (a throw-away database is made); default "
        "BACKCOACH_TEST_POSTGRES_URL; without it, one process on SQLite only",
    )
    parser.add_argument("--rates", default="25,50,100,200,400", help="offered updates/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per rate")
    parser.add_argument("--users", type=int, default=300, help="distinct people the updates come from")
    parser.add_argument("--processes", default="1,2", help="serve processes to run, comma-separated (2 needs --pg)")
    parser.add_argument(
        "--overload",
        action="store_true",
        help="instead of --rates: find the capacity (events a second a saturating probe got processed, its "
        "backlog's draining included), then offer 1x and 2x that",
    )
    parser.add_argument("--probe-rate", type=float, default=250.0, help="the probe's offered updates/s")
    parser.add_argument("--probe-seconds", type=float, default=4.0)
    asyncio.run(_bench(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
