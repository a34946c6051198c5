"""Multi-workspace Slack: Bolt's OAuth flow and installation store in our database (SQLite and PostgreSQL),
at the HTTP level against adapters/testing/fake_slack.py."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select

from adapters import slack_store
from adapters.slack import SlackOptions, build_slack
from adapters.testing.fake_slack import FakeSlack
from adapters.testing.slack_client import SlackSide, serve, slack_settings
from bot.engine import Engine
from bot.storage.models import User
from bot.types import Reply, UserRef
from scheduler.sender import Blocked
from tests.adapters.slack_fixtures import fake_slack  # noqa: F401  (fixture `fake`)

CLIENT_ID = "111.222"


@pytest.fixture
async def oauth_slack(engine: Engine, fake: FakeSlack) -> AsyncIterator[SlackSide]:
    options = SlackOptions(_env_file=None, SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET="shh")  # type: ignore[call-arg]
    adapter = build_slack(slack_settings(fake), engine, options)
    store = slack_store.installation_store(CLIENT_ID, engine.db)
    for team, token in (("T1", "xoxb-one"), ("T2", "xoxb-two")):
        await store.async_save(
            Installation(
                app_id="A1",
                team_id=team,
                bot_token=token,
                bot_id=f"BBOT{team}",
                bot_user_id=f"UBOT{team}",
                user_id="UADMIN",
                installed_at=time.time(),
            )
        )
    async for side in serve(adapter, fake):
        yield side


async def test_two_workspaces_with_the_same_user_id_are_two_people(
    oauth_slack: SlackSide, engine: Engine, fake: FakeSlack
) -> None:
    await oauth_slack.dm("T1", "U1", "hello")
    await oauth_slack.tap("T1", "U1", "I understand")  # T1's U1 moves on; T2's U1 must still be at the start
    await oauth_slack.dm("T2", "U1", "hello")
    assert "not a diagnosis" in oauth_slack.last_texts()
    async with engine.sessions() as s:
        users = (await s.execute(select(User).order_by(User.id))).scalars().all()
    assert [(u.workspace, u.platform_user_id) for u in users] == [("T1", "U1"), ("T2", "U1")]
    assert users[0].profile.get("consented") is True and not users[1].profile.get("consented")
    tokens = {c.token for c in fake.of("chat.postMessage") if c.args["channel"] == "DU1"}
    assert tokens == {"xoxb-one", "xoxb-two"}  # each workspace answered with its own installation's token
    t2_posts = [c for c in fake.calls if c.method == "chat.postMessage" and c.token == "xoxb-two"]
    assert t2_posts and all(c.args.get("team_id") in (None, "T2") for c in t2_posts)
    await oauth_slack.dm("T1", "U1", "one more")
    await oauth_slack.dm("T2", "U1", "and another")
    assert sorted(c.token or "" for c in fake.of("auth.test")) == ["xoxb-one", "xoxb-two"]  # once per token


async def test_outbox_uses_each_workspace_token_and_stops_after_uninstall(
    oauth_slack: SlackSide, fake: FakeSlack
) -> None:
    sender = oauth_slack.adapter.sender
    await sender.send(UserRef("slack", "T2", "U1", "DU1"), [Reply("hello from the outbox")])
    assert fake.of("chat.postMessage")[-1].token == "xoxb-two"
    await oauth_slack.event("T2", {"type": "app_uninstalled"})  # Bolt's token-revocation listener
    with pytest.raises(Blocked):
        await sender.send(UserRef("slack", "T2", "U1", "DU1"), [Reply("anyone there?")])
    await sender.send(UserRef("slack", "T1", "U1", "DU1"), [Reply("still here")])
    assert fake.of("chat.postMessage")[-1].token == "xoxb-one"


async def test_oauth_install_flow_stores_the_installation_in_our_database(
    oauth_slack: SlackSide, engine: Engine, fake: FakeSlack
) -> None:
    base = oauth_slack.url.removesuffix("/slack/events")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/slack/install", allow_redirects=False) as resp:
            assert resp.status in (200, 302)
            cookie = resp.headers["Set-Cookie"].split(";")[0]
            location = resp.headers.get("Location") or await resp.text()
        state = re.search(r"state=([\w-]+)", location).group(1)  # type: ignore[union-attr]
        async with http.get(
            f"{base}/slack/oauth_redirect", params={"code": "c1", "state": state}, headers={"Cookie": cookie}
        ) as resp:
            assert resp.status == 200, await resp.text()
    assert fake.of("oauth.v2.access")
    bot = await slack_store.installation_store(CLIENT_ID, engine.db).async_find_bot(enterprise_id=None, team_id="T3")
    assert bot is not None and bot.bot_token == "xoxb-installed-c1"
    await oauth_slack.dm("T3", "U7", "hello")
    assert {c.token for c in oauth_slack.messages()} == {"xoxb-installed-c1"}


async def test_oauth_redirect_with_a_forged_state_installs_nothing(
    oauth_slack: SlackSide, engine: Engine, fake: FakeSlack
) -> None:
    base = oauth_slack.url.removesuffix("/slack/events")
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{base}/slack/oauth_redirect",
            params={"code": "c2", "state": "forged"},
            headers={"Cookie": "slack-app-oauth-state=forged"},
        ) as resp,
    ):
        assert resp.status >= 400
    assert not fake.of("oauth.v2.access")
    store = slack_store.installation_store(CLIENT_ID, engine.db)
    assert await store.async_find_bot(enterprise_id=None, team_id="T3") is None
