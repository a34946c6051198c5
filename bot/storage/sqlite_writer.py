"""SQLite's write path: each event's whole transaction in one call on one worker thread.

aiosqlite hops to its thread and back for every statement and row fetch (about 30 hops per event), which
capped the engine at a few hundred events a second. Here the event's transaction runs start to finish on a
plain pysqlite connection in a single worker thread: one hop per event. SQLite has one writer anyway, so one
thread loses nothing. `BEGIN IMMEDIATE` takes the write lock at the start, so a second process on the same
file waits (busy timeout) instead of failing half-way through a read-then-write transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.db import sqlite_pragmas

T = TypeVar("T")


def _no_implicit_transactions(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # pysqlite must not BEGIN on its own; we BEGIN IMMEDIATE below


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class SqliteWriter:
    """Runs `work(session)` inside one transaction on the writer thread."""

    def __init__(self, async_url: URL) -> None:
        url = async_url.set(drivername="sqlite")
        self.engine = create_engine(url, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(self.engine, "connect", sqlite_pragmas(url.render_as_string(hide_password=False)))
        event.listen(self.engine, "connect", _no_implicit_transactions)
        event.listen(self.engine, "begin", _begin_immediate)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backcoach-sqlite")

    async def run(self, work: Callable[[Session], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_transaction, work)

    def _in_transaction(self, work: Callable[[Session], T]) -> T:
        with self._sessions() as session, session.begin():
            return work(session)

    def close(self) -> None:
        """Let the event in flight finish, then close the connection."""
        self._thread.shutdown(wait=True)
        self.engine.dispose()
