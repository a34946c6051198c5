"""Slack at the HTTP level: the real slack-bolt app on 127.0.0.1 gets signed requests; its real slack_sdk
client talks to adapters/testing/fake_slack.py. Runs on SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from adapters import configured_adapters
from adapters import slack as slack_adapter
from adapters.slack import SlackOptions, build_slack
from adapters.testing.fake_slack import FakeSlack
from adapters.testing.slack_client import SlackSide, serve, slack_settings
from bot.engine import Engine
from bot.storage import repository as repo
from bot.storage.models import OutboxMessage, User
from bot.types import Inbound, Reply, UserRef
from bot.wire import replies_to_json
from content.loader import Content
from scheduler import outbox
from scheduler.inbox import person_of
from tests.adapters.slack_fixtures import fake_slack  # noqa: F401  (fixture `fake`)

TEAM = "T1"
USER = "U1"
DM = f"D{USER}"


@pytest.fixture
async def slack(engine: Engine, fake: FakeSlack) -> AsyncIterator[SlackSide]:
    adapter = build_slack(slack_settings(fake, SLACK_BOT_TOKEN="xoxb-one"), engine, SlackOptions(_env_file=None))
    async for side in serve(adapter, fake):
        yield side


async def deliver_due(slack: SlackSide, engine: Engine, delta: timedelta) -> None:
    """Move the clock and run the outbox as the scheduler tick does, through the Slack sender."""
    engine.clock.advance(delta)  # type: ignore[attr-defined]
    slack.mark = len(slack.fake.calls)
    now = engine.clock.now()
    await outbox.run_due_events(engine, now)
    await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, now)


async def onboard(slack: SlackSide) -> None:
    await slack.dm(TEAM, USER, "hello")
    assert "not a diagnosis" in slack.last_texts()
    await slack.tap(TEAM, USER, "I understand")
    for _ in range(10):
        if "Yes" not in slack.last_labels():
            break
        await slack.tap(TEAM, USER, "No")
    await slack.tap(TEAM, USER, "All of them")
    await slack.tap(TEAM, USER, "07:00")
    assert "Europe/Berlin" in slack.last_texts()  # users.info tz offered as the hint
    await slack.tap(TEAM, USER, "Yes")
    assert "all set" in slack.last_texts().lower(), slack.last_texts()


async def test_onboarding_and_session_over_http(
    slack: SlackSide, engine: Engine, fake: FakeSlack, content: Content
) -> None:
    await onboard(slack)
    assert len(fake.of("users.info")) == 1  # asked once, when the first message started onboarding
    assert fake.of("auth.test"), "Bolt checks its token"
    assert all(c.token == "xoxb-one" and c.args["channel"] == DM for c in fake.of("chat.postMessage"))
    updates = fake.of("chat.update")  # each tap turned the tapped question into the next, the answer on top
    assert updates and updates[0].args["ts"] == fake.of("chat.postMessage")[0].response["ts"]
    assert updates[0].args["blocks"][0]["elements"][0]["text"].startswith("✓ I understand")

    await slack.tap(TEAM, USER, "Start a session")
    for _ in content.safety.session_precheck:
        await slack.tap(TEAM, USER, "No")
    await slack.tap(TEAM, USER, "3")
    assert "Exercise 1 of 6" in slack.last_texts()
    for _ in range(200):
        labels, text = slack.last_labels(), slack.last_texts()
        if "Start" in labels and "Exercise" in text:
            await slack.tap(TEAM, USER, "Start")
        elif "I'll message you in" in text:
            await deliver_due(slack, engine, timedelta(seconds=41))  # the hold timer, via outbox + SlackSender
            assert slack.messages(), "the hold timer should message the user on Slack"
        elif "Ready" in labels:
            await slack.tap(TEAM, USER, "Ready")
        elif "Done" in labels:
            await slack.tap(TEAM, USER, "Done")
        else:
            break
    assert "How is your back pain now" in slack.last_texts()
    await slack.tap(TEAM, USER, "2")
    await slack.tap(TEAM, USER, "Fine")
    await slack.tap(TEAM, USER, "That's all")
    await slack.tap(TEAM, USER, "Log activity")
    await slack.tap(TEAM, USER, "20 min")
    await slack.tap(TEAM, USER, "5")
    assert "Session complete: 6 done, 0 skipped" in slack.last_texts()

    await slack.home(TEAM, USER)
    (publish,) = fake.of("views.publish")
    assert publish.args["user_id"] == USER
    home = json.dumps(publish.args["view"])
    assert content.program.exercises[0].name in home and "07:00" in home and "Sessions completed: 1" in home
    async with engine.sessions() as s:
        user = (await s.execute(select(User))).scalar_one()
    assert (user.workspace, user.platform_user_id, user.chat_id, user.timezone) == (TEAM, USER, DM, "Europe/Berlin")


async def test_slash_command_opens_the_dm_and_bot_messages_are_ignored(slack: SlackSide, fake: FakeSlack) -> None:
    response = await slack.command(TEAM, USER, "help", channel="C42")
    assert response.status == 200
    assert fake.of("conversations.open")[0].args["users"] == USER
    assert slack.messages() and all(c.args["channel"] == DM for c in slack.messages())
    assert "/backcoach settings" in slack.last_texts()
    before = len(fake.of("chat.postMessage"))
    await slack.dm(TEAM, USER, "hello", subtype="message_changed")
    await slack.dm(TEAM, USER, "hello", bot_id="B1")
    await slack.event(
        TEAM,
        {"type": "message", "channel_type": "channel", "channel": "C1", "user": USER, "text": "hello", "ts": "1.0"},
    )
    assert len(fake.of("chat.postMessage")) == before


async def test_red_flag_in_free_text_gets_emergency_advice_first(slack: SlackSide, engine: Engine) -> None:
    await onboard(slack)
    await slack.dm(TEAM, USER, "both my legs are numb & I can't control my bladder")
    first = slack.messages()[0].args
    assert first["text"].startswith(":warning: This needs emergency care now")
    assert "999" in first["text"] and "emergency department" in first["text"]
    assert first["blocks"][0]["text"]["text"].startswith(":warning:")
    assert not any(b["type"] == "actions" for b in first["blocks"]), "emergency advice is never behind a button"


async def test_bad_signature_and_stale_timestamp_are_rejected(
    slack: SlackSide, engine: Engine, fake: FakeSlack
) -> None:
    body = slack.event_body(
        TEAM, {"type": "message", "channel_type": "im", "channel": DM, "user": USER, "text": "hello", "ts": "1.0"}
    )
    bad = await slack.post(body, "application/json", signature="v0=" + "0" * 64)
    stale_ts = int(time.time()) - 600
    stale = await slack.post(body, "application/json", timestamp=stale_ts)  # correctly signed, 10 minutes old
    assert (bad.status, stale.status) == (401, 401)
    ok = await slack.post(body, "application/json")
    assert ok.status == 200
    assert len(fake.of("chat.postMessage")) >= 1  # the same body, properly signed and fresh, is handled
    async with engine.sessions() as s:
        assert len((await s.execute(select(User))).scalars().all()) == 1


async def test_events_are_acknowledged_before_the_work_is_done(slack: SlackSide, fake: FakeSlack) -> None:
    fake.gate = asyncio.Event()  # Slack's Web API hangs: replies cannot be posted yet
    async with asyncio.timeout(30):  # a guard against a hang, not a timing assertion
        response = await slack.dm(TEAM, USER, "hello", wait=False)
    assert response.status == 200  # acked while the reply is still stuck in flight
    assert slack.adapter._tasks, "the work runs after the ack"
    fake.gate.set()
    await slack.adapter.drain()
    assert "not a diagnosis" in slack.last_texts()


async def test_one_persons_quick_events_are_answered_in_order(slack: SlackSide, fake: FakeSlack) -> None:
    fake.gate = asyncio.Event()  # the first reply hangs at Slack while a second message arrives
    await slack.dm(TEAM, USER, "hello", wait=False)
    await slack.dm(TEAM, USER, "are you there?", wait=False)
    key = person_of(UserRef("slack", TEAM, USER, ""))
    turns = slack.adapter.engine.turns._locks

    def second_is_parked_or_posted() -> bool:  # parked: waiting for its turn while the first holds it
        lock, users = turns.get(key, (None, 0))
        return (lock is not None and lock.locked() and users == 2) or len(fake.of("chat.postMessage")) >= 2

    async with asyncio.timeout(30):  # a guard against a hang, not a timing assertion
        await fake.posting.wait()
        while not second_is_parked_or_posted():  # noqa: ASYNC110 (two conditions, one of them inside Bolt's task)
            await asyncio.sleep(0.005)
    fake.gate.set()
    await slack.adapter.drain()
    texts = fake.posted_texts()
    assert "Hi, I'm BackCoach" in texts[0] and "not a diagnosis" in texts[0]  # the first event's reply first
    assert "not a diagnosis" in texts[-1] and len(texts) >= 2  # then the second event's (the question again)
    assert not turns  # per-person locks are not kept once idle


async def test_a_database_error_while_the_time_zone_hint_is_kept_delays_nothing(
    slack: SlackSide, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dropped connection while Slack's time zone is looked up or added to the received event: the event is
    still processed by this process (not left to the runner's recovery, seconds later) and the hint is kept."""
    lookup, add = slack_adapter.wants_timezone_hint, Engine.add_hint
    faults = {"lookup": 1, "add": 1}

    def lost(where: str) -> OperationalError:
        faults[where] -= 1
        return OperationalError(where, {}, ConnectionResetError("server closed the connection unexpectedly"))

    async def flaky_lookup(engine: Engine, workspace: str, user_id: str) -> bool:
        if faults["lookup"]:
            raise lost("lookup")
        return await lookup(engine, workspace, user_id)

    async def flaky_add(self: Engine, inbound: Inbound, timezone_hint: str) -> None:
        if faults["add"]:
            raise lost("add")
        await add(self, inbound, timezone_hint)

    monkeypatch.setattr(slack_adapter, "wants_timezone_hint", flaky_lookup)
    monkeypatch.setattr(Engine, "add_hint", flaky_add)
    await slack.dm(TEAM, USER, "hello")  # waits for the adapter's own work only: no recovery runs here
    assert faults == {"lookup": 0, "add": 0}
    assert "not a diagnosis" in slack.last_texts()
    await slack.tap(TEAM, USER, "I understand")
    while "Yes" in slack.last_labels():
        await slack.tap(TEAM, USER, "No")
    await slack.tap(TEAM, USER, "All of them")
    await slack.tap(TEAM, USER, "07:00")
    assert "Europe/Berlin" in slack.last_texts()  # the hint Slack gave survived the errors


async def test_a_429_while_answering_is_retried_in_place(slack: SlackSide, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=0)
    await slack.dm(TEAM, USER, "hello")
    posts = fake.of("chat.postMessage")
    assert posts[0].args["text"] == posts[1].args["text"]  # the rate-limited message was sent again
    assert "not a diagnosis" in slack.last_texts()


async def test_a_reply_slack_refuses_is_kept_in_the_outbox_and_sent_later(
    slack: SlackSide, engine: Engine, fake: FakeSlack
) -> None:
    fake.fail_next("chat.postMessage", status=500, error="internal_error")
    await slack.dm(TEAM, USER, "hello")
    assert [c.response for c in fake.of("chat.postMessage")] == [{}]  # the one try failed; nothing was posted
    assert await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, engine.clock.now()) == 0
    engine.clock.advance(outbox.backoff(1))  # type: ignore[attr-defined]  # the outbox's first backoff
    sent = await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, engine.clock.now())
    assert sent == 1
    assert "not a diagnosis" in "\n".join(fake.posted_texts())
    await slack.tap(TEAM, USER, "I understand")  # the deferred buttons still work
    assert "heart" in slack.last_texts().lower() or "spasm" in slack.last_texts().lower()


async def test_a_retried_event_is_handled_once(slack: SlackSide, fake: FakeSlack) -> None:
    first = await slack.dm(TEAM, USER, "hello", event_id="Ev0001")
    sent = len(fake.of("chat.postMessage"))
    assert first.status == 200 and sent >= 1
    retry = await slack.post(
        slack.event_body(
            TEAM,
            {"type": "message", "channel_type": "im", "channel": DM, "user": USER, "text": "hello", "ts": "1.0"},
            "Ev0001",
        ),
        "application/json",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status == 200
    assert len(fake.of("chat.postMessage")) == sent


async def _queue_message(engine: Engine, slack: SlackSide, key: str) -> int:
    await slack.dm(TEAM, USER, "hello")  # creates the user through the normal path
    now = engine.clock.now()
    async with engine.sessions() as s, s.begin():
        user = (await s.execute(select(User))).scalar_one()
        await s.run_sync(
            repo.enqueue, user.id, "message", key, {"replies": replies_to_json([Reply("Time to move!")])}, now, now
        )
        return user.id


async def _row(engine: Engine, key: str) -> OutboxMessage:
    async with engine.sessions() as s:
        return (await s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))).scalar_one()


async def test_outbox_429_waits_for_retry_after_then_sends(slack: SlackSide, engine: Engine, fake: FakeSlack) -> None:
    await _queue_message(engine, slack, "k429")
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    now = engine.clock.now()
    assert await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, now) == 0
    row = await _row(engine, "k429")
    assert (row.status, row.not_before, row.attempts) == ("pending", now + timedelta(seconds=7), 0)
    tries = [c for c in fake.of("chat.postMessage") if c.args["text"] == "Time to move!"]
    assert len(tries) == 1  # no in-place retry in the outbox's client: the row waits instead
    engine.clock.advance(timedelta(seconds=6))  # type: ignore[attr-defined]
    assert await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, engine.clock.now()) == 0
    engine.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    assert await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, engine.clock.now()) == 1
    assert (await _row(engine, "k429")).status == "sent"
    assert fake.of("chat.postMessage")[-1].args["text"] == "Time to move!"


async def test_outbox_account_inactive_stops_sending(slack: SlackSide, engine: Engine, fake: FakeSlack) -> None:
    user_id = await _queue_message(engine, slack, "kinactive")
    fake.fail_next("chat.postMessage", error="account_inactive")
    assert await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, engine.clock.now()) == 0
    row = await _row(engine, "kinactive")
    assert (row.status, row.last_error) == ("dropped", "blocked")
    async with engine.sessions() as s:
        assert (await s.get(User, user_id)).active is False


async def test_outbox_server_error_is_retried_with_backoff(slack: SlackSide, engine: Engine, fake: FakeSlack) -> None:
    await _queue_message(engine, slack, "k500")
    fake.fail_next("chat.postMessage", status=500, error="internal_error")
    now = engine.clock.now()
    await outbox.send_due_messages(engine, {"slack": slack.adapter.sender}, now)
    row = await _row(engine, "k500")
    assert (row.status, row.last_error, row.attempts) == ("pending", "TransientError", 1)
    assert row.not_before > now


async def test_backcoach_run_starts_http_mode_through_configured_adapters(
    engine: Engine, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SLACK_HTTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SLACK_HTTP_PORT", str(port))
    (adapter,) = configured_adapters(slack_settings(fake, SLACK_BOT_TOKEN="xoxb-one"), engine)
    assert adapter.platform == "slack" and adapter.sender.platform == "slack"
    await adapter.start()
    try:
        side = SlackSide(f"http://127.0.0.1:{port}/slack/events", adapter, fake)  # type: ignore[arg-type]
        body = json.dumps({"type": "url_verification", "token": "legacy", "challenge": "c-123"})
        response = await side.post(body, "application/json")
        assert (response.status, json.loads(response.text)) == (200, {"challenge": "c-123"})
        unsigned = await side.post(body, "application/json", signature="v0=bad")
        assert unsigned.status == 401
    finally:
        await adapter.stop()


async def test_the_driver_taps_only_buttons_slack_still_shows(slack: SlackSide) -> None:
    """A question closed by an edit has no buttons in Slack any more: the driver must not tap its old version."""
    await onboard(slack)
    with pytest.raises(AssertionError, match="no button 'I understand'"):
        slack.find_button("I understand", f"D{USER}")
    labels = [
        e["text"]["text"]
        for c in slack.current_versions(f"D{USER}")
        for b in c.args.get("blocks", [])
        if b.get("type") == "actions"
        for e in b["elements"]
    ]
    assert "I understand" not in labels and labels  # the live question's buttons are still there
