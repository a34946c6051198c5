"""tests/core is about the flows' logic: `chat` is the pure driver (bot/flows/dispatch.handle, no database)
unless the test asks for the engine or the database itself, where the records, the outbox or the transaction
are part of what it checks: the person's records (figures, history, the export), the outbox (timers,
reminders, summaries) or the transaction. Such a test says so by asking for `engine`."""

from __future__ import annotations

import pytest

from adapters.testing.chat import Chat, PureChat, Transcript
from bot.clock import FakeClock
from content.loader import Content


@pytest.fixture
def chat(request: pytest.FixtureRequest, content: Content, clock: FakeClock) -> Transcript:
    if {"engine", "db"} & set(request.fixturenames):
        return Chat(request.getfixturevalue("engine"))
    return PureChat(content, clock)
