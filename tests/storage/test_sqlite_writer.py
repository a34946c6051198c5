"""SQLite's write path: the engine's writer thread, the async writers beside it, another process on the
same file, and the background WAL checkpoints."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, insert, make_url, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat
from bot.clock import FakeClock
from bot.engine import Engine
from bot.flows import dispatch
from bot.state import UserView
from bot.storage import repository as repo
from bot.storage.models import ProcessedEvent, User
from bot.storage.sqlite_writer import SqliteWriter
from bot.types import Inbound, InboundKind, UserRef
from content.loader import Content


def _db_file(db: AsyncEngine) -> str:
    path = db.url.database
    assert path
    return path


async def test_writer_thread_and_async_writers_interleave_without_lock_errors(
    sqlite_db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    engine = Engine(sqlite_db, content, clock)
    first = Chat(engine, "u0")
    await first.say("/start")

    async def read_then_write(n: int) -> None:  # the shape of the outbox's and the claims' transactions
        async with engine.writer(), engine.sessions() as session, session.begin():
            count = (await session.execute(select(func.count()).select_from(User))).scalar_one()
            await session.execute(update(User).where(User.platform_user_id == "u0").values(chat_id=f"c{count}-{n}"))

    people = [Chat(engine, f"p{n}") for n in range(30)]
    results = await asyncio.gather(
        *(person.say("/start") for person in people),
        *(read_then_write(n) for n in range(30)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert all(person.last for person in people)  # every event answered
    async with sqlite_db.connect() as conn:
        handled = (await conn.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one()
    assert handled == 31
    engine.close()


async def test_an_async_transaction_holds_the_write_lock_from_its_first_read(
    sqlite_db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    """BEGIN IMMEDIATE: nobody (the writer thread, another process) can write between its read and its write."""
    engine = Engine(sqlite_db, content, clock)
    await Chat(engine, "u0").say("/start")
    async with engine.sessions() as session, session.begin():
        await session.execute(select(User.chat_id))
        other = sqlite3.connect(_db_file(sqlite_db), timeout=0.2, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("UPDATE users SET chat_id = 'sneaked in'")
        other.close()
    engine.close()


async def test_another_process_holding_the_write_lock_makes_an_event_wait_not_fail(
    sqlite_db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    engine = Engine(sqlite_db, content, clock)
    other = sqlite3.connect(_db_file(sqlite_db), isolation_level=None)  # e.g. a backup or `backcoach stats`
    other.execute("BEGIN IMMEDIATE")
    event = asyncio.create_task(Chat(engine, "waiting").say("/start"))
    await asyncio.sleep(0.3)
    assert not event.done()  # waiting on SQLite's busy timeout, not failed
    other.execute("COMMIT")
    other.close()
    replies = await asyncio.wait_for(event, timeout=60)  # a hang guard
    assert replies
    engine.close()


def _wal_size(path: str) -> int:
    wal = Path(path + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _add_user(n: int, now: datetime):  # type: ignore[no-untyped-def]
    def work(conn: Connection) -> None:
        conn.execute(
            insert(User.__table__).values(
                platform="console",
                workspace="",
                platform_user_id=f"w{n}",
                chat_id=f"w{n}",
                created_at=now,
                active=True,
                profile={"pad": "x" * 2000},
                conversation={},
                weekdays=127,
                reminders_on=False,
            )
        )

    return work


async def _write_many(
    writer: SqliteWriter, count: int, now: datetime, offset: int, between: Callable[[], Awaitable[None]] | None = None
) -> None:
    """`count` commits; `between` runs after every 50 (a checkpoint round, as real traffic would allow)."""
    for n in range(count):
        await writer.run(_add_user(offset + n, now))
        if between is not None and n % 50 == 49:
            await between()


async def _never_checkpointed_wal(sqlite_db: AsyncEngine, now: datetime) -> int:
    """The WAL after 600 commits of a 2 KB row with no checkpoint at all; the file is emptied again after."""
    path = _db_file(sqlite_db)
    await sqlite_db.dispose()  # only the writers below use the file
    unchecked = SqliteWriter(sqlite_db.url, checkpoint_every=None)
    await _write_many(unchecked, 600, now, 0)
    grown = _wal_size(path)
    unchecked.close()
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    assert grown > 1_000_000
    return grown


async def test_checkpoints_keep_the_wal_small(sqlite_db: AsyncEngine, clock: FakeClock) -> None:
    """Deterministic: the rounds are driven here (the background thread waits an hour and never runs)."""
    grown = await _never_checkpointed_wal(sqlite_db, clock.now())
    checked = SqliteWriter(sqlite_db.url, checkpoint_every=3600)

    async def checkpoint() -> None:
        checked.checkpoint()

    await _write_many(checked, 600, clock.now(), 1000, between=checkpoint)
    kept = _wal_size(_db_file(sqlite_db))
    assert checked.checkpoints == 12
    checked.close()
    assert kept < grown / 4  # each round lets the next commit start the WAL from the beginning again


async def test_the_background_thread_runs_the_checkpoint_rounds(sqlite_db: AsyncEngine, clock: FakeClock) -> None:
    """The thread does what the test above does by hand: after each batch, wait (generous timeout, no
    duration assumed) for a round that started after the batch's last commit."""
    grown = await _never_checkpointed_wal(sqlite_db, clock.now())
    checked = SqliteWriter(sqlite_db.url, checkpoint_every=0.01)

    async def next_round() -> None:
        seen = checked.checkpoints
        await _until(lambda: checked.checkpoints >= seen + 2)  # +2: the round in flight may predate the commit

    await _write_many(checked, 600, clock.now(), 1000, between=next_round)
    kept = _wal_size(_db_file(sqlite_db))
    assert checked.checkpointing
    checked.close()
    assert not checked.checkpointing
    assert kept < grown / 4


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):  # generous: only a checkpointer that never runs gets here
        while not condition():  # noqa: ASYNC110  (a counter another thread bumps: polled)
            await asyncio.sleep(0.005)


async def test_an_engine_dropped_without_close_stops_its_checkpointer(
    sqlite_db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    engine = Engine(sqlite_db, content, clock)
    await Chat(engine, "u0").say("/start")
    writer = engine._sqlite_thread
    assert writer is not None and writer.checkpointing
    checkpointer = writer._checkpointer
    assert checkpointer is not None
    del engine, writer
    gc.collect()
    await _until(lambda: not checkpointer.alive)


async def test_history_is_loaded_up_front_only_for_the_events_that_declare_it(
    db: AsyncEngine, content: Content, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No second run of the flow: the engine reads the person's figures before the flow runs, once, and only
    where the flow's declaration (bot/flows/registry.Need) says it reads them."""
    engine = Engine(db, content, clock)
    chat = Chat(engine, "declared")
    await chat.onboard()
    real = repo.load_history
    loads: list[bool] = []

    def counted(*args: object, **kwargs: object) -> object:
        loads.append(bool(kwargs.get("full")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "load_history", counted)
    runs: list[str] = []
    real_handle = dispatch.handle_owned

    def once(view: UserView, event: Inbound, now: datetime, content: Content):  # type: ignore[no-untyped-def]
        runs.append(event.text or event.action)
        return real_handle(view, event, now, content)

    monkeypatch.setattr(dispatch, "handle_owned", once)
    await chat.say("/help")  # reads nothing
    assert loads == []
    await chat.say("/activity")  # asks the minutes: the activity flow's events read today's minutes...
    await chat.say("20")
    await chat.tap("5")  # ...and this one logs them against today's total
    assert "20 minutes" in chat.texts() and loads == [False, False]
    await chat.say("/history")  # the lists as well
    assert loads == [False, False, True]
    assert runs == ["/help", "/activity", "20", runs[3], "/history"], "each event ran the flow once"
    engine.close()


def test_the_core_never_changes_the_view_it_is_given(content: Content, clock: FakeClock) -> None:
    view = UserView(user_id=1, ref=UserRef("console", "", "u", "c"))
    view.conversation.ctx = {"trail": [1, {"deep": [2]}]}
    before = view.model_dump()
    copy = dispatch.copy_view(view)
    copy.conversation.ctx["trail"][1]["deep"].append(3)
    dispatch.handle(view, Inbound(view.ref, InboundKind.COMMAND, text="/start"), clock.now(), content)
    assert view.model_dump() == before
    assert dispatch.copy_view(view) == view


async def test_repository_runs_on_an_orm_session_too(
    sqlite_db: AsyncEngine, clock: FakeClock, content: Content
) -> None:
    """Async callers reach the same Core functions through `AsyncSession.run_sync`."""
    engine = Engine(sqlite_db, content, clock)
    async with engine.sessions() as session, session.begin():
        user = await session.run_sync(repo.load_user, UserRef("console", "", "orm", "orm"), clock.now())
        assert await session.run_sync(repo.enqueue, user.id, "message", "k1", {"replies": []}, clock.now(), clock.now())
        assert not await session.run_sync(
            repo.enqueue, user.id, "message", "k1", {"replies": []}, clock.now(), clock.now()
        )


def test_an_in_memory_database_is_refused() -> None:
    """The writer opens its own connection: in memory, that would be a second, empty database."""
    with pytest.raises(ValueError, match="SQLite file"):
        SqliteWriter(make_url("sqlite+aiosqlite:///:memory:"))
