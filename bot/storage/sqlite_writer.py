"""SQLite's write path: each event's whole transaction in one call on one worker thread.

aiosqlite hops to its thread and back for every statement and row fetch (about 30 hops per event), which
capped the engine at a few hundred events a second. Here the event's transaction runs start to finish on a
plain pysqlite connection in a single worker thread: one hop per event. SQLite has one writer anyway, so one
thread loses nothing. `BEGIN IMMEDIATE` takes the write lock at the start, so a second process on the same
file waits (busy timeout) instead of failing half-way through a read-then-write transaction.

WAL checkpoints are moved off that thread: left to SQLite, the commit that crosses 1,000 WAL pages copies
them back into the database and syncs it, a 7 ms stall every few hundred events under load. A background
thread runs a PASSIVE checkpoint (it never blocks the writer) every `checkpoint_every` seconds instead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sqlite3
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, create_engine, event

from bot.storage.db import is_sqlite_file, sqlite_no_implicit_begin, sqlite_pragmas

T = TypeVar("T")
log = logging.getLogger(__name__)


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it


def _begin_immediate(conn: Connection) -> None:
    """`db.sqlite_begin_immediate` on the driver's own connection: the same statement, without a trip
    through SQLAlchemy's execution machinery (a context, a cursor result) for every transaction."""
    conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


class SqliteWriter:
    """Runs `work(connection)` inside one transaction on the writer thread."""

    def __init__(self, async_url: URL, *, checkpoint_every: float | None = 1.0) -> None:
        if not is_sqlite_file(async_url.database):  # a second connection would open a different, empty database
            raise ValueError("BackCoach needs an SQLite file, not an in-memory database")
        url = async_url.set(drivername="sqlite")
        self.engine = create_engine(url, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(self.engine, "connect", sqlite_pragmas(url.render_as_string(hide_password=False)))
        event.listen(self.engine, "connect", sqlite_no_implicit_begin)
        event.listen(self.engine, "connect", _no_autocheckpoint)
        event.listen(self.engine, "begin", _begin_immediate)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        # The thread holds the queue, not the writer: a writer never closed is still collected, and stops it.
        self._thread = threading.Thread(target=_serve, args=(self._queue,), name="backcoach-sqlite", daemon=True)
        self._thread.start()
        weakref.finalize(self, self._queue.put, None)
        self._path: str = url.database or ""  # non-empty: checked above
        self._checkpoint_every = checkpoint_every
        self._checkpointer: _Checkpointer | None = None  # threads start with the first transaction
        self._connection: Connection | None = None  # used on the writer thread only
        self._closed = False

    async def run(self, work: Callable[[Connection], T]) -> T:
        if self._checkpointer is None and self._checkpoint_every:
            self._checkpointer = _Checkpointer(self._path, self._checkpoint_every)
            weakref.finalize(self, self._checkpointer.stop_soon)  # an engine never closed still stops it
        if self._closed:
            raise RuntimeError("the SQLite writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((functools.partial(self._in_transaction, work), loop, future))
        return await future

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        """On the one connection this thread keeps open: checking it out of the pool and back for every
        event (with the pool's reset-on-return rollback) cost about as much as the event's own statements.
        After any error the connection is closed and the next transaction opens a fresh one."""
        if self._connection is None:
            self._connection = self.engine.connect()
        connection = self._connection
        try:
            with connection.begin():
                return work(connection)
        except BaseException:
            self._connection = None
            connection.close()
            raise

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def checkpoint(self) -> None:
        """One checkpoint round now, as the background thread would run it (it must have started)."""
        if self._checkpointer is None:
            raise RuntimeError("no checkpointer: checkpoint_every is None or nothing was written yet")
        self._checkpointer.run_once()

    @property
    def checkpoints(self) -> int:
        return self._checkpointer.rounds if self._checkpointer is not None else 0

    @property
    def checkpointing(self) -> bool:
        return self._checkpointer is not None and self._checkpointer.alive

    def close(self) -> None:
        """Let the transactions queued finish, then close the connection on its thread and stop it."""
        if not self._closed:
            self._closed = True
            self._queue.put((self._close_connection, None, None))
            self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


# What the writer thread runs, and where its answer goes (no loop: nobody waits, e.g. the closing call).
_Item = tuple[Callable[[], Any], asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | None"]


def _serve(items: queue.SimpleQueue[_Item | None]) -> None:
    """The writer thread: one transaction after another, each answered on its caller's loop with one
    call_soon_threadsafe (an executor's concurrent.futures bookkeeping, a Condition per future and chained
    callbacks, cost more than some of the transactions it carried). A caller that gave up before its turn
    came (cancelled) is skipped, as an executor skips a cancelled job that has not started."""
    while (item := items.get()) is not None:
        call, loop, future = item
        if future is not None and future.cancelled():
            continue
        try:
            result: Any = call()
        except BaseException as exc:  # handed to the caller, whatever it is
            _answer(loop, future, None, exc)
        else:
            _answer(loop, future, result, None)
        del item, call, loop, future  # nothing of the last transaction (nor its writer) is kept while waiting
        result = None


def _answer(
    loop: asyncio.AbstractEventLoop | None, future: asyncio.Future[Any] | None, result: Any, exc: BaseException | None
) -> None:
    if loop is None or future is None:
        return

    def settle() -> None:
        if future.cancelled():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the caller's loop has closed: nobody waits for the answer
        pass


class _Checkpointer:
    """A daemon thread with its own connection that checkpoints the WAL every `every` seconds.

    `run_once` is the whole of one round, so a test (or a caller that wants it now) can drive it directly."""

    def __init__(self, path: str, every: float) -> None:
        self._path = path
        self._every = every
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the thread's rounds and a direct call never share the connection at once
        self.rounds = 0  # completed checkpoints: lets a test wait for a condition instead of a duration
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backcoach-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def run_once(self) -> None:
        """One PASSIVE checkpoint: copies what no reader still needs, never blocks the writer."""
        with self._lock:
            try:
                self._conn = self._conn or sqlite3.connect(
                    self._path, timeout=5, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.rounds += 1
            except sqlite3.Error as exc:  # never fatal: the next round tries again
                log.warning("sqlite checkpoint failed", extra={"error": type(exc).__name__})

    def _loop(self) -> None:
        while not self._stopped.wait(self._every):
            self.run_once()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop_soon(self) -> None:
        self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
