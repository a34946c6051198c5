"""Database engines and start-up migrations (Alembic), for SQLite and PostgreSQL alike.

Bound parameters never appear in logged errors: they can hold a person's health data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_sqlite_file(database: str | None) -> bool:
    """Whether an SQLite URL's database is a file (the engine's writer opens a second connection to it)."""
    return (
        bool(database)
        and database != ":memory:"
        and "mode=memory" not in str(database)
        and not str(database).startswith("file::memory:")
    )


def sqlite_pragmas(url: str) -> Callable[[Any, Any], None]:
    """A `connect` listener: WAL (on a file), a busy timeout and enforced foreign keys."""

    def apply(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        if ":memory:" not in url:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return apply


def sqlite_no_implicit_begin(dbapi_conn: Any, _record: Any) -> None:
    """pysqlite must not BEGIN on its own (it would be a deferred BEGIN, and late); see below."""
    dbapi_conn.isolation_level = None


def sqlite_begin_immediate(conn: Connection) -> None:
    """Every transaction takes SQLite's write lock at its start (waiting up to the busy timeout). A deferred
    transaction that read first and wrote later would fail outright if another connection (the engine's
    writer thread, another process) committed in between; an immediate one simply waits its turn."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", sqlite_pragmas(url))
        event.listen(engine.sync_engine, "connect", sqlite_no_implicit_begin)
        event.listen(engine.sync_engine, "begin", sqlite_begin_immediate)
        return engine
    return create_async_engine(url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=10)


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")  # independent branches (e.g. the Slack store) may coexist


MIGRATION_LOCK = 0x6261636B  # "back": on PostgreSQL one process migrates at a time


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration; safe to call at every start. On PostgreSQL under an
    advisory lock, so processes starting together take turns (the second finds the schema current)."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_upgrade)
