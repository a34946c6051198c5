"""The fake Slack Web API as a pytest fixture (`fake`), for the Slack adapter tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.testing.fake_slack import FakeSlack


@pytest.fixture(name="fake")
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """The Web API on 127.0.0.1; two workspaces told apart by bot token; U1's Slack time zone is Berlin."""
    server = FakeSlack(tokens={"xoxb-one": "T1", "xoxb-two": "T2"}, timezones={"U1": "Europe/Berlin"})
    await server.start()
    yield server
    await server.close()
