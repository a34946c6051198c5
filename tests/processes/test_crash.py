"""Black-box crash tests: real `backcoach serve` and `backcoach run` processes, the fake Telegram and the
fake Slack recording every send, kill -9 at random moments, restart. Nothing is lost; what repeats stays
within the documented window (docs/deploy.md: at most the sends in flight at the kill, the outbox's
SEND_WORKERS per kill). Every wait is on a condition (a count of sends, the backlog read from /metrics),
never on elapsed time."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

import aiohttp
import pytest

from adapters.testing.fake_slack import Call, FakeSlack
from adapters.testing.fake_telegram import TOKEN, FakeTelegram, Fault, text_update
from adapters.testing.slack_client import SlackSide
from bot.bench.crash import (
    BotProcess,
    SlackWave,
    TelegramWave,
    WavePlatform,
    reminder_wave,
    settled,
    wait_for,
    wave_env,
)
from bot.bench.serve import SECRET, free_port
from content.loader import Content
from scheduler.outbox import SEND_WORKERS
from tests.conftest import PG_URL, _drop_pg_database, _fresh_pg_database
from tests.processes.test_serve_pg import _Remote

SEED = int(os.environ.get("BACKCOACH_CRASH_SEED", random.randrange(1 << 30)))


@pytest.mark.parametrize("platform", ["telegram", "slack"])
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_kill_9_during_a_reminder_wave(
    fake_tg: FakeTelegram, fake_slack: FakeSlack, tmp_path: Path, kind: str, platform: str
) -> None:
    """Every person gets their reminder; what repeats is at most what was in flight at each kill."""
    if kind == "postgresql" and not PG_URL:
        pytest.skip("needs BACKCOACH_TEST_POSTGRES_URL (CI sets it)")
    name = ""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'wave.sqlite3'}"
    else:
        name, url = await _fresh_pg_database()
    try:
        kills = 2
        wave: WavePlatform = TelegramWave(fake_tg, TOKEN) if platform == "telegram" else SlackWave(fake_slack)
        figures = await reminder_wave(wave, url, tmp_path, users=40, kills=kills, rng=random.Random(SEED))
    finally:
        if name:
            await _drop_pg_database(name)
    print(f"seed={SEED} {figures}")
    assert figures.lost == 0, figures
    assert figures.received >= figures.users, figures
    assert figures.duplicated <= kills * SEND_WORKERS, figures


async def _post(url: str, update: dict[str, object]) -> int:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(f"{url}/telegram", data=json.dumps(update), headers=headers) as resp:
                return resp.status
        except aiohttp.ClientError:
            return 0  # the process died with the request open


def _replies_to(fake: FakeTelegram, chat: int) -> list[str]:
    return [str(c.params.get("text")) for c in fake.delivered() if str(c.params.get("chat_id")) == str(chat)]


def _tries_to(fake: FakeTelegram, chat: int) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in fake.calls
        if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(chat)
    ]


@pytest.mark.parametrize("command", ["serve", "run"])
async def test_kill_9_between_a_tap_and_its_reply(fake_tg: FakeTelegram, tmp_path: Path, command: str) -> None:
    """The state is saved and the reply is on its way when the process dies: the restarted process sends
    the reply (after the dead one's lease), once; Telegram's redelivery of the update is dropped."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tap.sqlite3'}"
    chat = 4242
    update = text_update(chat, "/start") | {"update_id": 777}

    def start(port: int) -> BotProcess:
        env = wave_env(port, url, TelegramWave(fake_tg, TOKEN).env(port))
        if command == "run":  # long polling: no webhook URL
            env = {k: v for k, v in env.items() if k not in ("TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET")}
        return BotProcess(env, tmp_path, command=command)

    fake_tg.fail("sendMessage", Fault.slow(3600))  # the platform takes the reply and never answers
    first = start(free_port())
    await first.start()
    if command == "serve":
        await first.wait_ready()
        request = asyncio.create_task(_post(first.url, update))
    else:
        await wait_for(lambda: any(c.method == "setMyCommands" for c in fake_tg.calls), 60, "run never started")
        fake_tg.push(update)
    await wait_for(lambda: len(_tries_to(fake_tg, chat)) >= 1, 60, "the reply never left")
    await first.kill()  # kill -9 while the reply is in flight
    if command == "serve":
        assert await request == 0
    assert _replies_to(fake_tg, chat) == []  # nothing reached the person yet

    second = start(free_port())
    await second.start()
    try:
        if command == "serve":
            await second.wait_ready()
            assert await _post(second.url, update) == 200  # Telegram delivers the unanswered update again
        else:
            fake_tg.push(update)  # and so does getUpdates, if the offset was never confirmed
        await wait_for(lambda: len(_replies_to(fake_tg, chat)) >= 1, 60, "the reply was lost")
        if command == "serve":
            await settled(second.url)
    finally:
        if command == "serve":
            await second.stop()
        else:  # `run` stops gracefully only after its 30 s long poll; nothing here needs that
            await second.kill()
    replies = _replies_to(fake_tg, chat)
    assert "BackCoach" in replies[0] and "not a diagnosis" in replies[0]  # /start's two replies, as one message
    assert len(replies) == 1, replies  # once
    assert len(_tries_to(fake_tg, chat)) <= len(replies) + 1  # plus at most the one in flight at the kill


def _to(fake: FakeSlack, channel: str, since: int, methods: frozenset[str]) -> list[Call]:
    return [c for c in fake.calls[since:] if c.method in methods and c.args.get("channel") == channel]


@pytest.mark.parametrize("event", ["dm", "tap"])
async def test_slack_kill_9_between_an_event_and_its_reply(
    fake_slack: FakeSlack, tmp_path: Path, content: Content, event: str
) -> None:
    """Slack was answered (the event is durable) and the reply is on its way when the process dies: the
    restarted process sends the reply once (after the dead one's lease); Slack, answered 200, never retries."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'slack-tap.sqlite3'}"
    user, channel = "U4242", "DU4242"
    sends = frozenset({"chat.postMessage", "chat.update"})

    def start() -> BotProcess:
        port = free_port()
        return BotProcess(wave_env(port, url, SlackWave(fake_slack).env(port)), tmp_path)

    first = start()
    await first.start()
    await first.wait_ready()
    side = SlackSide(f"{first.url}/slack/events", _Remote(first.url), fake_slack)  # type: ignore[arg-type]
    if event == "tap":  # someone new says hello and is asked to consent; the kill comes with their tap
        await side.dm("T1", user, "hello")
        assert any(content.msg("button.agree") in label for label in side.last_labels())
    mark = len(fake_slack.calls)
    fake_slack.gated, fake_slack.gate = sends, asyncio.Event()  # Slack takes the reply and never answers
    if event == "tap":
        acked = await side.tap("T1", user, content.msg("button.agree"), wait=False)
    else:
        acked = await side.dm("T1", user, "hello", wait=False)
    assert acked.status == 200
    await wait_for(lambda: _to(fake_slack, channel, mark, sends), 60, "the reply never left")
    await first.kill()  # kill -9 while the reply is in flight
    gate = fake_slack.gate
    fake_slack.gate = None
    gate.set()  # the held request finds its caller gone: as if Slack never took it
    await wait_for(lambda: all(c.response or c.lost for c in _to(fake_slack, channel, mark, sends)), 60, "held")
    assert not [c for c in _to(fake_slack, channel, mark, sends) if c.answered]  # nothing reached the person

    second = start()
    await second.start()
    try:
        await second.wait_ready()
        await wait_for(lambda: any(c.answered for c in _to(fake_slack, channel, mark, sends)), 60, "reply lost")
        await settled(second.url)
    finally:
        await second.stop()
    tried = _to(fake_slack, channel, mark, sends)
    answered = [c for c in tried if c.answered]
    said = [(c.method, c.args.get("text")) for c in answered]
    assert len(said) == len(set(said)), said  # once each
    assert len(tried) <= len(answered) + 1, tried  # plus at most the one in flight at the kill
    if event == "dm":  # the hello's reply is the consent question
        assert any(content.msg("button.agree") in str(c.args.get("blocks")) for c in answered)
    else:  # the tap's reply moves onboarding on
        assert any(c.args.get("text") and content.msg("onboarding.consent") not in c.args["text"] for c in answered)
