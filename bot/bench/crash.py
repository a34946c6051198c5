"""`backcoach bench crash`: kill -9 a real `backcoach serve` in the middle of a reminder wave, restart it,
and count what the fake Telegram received: sent, lost, duplicated (SQLite, and PostgreSQL when given).
Then an ordinary tap's reply latency (webhook POST to the platform's receipt of the reply), p50 and p99,
for this code and, with --baseline, for another checkout (a `git worktree` of an older commit) side by
side in the same run. Figures, not a test; tests/processes/test_crash.py runs the same machinery with assertions.

Duplicates are counted pessimistically: every sendMessage that reached the fake counts, even one whose
answer the killed process never heard (a real platform may well have delivered it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.serve import ROOT, SECRET, ServeProcess, free_port, serve_env, telegram_env

LEASE_SECONDS = "2"


class BotProcess(ServeProcess):
    """`backcoach serve` or `backcoach run` (polling) from a given source tree, killable with SIGKILL."""

    def __init__(self, env: dict[str, str], workdir: Path, command: str = "serve", root: Path = ROOT) -> None:
        super().__init__({**env, "PYTHONPATH": str(root)}, workdir)
        self.command = command
        self.log_path = workdir / f"{command}-{self.port}-{time.monotonic_ns()}.log"

    async def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            self.command,
            env=self.env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def kill(self) -> None:
        """kill -9: no shutdown, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()
        if self._log is not None:
            self._log.close()


def wave_env(port: int, db_url: str, fake_url: str, token: str, **extra: str) -> dict[str, str]:
    return serve_env(
        port,
        db_url,
        BACKCOACH_TICK_SECONDS="0.2",
        BACKCOACH_OUTBOX_LEASE_SECONDS=LEASE_SECONDS,
        **telegram_env(fake_url, token, port),
        **extra,
    )


async def seed_wave(db_url: str, users: int, first_chat: int = 50_000) -> list[str]:
    """Migrate and add `users` onboarded Telegram people whose reminder is due now; returns their chats."""
    from sqlalchemy import insert

    from bot.storage.db import make_engine, migrate
    from bot.storage.models import User

    db = make_engine(db_url)
    try:
        await migrate(db)
        now = datetime.now(UTC)
        chats = [str(first_chat + i) for i in range(users)]
        rows = [
            {
                "platform": "telegram",
                "workspace": "",
                "platform_user_id": chat,
                "chat_id": chat,
                "created_at": now,
                "active": True,
                "profile": {"consented": True, "onboarded": True, "exercises": []},
                "conversation": {"flow": "idle"},
                "timezone": "UTC",
                "reminder_time": "07:00",
                "weekdays": 0b1111111,
                "reminders_on": True,
                "next_fire_at": now - timedelta(seconds=1),
            }
            for chat in chats
        ]
        async with db.begin() as conn:
            await conn.execute(insert(User), rows)
    finally:
        await db.dispose()
    return chats


@dataclass
class WaveFigures:
    users: int
    kills: int
    received: int  # sendMessage calls that reached the platform (pessimistic: heard or not)
    lost: int  # people who never got their reminder
    duplicated: int  # reminders beyond one per person


async def wait_for(condition: Any, patience: float, what: str) -> None:
    deadline = time.monotonic() + patience
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


async def settled(url: str, patience: float = 60.0) -> None:
    """Until the database holds no unprocessed event and no due unsent message (read from /metrics)."""
    deadline = time.monotonic() + patience
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/metrics") as resp:
                    text = await resp.text()
                    values = {
                        line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
                        for line in text.splitlines()
                        if line and not line.startswith("#")
                    }
                    if (
                        values.get("backcoach_database_up") == 1
                        and values.get("backcoach_inbox_pending", 0) == 0
                        and values.get("backcoach_outbox_due") == 0
                    ):
                        return
            if time.monotonic() > deadline:
                raise TimeoutError("never settled")
            await asyncio.sleep(0.05)


async def reminder_wave(
    fake: Any, token: str, db_url: str, workdir: Path, *, users: int, kills: int, rng: random.Random
) -> WaveFigures:
    """`kills` kill -9s at random moments of one reminder wave (each followed by a restart), then run to
    the end and count. The fake answers each sendMessage after 50 ms, so sends are really in flight."""
    chats = await seed_wave(db_url, users)
    fake.fail("sendMessage", _slow(0.05), times=users * 3)
    for round_ in range(kills + 1):
        port = free_port()
        proc = BotProcess(wave_env(port, db_url, fake.url, token), workdir)
        await proc.start()
        await proc.wait_ready()
        if round_ < kills:  # a random moment: after a random number of further reminders reached the platform
            target = min(len(_reminders(fake)) + rng.randint(1, max(2, users // (kills + 1))), users - 1)
            await wait_for(lambda t=target: len(_reminders(fake)) >= t, 60, "the wave never got there")
            await proc.kill()
            continue
        await wait_for(lambda: len({c.params["chat_id"] for c in fake.delivered()}) >= users, 90, "wave unfinished")
        await settled(proc.url)
        await proc.stop()
    counts = Counter(str(c.params["chat_id"]) for c in _reminders(fake))
    heard = {str(c.params["chat_id"]) for c in fake.delivered()}
    return WaveFigures(
        users=users,
        kills=kills,
        received=sum(counts.values()),
        lost=sum(1 for c in chats if c not in heard),
        duplicated=sum(n - 1 for n in counts.values() if n > 1),
    )


def _reminders(fake: Any) -> list[Any]:
    return [c for c in fake.calls if c.method == "sendMessage"]


def _slow(seconds: float) -> Any:
    from adapters.testing.fake_telegram import Fault

    return Fault.slow(seconds)


# --- tap latency --------------------------------------------------------------------------------------


async def tap_latency(fake: Any, token: str, workdir: Path, root: Path, taps: int) -> tuple[float, float]:
    """p50, p99 (ms) from a webhook POST of an ordinary message to the fake's receipt of the reply."""
    port = free_port()
    url = f"sqlite+aiosqlite:///{workdir / f'latency-{port}.sqlite3'}"
    proc = BotProcess(serve_env(port, url, **telegram_env(fake.url, token, port)), workdir, root=root)
    await proc.start()
    try:
        await proc.wait_ready()
        latencies = []
        async with aiohttp.ClientSession() as session:
            for n in range(taps + 20):  # the first 20 warm up
                chat = 90_000 + n % 20
                mark = len(fake.calls)
                update = _update(n + 1 + port * 10_000, chat, "/help")
                started = time.perf_counter()
                async with session.post(
                    f"{proc.url}/telegram",
                    data=json.dumps(update),
                    headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
                ) as resp:
                    await resp.read()
                await wait_for(
                    lambda mark=mark, chat=chat: any(
                        c.method == "sendMessage" and str(c.params.get("chat_id")) == str(chat)
                        for c in fake.calls[mark:]
                    ),
                    30,
                    "no reply",
                )
                if n >= 20:
                    latencies.append(time.perf_counter() - started)
        latencies.sort()
        return statistics.median(latencies) * 1000, latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000
    finally:
        await proc.stop()


def _update(update_id: int, chat: int, text: str) -> dict[str, Any]:
    message = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "B"},
        "from": {"id": chat, "is_bot": False, "first_name": "B"},
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
    }
    return {"update_id": update_id, "message": message}


# --- the command ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _database(kind: str, pg: str | None, workdir: Path):  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'crash-{time.monotonic_ns()}.sqlite3'}"
        return
    from bot.bench.serve import _database as pg_database

    async with pg_database(pg) as url:
        yield url


async def _bench(args: argparse.Namespace) -> None:
    from adapters.testing.fake_telegram import TOKEN, FakeTelegram

    rng = random.Random(args.seed)
    print(f"seed={args.seed} users={args.users} kills={args.kills} lease={LEASE_SECONDS}s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        kinds = ["sqlite"] + (["postgresql"] if args.pg else [])
        for kind in kinds:
            fake = FakeTelegram()
            await fake.start()
            try:
                async with _database(kind, args.pg, workdir) as url:
                    f = await reminder_wave(fake, TOKEN, url, workdir, users=args.users, kills=args.kills, rng=rng)
                print(
                    f"crash wave db={kind} users={f.users} kills={f.kills} sent={f.received} "
                    f"lost={f.lost} duplicated={f.duplicated}",
                    flush=True,
                )
            finally:
                await fake.stop()
        if not args.pg:
            print("PostgreSQL skipped: pass --pg or set BACKCOACH_TEST_POSTGRES_URL")
        trees = [("this", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
        for name, root in trees:
            fake = FakeTelegram()
            await fake.start()
            try:
                p50, p99 = await tap_latency(fake, TOKEN, workdir, root, args.taps)
            finally:
                await fake.stop()
            print(f"tap latency code={name} db=sqlite taps={args.taps} p50={p50:.1f}ms p99={p99:.1f}ms", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench crash")
    parser.add_argument("--pg", default=os.environ.get("BACKCOACH_TEST_POSTGRES_URL"), help="PostgreSQL admin URL")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--taps", type=int, default=300)
    # the baseline tree: resolved before the event loop starts (no blocking path calls inside it)
    parser.add_argument(
        "--baseline", help="another source tree (e.g. `git worktree add /tmp/old <commit>`) to time taps against"
    )
    args = parser.parse_args(argv)
    if args.baseline:
        args.baseline = Path(args.baseline).resolve()
    asyncio.run(_bench(args))


if __name__ == "__main__":
    main()
