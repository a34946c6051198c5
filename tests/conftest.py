"""Shared fixtures: a real database (SQLite file per test; PostgreSQL when configured), a fake clock,
and a chat transcript helper that drives `Engine.handle` like a person would."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
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


async def _fresh_pg_database() -> tuple[str, str]:
    """Create a throw-away database so parallel runs never share tables."""
    assert PG_URL
    name = f"backcoach_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    base, _, _ = PG_URL.rpartition("/")
    return name, f"{base}/{name}"


async def _drop_pg_database(name: str) -> None:
    assert PG_URL
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database of the given kind, removed afterwards."""
    if kind == "sqlite":
        db = make_engine(sqlite_url(tmp_path))
        await migrate(db)
        try:
            yield db
        finally:
            await db.dispose()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need BACKCOACH_TEST_POSTGRES_URL (CI sets it)")
    name, url = await _fresh_pg_database()
    db = make_engine(url)
    try:
        await migrate(db)
        yield db
    finally:
        await db.dispose()
        await _drop_pg_database(name)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with database("sqlite", tmp_path) as db:
        yield db


@pytest.fixture
async def pg_db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with database("postgresql", tmp_path) as db:
        yield db


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
