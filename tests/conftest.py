"""Shared fixtures: a real database (SQLite file per test; PostgreSQL when configured), a fake clock,
and a chat transcript helper that drives `Engine.handle` like a person would."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.testing.chat import Chat
from adapters.testing.fake_slack import FakeSlack
from adapters.testing.fake_telegram import FakeTelegram
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.db import make_engine, migrate
from content.loader import Content, default_content

PG_URL = os.environ.get("BACKCOACH_TEST_POSTGRES_URL")
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def content() -> Content:
    return default_content()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"


# Migrated once per test run, then copied for each test: every test still gets its own real database, but
# runs Alembic's migrations only once (they were most of the suite's time). Keyed by kind.
_TEMPLATES: dict[str, str] = {}


async def _fresh_pg_database(*, template: str | None = None) -> tuple[str, str]:
    """Create a throw-away database so parallel runs never share tables (a copy of `template`, if given)."""
    assert PG_URL
    name = f"backcoach_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    await admin.dispose()
    base, _, _ = PG_URL.rpartition("/")
    return name, f"{base}/{name}"


async def _pg_template() -> str:
    if "postgresql" not in _TEMPLATES:
        name, url = await _fresh_pg_database()
        db = make_engine(url)
        try:
            await migrate(db)
        finally:
            await db.dispose()  # a template must have no connections when it is copied
        _TEMPLATES["postgresql"] = name
    return _TEMPLATES["postgresql"]


async def _sqlite_template(directory: Path) -> Path:
    if "sqlite" not in _TEMPLATES:
        path = directory / "template.sqlite3"
        db = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate(db)
        finally:
            await db.dispose()
        with closing(sqlite3.connect(path)) as conn:  # everything into the main file, so one copy is whole
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        _TEMPLATES["sqlite"] = str(path)
    return Path(_TEMPLATES["sqlite"])


# PostgreSQL databases of this test process that a test has finished with: the next test takes one and
# empties it instead of creating a database (CREATE DATABASE from the template and DROP DATABASE took half
# a second to two seconds per test on this machine; emptying takes a few hundredths).
_PG_SPARE: list[str] = []
# Databases finished with during the running test: spare only once the test is over. A test that uses two
# databases one after the other (tests/scheduler/test_outbox_render_inputs.py) must not get its first one
# back, emptied, while that one's engine may still be finishing a task on it in the same event loop.
_PG_RELEASED: list[str] = []


@pytest.fixture(autouse=True)
def _spare_pg_databases_after_the_test() -> Iterator[None]:
    yield
    _PG_SPARE.extend(_PG_RELEASED)
    _PG_RELEASED.clear()


def _pg_url(name: str) -> str:
    assert PG_URL
    return f"{PG_URL.rpartition('/')[0]}/{name}"


async def _emptied(name: str) -> bool:
    """Make a finished test's database as the template left it: no other connection to it (a leaked one
    is terminated), every row of every table gone except Alembic's stamp, every sequence back at its
    start. False if that could not be done (the database is then dropped by the caller)."""
    assert PG_URL
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    db = create_async_engine(_pg_url(name))
    try:
        async with admin.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
        async with db.begin() as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            await conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK order needed
            tables = (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
            ).scalars()
            for table in list(tables):
                await conn.execute(text(f'DELETE FROM "{table}"'))
            await conn.execute(text("SELECT setval(seqrelid, seqstart, false) FROM pg_sequence"))
        return True
    except Exception:  # not a superuser, a lock never released, ...: a new database instead
        return False
    finally:
        await db.dispose()
        await admin.dispose()


async def _pg_database_for_a_test() -> tuple[str, str]:
    """A migrated, empty database: a finished test's, emptied, or a new copy of the template."""
    while _PG_SPARE:
        name = _PG_SPARE.pop()
        if await _emptied(name):
            return name, _pg_url(name)
        await _drop_pg_database(name)
    return await _fresh_pg_database(template=await _pg_template())


@pytest.fixture(scope="session", autouse=True)
def _drop_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    spare, _PG_SPARE[:] = list(_PG_SPARE), []
    for name in spare:
        asyncio.run(_drop_pg_database(name))
    if "postgresql" in _TEMPLATES:
        asyncio.run(_drop_pg_database(_TEMPLATES.pop("postgresql")))


async def _drop_pg_database(name: str) -> None:
    assert PG_URL
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database of the given kind, for this test alone (on PostgreSQL a finished test's
    database, emptied, may be given to the next test of the same process; see `_emptied`)."""
    if kind == "sqlite":
        shutil.copyfile(await _sqlite_template(tmp_path.parent), tmp_path / "test.sqlite3")
        db = make_engine(sqlite_url(tmp_path))
        await migrate(db)  # already at head: a quick check that nothing is missing
        try:
            yield db
        finally:
            await db.dispose()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need BACKCOACH_TEST_POSTGRES_URL (CI sets it)")
    name, url = await _pg_database_for_a_test()
    db = make_engine(url)
    try:
        yield db
    finally:
        await db.dispose()
        _PG_RELEASED.append(name)  # spare once this test is over; emptied when the next test takes it


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with database("sqlite", tmp_path) as db:
        yield db


@pytest.fixture
async def pg_db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with database("postgresql", tmp_path) as db:
        yield db


CORE_TESTS = Path(__file__).parent / "core"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """tests/core is about the flows, not storage: its PostgreSQL variants run only where a test is marked
    `storage` (tests/storage and tests/scheduler, where storage is the point, run everything on both)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        on_pg = "[postgresql" in item.nodeid
        in_core = CORE_TESTS in Path(str(item.path)).parents
        (dropped if on_pg and in_core and item.get_closest_marker("storage") is None else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """Both databases: the same behaviour must hold on SQLite and PostgreSQL."""
    async with database(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def engine(db: AsyncEngine, content: Content, clock: FakeClock) -> Iterator[Engine]:
    engine = Engine(db, content, clock)
    yield engine
    engine.close()


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    """The Telegram Bot API, played on 127.0.0.1."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """The Slack Web API on 127.0.0.1, with one workspace (T1) and its bot token."""
    server = FakeSlack(tokens={"xoxb-one": "T1"})
    await server.start()
    yield server
    await server.close()
