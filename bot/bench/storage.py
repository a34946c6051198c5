"""`backcoach bench storage`: bytes on disk per person per month. People onboard, then every day for a month
get their reminder (claimed and sent through the outbox), do the session through every step and timer, and
log some activity, each message and tap through the inbox as the adapters send them (so every event's reply
row is there too); retention runs as the scheduler runs it. The SQLite file is then vacuumed and measured,
table by table. A figure, not a test: nothing asserts.

    backcoach bench storage [--people 20] [--days 30] [--words]

`--words`: queued messages stored as their words, as before issue 16's render inputs (`Engine(render_inputs=
False)`), for a before/after in one sitting. The payload bytes of a queued reminder are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.db import make_engine, migrate
from bot.types import Inbound, Reply, ReplyKind
from content.loader import default_content
from scheduler import inbox, retention
from scheduler.runner import tick

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday; London is on GMT


class InboxChat(Chat):
    """As the adapters converse: each message or tap into the inbox, processed, its replies written to the
    outbox with the state change and sent at once (so the reply rows an adapter leaves are counted too)."""

    async def send(self, inbound: Inbound) -> list[Reply]:
        if inbound.event_id is None:
            inbound = replace(inbound, event_id=f"{self.user.user_id}:{next(_EVENT_IDS)}")
        before = len(self.sender.sent)
        await self.engine.receive(inbound)
        await inbox.drain(self.engine, {self.user.platform: self.sender}, inbox.person_of(self.user))
        self.last = [r for _, r in self.sender.sent[before:] if r.kind is not ReplyKind.CLOSE]
        return self.last


_EVENT_IDS = itertools.count(1)


async def one_session(chat: Chat) -> None:
    """/today through every step, sitting out each hold timer, then the pain question and some activity."""
    await chat.say("/today")
    for _ in range(10):
        if "Yes" not in chat.labels():
            break
        await chat.tap("No")
    await chat.tap("3")
    for _ in range(200):
        labels, text = chat.labels(), chat.texts()
        if "I'll message you in" in text:
            chat.last = await chat.advance(timedelta(seconds=41))
        elif "Start" in labels and "Exercise" in text:
            await chat.tap("Start")
        elif "Done" in labels:
            await chat.tap("Done")
        elif "Ready" in labels:
            await chat.tap("Ready")
        else:
            break
    for _ in range(10):  # the pain question, how it felt, then some activity
        label = next((x for x in ("2", "Fine", "That's all", "Log activity", "20 min", "5") if _offered(chat, x)), None)
        if label is None:
            break
        await chat.tap(label)


def _offered(chat: Chat, label: str) -> bool:
    return any(item.lower().startswith(label.lower()) for item in chat.labels())


def _sizes(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
        try:
            rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # SQLite built without dbstat: the whole file only
            rows = []
        page = conn.execute("PRAGMA page_size").fetchone()[0] * conn.execute("PRAGMA page_count").fetchone()[0]
    sizes = {str(name): int(size) for name, size in rows}
    sizes["(file)"] = int(page)
    return sizes


async def bench(people: int, days: int, *, words: bool = False) -> None:
    content = default_content()
    with tempfile.TemporaryDirectory(prefix="backcoach-storage-") as tmp:
        path = Path(tmp) / "storage.sqlite3"
        db = make_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(db)
        empty = _sizes(path)
        clock = FakeClock(START)
        engine = Engine(db, content, clock, render_inputs=not words)
        chats = [InboxChat(engine, user_id=f"p{n}") for n in range(people)]
        try:
            for chat in chats:
                await chat.onboard()
            for day in range(days):
                clock.set(START + timedelta(days=day, hours=1, seconds=5))  # 07:00:05 London
                await tick(engine, {"console": chats[0].sender})
                for chat in chats:
                    await one_session(chat)
                clock.set(START + timedelta(days=day, hours=12))
                await tick(engine, {"console": chats[0].sender})
                await retention.prune(engine, clock.now())
        finally:
            engine.close()
            await db.dispose()
        full = _sizes(path)
        with sqlite3.connect(path) as conn:
            completed = conn.execute("SELECT COUNT(*) FROM sessions WHERE status = 'completed'").fetchone()[0]
            sent = conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
            reminders, reminder_bytes = conn.execute(
                "SELECT COUNT(*), AVG(LENGTH(CAST(payload AS BLOB))) FROM outbox WHERE kind = 'reminder'"
            ).fetchone()
    per = {name: (full.get(name, 0) - empty.get(name, 0)) / people for name in full}
    print(
        f"storage: {people} people, {days} days each (reminder, full session with timers, activity), SQLite,"
        f" queued messages as {'words' if words else 'render inputs'}: {completed} sessions completed, {sent}"
        " outbox rows kept as sent (retention: 30 days; an event's replies, and a timer or check-in once run,"
        " 1 day)"
    )
    print(f"  a queued reminder's payload: {reminder_bytes or 0:,.0f} bytes (mean of {reminders} rows)")
    for name, size in sorted(per.items(), key=lambda item: -item[1]):
        if size > 0 and name != "(file)":
            print(f"  {name:<32} {size / days * 30:>10,.0f} bytes per person per month")
    print(f"  {'whole file':<32} {per['(file)'] / days * 30:>10,.0f} bytes per person per month")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench storage", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--words", action="store_true", help="store queued messages as words (the old form)")
    args = parser.parse_args(argv)
    asyncio.run(bench(args.people, args.days, words=args.words))


if __name__ == "__main__":
    main()
