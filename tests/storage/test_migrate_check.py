"""`migrate` at start-up: a current schema is recognised without Alembic; a new or older one is upgraded by
Alembic to the same heads Alembic itself finds."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.db import alembic_config, head_revisions, is_current, make_engine, migrate
from bot.storage.models import User
from tests.conftest import PG_URL, _drop_pg_database, _fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]


def test_the_heads_read_from_the_scripts_are_alembics_heads() -> None:
    assert head_revisions() == frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
        yield db
        await db.dispose()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need BACKCOACH_TEST_POSTGRES_URL (CI sets it)")
    name, url = await _fresh_pg_database()
    db = make_engine(url)
    try:
        yield db
    finally:
        await db.dispose()
        await _drop_pg_database(name)


def _stamped(conn: Connection) -> set[str]:
    return {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}


def _user_id_nullable(conn: Connection) -> bool:
    return next(c for c in inspect(conn).get_columns("outbox") if c["name"] == "user_id")["nullable"]


async def test_a_new_database_is_migrated_to_the_heads(empty: AsyncEngine) -> None:
    assert not await is_current(empty)
    await migrate(empty)
    assert await is_current(empty)
    async with empty.connect() as conn:
        assert await conn.run_sync(_stamped) == set(head_revisions())
    await migrate(empty)  # a second start finds it current and changes nothing
    async with empty.connect() as conn:
        assert await conn.run_sync(_stamped) == set(head_revisions())


async def test_a_database_one_migration_behind_is_upgraded(empty: AsyncEngine) -> None:
    def to_0006(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0006_exercise_held")

    async with empty.begin() as conn:
        await conn.run_sync(to_0006)
    assert not await is_current(empty)
    async with empty.connect() as conn:
        assert not await conn.run_sync(_user_id_nullable)  # 0007 makes it nullable
    await migrate(empty)
    async with empty.connect() as conn:
        assert await conn.run_sync(_stamped) == {"0007_farewell_reply"}
        assert await conn.run_sync(_user_id_nullable)


def test_a_start_on_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    """What makes the common start cheap: a process that migrates a current database never loads Alembic
    (the first migrate, of a new file, does)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'current.sqlite3'}"
    script = (
        "import asyncio, sys\n"
        "from bot.storage.db import make_engine, migrate\n"
        "async def main():\n"
        f"    db = make_engine({url!r})\n"
        "    await migrate(db)\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
        for _ in range(2)
    ]
    assert [r.stdout.strip() for r in runs] == ["True", "False"], [r.stderr for r in runs]


def _person(n: int) -> dict[str, object]:
    return {"platform": "console", "platform_user_id": f"u{n}", "chat_id": f"c{n}", "created_at": datetime.now(UTC)}


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need BACKCOACH_TEST_POSTGRES_URL (CI sets it)")
async def test_a_postgres_database_handed_on_to_the_next_test_is_as_new() -> None:
    """tests/conftest.py gives a finished test's PostgreSQL database to the next test, emptied: no rows left,
    sequences from the start, still at the heads, and no connection of the last test's left open."""
    from tests import conftest

    name, url = await conftest._pg_database_for_a_test()
    db, leaked = make_engine(url), make_engine(url)
    leaky: AsyncConnection | None = None
    try:
        async with db.begin() as conn:
            await conn.execute(insert(User), [_person(1), _person(2)])
        leaky = await leaked.connect()  # a test that forgot to close a connection, in a transaction
        await leaky.execute(insert(User).values(**_person(3)))
        conftest._PG_SPARE.append(name)
        again, _ = await conftest._pg_database_for_a_test()
        assert again == name  # handed on, not a new one
        async with db.begin() as conn:
            assert (await conn.execute(select(func.count()).select_from(User))).scalar_one() == 0
            new = await conn.execute(insert(User).values(**_person(4)).returning(User.id))
            assert new.scalar_one() == 1  # the identity starts again
        assert await is_current(db)
    finally:
        if leaky is not None:
            with contextlib.suppress(DBAPIError):  # its server side was terminated
                await leaky.close()
        await db.dispose()
        await leaked.dispose()
        await _drop_pg_database(name)
