"""Database engines and start-up migrations (Alembic), for SQLite and PostgreSQL alike.

Bound parameters never appear in logged errors: they can hold a person's health data.

Alembic is imported only when the schema is behind: importing it (with Mako and every SQL dialect it
supports) was about a third of a second of each start, and almost every start finds the schema current.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")  # independent branches (e.g. the Slack store) may coexist


MIGRATION_LOCK = 0x6261636B  # "back": on PostgreSQL one process migrates at a time
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


def _assigned(tree: ast.Module, name: str) -> object:
    """The literal assigned to `name` at the top of a migration script (`x = ...` or `x: T = ...`)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return ast.literal_eval(node.value) if node.value is not None else None
    raise ValueError(f"migration script without {name!r}")


@cache
def head_revisions(versions: Path = MIGRATIONS_DIR / "versions") -> frozenset[str]:
    """The revisions no other migration builds on, read from the scripts' `revision` and `down_revision`
    without importing Alembic (tests/storage/test_migrate_check.py checks it against Alembic's own heads)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted(versions.glob("*.py")):
        tree = ast.parse(script.read_text(encoding="utf-8"), str(script))
        revisions.add(str(_assigned(tree, "revision")))
        down = _assigned(tree, "down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):  # a merge: several parents
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


def _current_revisions(connection: Connection) -> frozenset[str]:
    """The revisions the database is stamped with (none for a new database)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return frozenset(str(r[0]) for r in rows)


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the schema is at every head already: one small read, no Alembic, no lock."""
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_revisions)
        await conn.rollback()
    return current == head_revisions()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration; safe to call at every start. A current schema is
    recognised with one read, without Alembic. Otherwise Alembic upgrades, on PostgreSQL under an
    advisory lock, so processes starting together take turns (the second finds the schema current)."""
    if await is_current(engine):
        return
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_upgrade)
