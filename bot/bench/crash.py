"""`backcoach bench crash`: kill -9 a real `backcoach serve` in the middle of a reminder wave, restart it,
and count what the fake Telegram and the fake Slack received: sent, lost, duplicated (SQLite, and
PostgreSQL when given). Then an ordinary tap's reply latency (the webhook POST of a Telegram callback_query
on a live button to the platform's receipt of the reply), p50 and p99, for this code and, with --baseline,
for another checkout (a `git worktree` of an older commit), interleaved round by round in the same run.
Figures, not a test; tests/processes/test_crash.py runs the same machinery with assertions.

Duplicates are counted pessimistically: every send that reached the fake counts, even one whose answer
the killed process never heard (a real platform may well have delivered it). docs/deploy.md promises at
most the sends between "send started" and "sent committed" at each kill: SEND_WORKERS per kill, plus the
replies in flight to people's own events (none in a wave).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
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

    async def kill(self) -> None:
        """kill -9: no shutdown, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()
        if self._log is not None:
            self._log.close()


def wave_env(port: int, db_url: str, platform_env: dict[str, str], **extra: str) -> dict[str, str]:
    """A serve process for a wave: a fast tick, a short lease, pointed at the fake (`platform_env`)."""
    return serve_env(
        port,
        db_url,
        BACKCOACH_TICK_SECONDS="0.2",
        BACKCOACH_OUTBOX_LEASE_SECONDS=LEASE_SECONDS,
        **platform_env,
        **extra,
    )


class WavePlatform:
    """One platform's side of a wave: whom to seed, how to point `serve` at the fake, and what reached it.
    Sends are slowed to `latency` seconds each, so a kill -9 finds some really in flight."""

    name = ""

    def env(self, port: int) -> dict[str, str]:
        raise NotImplementedError

    def person(self, n: int) -> tuple[str, str, str]:
        """(workspace, platform user id, chat id) of the n-th person."""
        raise NotImplementedError

    def slow(self, latency: float, sends: int) -> None:
        raise NotImplementedError

    def tries(self) -> list[str]:
        """The chat of every send that reached the platform, answered or not (pessimistic)."""
        raise NotImplementedError

    def answered(self) -> list[str]:
        """The chat of every send the platform took and answered to a caller still there."""
        raise NotImplementedError

    def heard(self) -> set[str]:
        return set(self.answered())

    def quiet(self, since: int) -> bool:
        """Every send from the `since`-th on has been answered or found its caller gone."""
        raise NotImplementedError


class TelegramWave(WavePlatform):
    name = "telegram"

    def __init__(self, fake: Any, token: str) -> None:
        self.fake, self.token = fake, token

    def env(self, port: int) -> dict[str, str]:
        return telegram_env(self.fake.url, self.token, port)

    def person(self, n: int) -> tuple[str, str, str]:
        return "", str(50_000 + n), str(50_000 + n)

    def slow(self, latency: float, sends: int) -> None:
        self.fake.fail("sendMessage", _slow(latency), times=sends)

    def tries(self) -> list[str]:
        return [str(c.params["chat_id"]) for c in _reminders(self.fake)]

    def answered(self) -> list[str]:
        return [str(c.params["chat_id"]) for c in self.fake.delivered()]

    def quiet(self, since: int) -> bool:
        return all(c.lost or c.answered for c in _reminders(self.fake)[since:])


class SlackWave(WavePlatform):
    name = "slack"

    def __init__(self, fake: Any, token: str = "xoxb-one", team: str = "T1") -> None:
        self.fake, self.token, self.team = fake, token, team

    def env(self, port: int) -> dict[str, str]:
        from adapters.testing.slack_client import SECRET as SIGNING_SECRET

        return {
            "SLACK_BOT_TOKEN": self.token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.fake.api_url,
        }

    def person(self, n: int) -> tuple[str, str, str]:
        return self.team, f"U{50_000 + n}", f"DU{50_000 + n}"

    def slow(self, latency: float, sends: int) -> None:
        self.fake.delay = latency

    def tries(self) -> list[str]:
        return [str(c.args.get("channel")) for c in self.fake.of("chat.postMessage")]

    def answered(self) -> list[str]:
        return [str(c.args.get("channel")) for c in self.fake.of("chat.postMessage") if c.answered]

    def quiet(self, since: int) -> bool:
        return all(c.lost or c.response for c in self.fake.of("chat.postMessage")[since:])


async def seed_wave(db_url: str, users: int, platform: WavePlatform) -> list[str]:
    """Migrate and add `users` onboarded people whose reminder is due now; returns their chats."""
    from sqlalchemy import insert

    from bot.storage.db import make_engine, migrate
    from bot.storage.models import User

    db = make_engine(db_url)
    try:
        await migrate(db)
        now = datetime.now(UTC)
        people = [platform.person(n) for n in range(users)]
        rows = [
            {
                "platform": platform.name,
                "workspace": workspace,
                "platform_user_id": user_id,
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
            for workspace, user_id, chat in people
        ]
        async with db.begin() as conn:
            await conn.execute(insert(User), rows)
    finally:
        await db.dispose()
    return [chat for _, _, chat in people]


@dataclass
class WaveFigures:
    users: int
    kills: int
    received: int  # sends that reached the platform (pessimistic: heard or not)
    lost: int  # people who never got their reminder
    duplicated: int  # sends beyond one per person, pessimistic: a send cut off by the kill counts too
    platform: str = "telegram"


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
    platform: WavePlatform, db_url: str, workdir: Path, *, users: int, kills: int, rng: random.Random
) -> WaveFigures:
    """`kills` kill -9s at random moments of one reminder wave (each followed by a restart), then run to
    the end and count. Each send takes 50 ms, so sends are really in flight when the process dies."""
    chats = await seed_wave(db_url, users, platform)
    platform.slow(0.05, users * 3)
    for round_ in range(kills + 1):
        since = len(platform.tries())
        port = free_port()
        proc = BotProcess(wave_env(port, db_url, platform.env(port)), workdir)
        await proc.start()
        await proc.wait_ready()
        if round_ < kills:  # a random moment: after a random number of further reminders reached the platform
            target = min(len(platform.tries()) + rng.randint(1, max(2, users // (kills + 1))), users - 1)
            await wait_for(lambda t=target: len(platform.tries()) >= t, 60, "the wave never got there")
            await proc.kill()
            # the fake finishes answering what the dead process sent, so the next round counts from here
            await wait_for(lambda s=since: platform.quiet(s), 60, "the fake never settled the dead process's calls")
            continue
        await wait_for(lambda: len(platform.heard()) >= users, 90, "wave unfinished")
        await settled(proc.url)
        await proc.stop()
    counts = Counter(platform.tries())
    heard = platform.heard()
    return WaveFigures(
        users=users,
        kills=kills,
        received=sum(counts.values()),
        lost=sum(1 for c in chats if c not in heard),
        duplicated=sum(n - 1 for n in counts.values() if n > 1),
        platform=platform.name,
    )


def _reminders(fake: Any) -> list[Any]:
    return [c for c in fake.calls if c.method == "sendMessage"]


def _slow(seconds: float) -> Any:
    from adapters.testing.fake_telegram import Fault

    return Fault.slow(seconds)


# --- tap latency --------------------------------------------------------------------------------------


REPLIES = {"sendMessage", "editMessageText"}  # what the person sees: a new message or the live one edited
WARM_UP = 20  # taps not timed at the start of each round (imports, caches, the first connections)


async def tap_latency(fake: Any, token: str, workdir: Path, root: Path, taps: int) -> tuple[float, float]:
    """p50, p99 (ms) from the webhook POST of a button tap (a callback_query on the live question's
    button) to the fake's receipt of its reply. The stream is onboarding, person after person: "/start"
    (not timed), then every step tapped (consent, "No" to each screening question, the plan, 07:00, London),
    each button taken from the keyboard the bot really sent, so both trees get the same taps."""
    from adapters.testing.fake_telegram import Person, callback_update, text_update

    port = free_port()
    url = f"sqlite+aiosqlite:///{workdir / f'latency-{port}.sqlite3'}"
    proc = BotProcess(serve_env(port, url, **telegram_env(fake.url, token, port)), workdir, root=root)
    await proc.start()
    ids = iter(range(port * 100_000, (port + 1) * 100_000))
    latencies: list[float] = []
    try:
        await proc.wait_ready()
        async with aiohttp.ClientSession() as session:

            async def post(update: dict[str, Any], chat: int) -> list[Any]:
                """One update; returns the bot's calls to this chat up to its next question (a keyboard),
                after noting the time to its first reply."""
                mark = len(fake.calls)
                update["update_id"] = next(ids)
                started = time.perf_counter()
                async with session.post(
                    f"{proc.url}/telegram",
                    data=json.dumps(update),
                    headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
                ) as resp:
                    await resp.read()

                def mine() -> list[Any]:
                    return [c for c in fake.calls[mark:] if str(c.params.get("chat_id")) == str(chat)]

                await wait_for(lambda: any(c.method in REPLIES for c in mine()), 30, "no reply")
                if "callback_query" in update:
                    latencies.append(time.perf_counter() - started)
                await wait_for(lambda: any(c.buttons() for c in mine()), 30, "no next question")
                return mine()

            chat = 90_000
            while len(latencies) < taps + WARM_UP:
                chat += 1
                person = Person(fake, None, chat)
                calls = await post(text_update(chat, "/start"), chat)
                for label in _onboarding_taps(person):
                    data, message_id = person.button(label, calls)
                    calls = await post(callback_update(chat, data, message_id, query_id=str(chat)), chat)
                    person.last = calls
                    if len(latencies) >= taps + WARM_UP:
                        break
        timed = sorted(latencies[WARM_UP:])
        return statistics.median(timed) * 1000, timed[max(0, int(len(timed) * 0.99) - 1)] * 1000
    finally:
        await proc.stop()


def _onboarding_taps(person: Any) -> Iterator[str]:
    """The labels to tap, one step at a time (a generator: each label is chosen from the newest keyboard)."""
    yield "I understand"
    while "Yes" in [label for c in person.last for label, _ in c.buttons()]:
        yield "No"
    yield "All of them"
    yield "07:00"
    yield "London"


# --- the command ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _database(kind: str, pg: str | None, workdir: Path):  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'crash-{time.monotonic_ns()}.sqlite3'}"
        return
    from bot.bench.serve import _database as pg_database

    async with pg_database(pg) as url:
        yield url


@contextlib.asynccontextmanager
async def _platform(name: str):  # type: ignore[no-untyped-def]
    """A fresh fake for one wave, and the wave's view of it."""
    if name == "slack":
        from adapters.testing.fake_slack import FakeSlack

        slack = FakeSlack(tokens={"xoxb-one": "T1"})
        await slack.start()
        try:
            yield SlackWave(slack)
        finally:
            await slack.close()
        return
    from adapters.testing.fake_telegram import TOKEN, FakeTelegram

    telegram = FakeTelegram()
    await telegram.start()
    try:
        yield TelegramWave(telegram, TOKEN)
    finally:
        await telegram.stop()


async def _bench(args: argparse.Namespace) -> None:
    from adapters.testing.fake_telegram import TOKEN, FakeTelegram
    from scheduler.outbox import SEND_WORKERS

    # The figures only: a connection the killed process left half-open is no error of ours to print (the
    # fakes' aiohttp server would log it with a traceback; each process's own output stays in its log file).
    for name in ("aiohttp.server", "aiohttp.access", "aiohttp.web", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    rng = random.Random(args.seed)
    print(f"seed={args.seed} users={args.users} kills={args.kills} lease={LEASE_SECONDS}s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        kinds = ["sqlite"] + (["postgresql"] if args.pg else [])
        for kind in kinds if args.users else []:
            for name in args.platforms.split(","):
                async with _platform(name) as platform, _database(kind, args.pg, workdir) as url:
                    f = await reminder_wave(platform, url, workdir, users=args.users, kills=args.kills, rng=rng)
                print(
                    f"crash wave platform={f.platform} db={kind} users={f.users} kills={f.kills} sent={f.received} "
                    f"lost={f.lost} duplicated={f.duplicated} (window: {SEND_WORKERS} per kill)",
                    flush=True,
                )
        if not args.pg:
            print("PostgreSQL skipped: pass --pg or set BACKCOACH_TEST_POSTGRES_URL")
        trees = [("this", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
        for round_ in range(args.rounds if args.taps else 0):  # interleaved: this, old, old, this, ...
            for name, root in trees if round_ % 2 == 0 else trees[::-1]:
                fake = FakeTelegram()
                await fake.start()
                try:
                    p50, p99 = await tap_latency(fake, TOKEN, workdir, root, args.taps)
                finally:
                    await fake.stop()
                print(
                    f"tap latency round={round_ + 1} code={name} db=sqlite taps={args.taps} "
                    f"p50={p50:.1f}ms p99={p99:.1f}ms",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench crash")
    parser.add_argument("--pg", default=os.environ.get("BACKCOACH_TEST_POSTGRES_URL"), help="PostgreSQL admin URL")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--taps", type=int, default=300, help="taps timed per round (0: no latency figures)")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds, alternating which tree goes first")
    parser.add_argument("--platforms", default="telegram,slack", help="waves on these fakes (comma-separated)")
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
