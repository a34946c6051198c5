"""Hostile and broken requests against a real `backcoach serve` logging at DEBUG: bodies over the limit
refused while they are read (before any secret or signature check), malformed JSON and bad Slack
timestamps answered 4xx without a traceback, a forged update cannot point someone's conversation at
another chat, and no message text reaches the log, Bolt's refused-signature line included. Also
`check-config` showing URLs without their credentials."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from adapters.testing.fake_slack import FakeSlack
from adapters.testing.fake_telegram import FakeTelegram, text_update
from adapters.testing.slack_client import SlackSide
from bot.bench.serve import SECRET as WEBHOOK_SECRET
from bot.bench.serve import ServeProcess
from bot.check_config import main as check_config
from bot.check_config import redact_url
from bot.storage.db import make_engine
from bot.storage.models import User
from tests.processes.serving import serving_both
from tests.processes.test_serve_pg import WebhookPerson, _Remote, settled

PRIVATE = "numbness in my left foot"


@pytest.fixture
async def proc(fake_tg: FakeTelegram, fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[ServeProcess]:
    async with serving_both(
        tmp_path, fake_tg.url, fake_slack.api_url, db_name="hostile.sqlite3", log_level="DEBUG"
    ) as process:
        yield process


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                return resp.status
        except aiohttp.ClientError:  # the server may close the connection on a refused upload
            return 413


async def test_hostile_and_broken_requests(
    proc: ServeProcess, fake_tg: FakeTelegram, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    hook = f"{proc.url}/telegram"
    big = b"x" * (5 * 1024 * 1024)
    assert await post(hook, big, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}) == 413
    assert await post(f"{proc.url}/slack/events", big, {"Content-Type": "application/json"}) == 413

    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    for junk in (b"not json", b"[]", b'"x"', b'{"message": 5}', b"{}", b'{"update_id": "1"}'):
        assert await post(hook, junk, right) == 400, junk

    side = SlackSide(f"{proc.url}/slack/events", _Remote(proc.url), fake_slack)  # type: ignore[arg-type]
    body = side.event_body(
        "T1", {"type": "message", "channel_type": "im", "channel": "DU1", "user": "U1", "text": PRIVATE, "ts": "1.1"}
    )
    stale = await side.post(body, "application/json", timestamp=int(time.time()) - 360)  # signed 6 minutes ago
    assert stale.status == 401
    assert (
        await side.post(body, "application/json", timestamp=0, headers={"X-Slack-Request-Timestamp": "soon"})
    ).status == 400

    # a forged update: Bob's id as the sender, Ann's chat: nobody's chat id changes, nothing is sent to Ann
    ann = WebhookPerson(fake_tg, 6001, [proc.url])
    await ann.say("/start")
    forged = text_update(6002, "/start", chat={"id": 6001, "type": "private", "first_name": "Ann"})
    mark = len(fake_tg.calls)
    assert await post(hook, json.dumps(forged | {"update_id": 99}).encode(), right) == 200
    await settled(proc.url)
    assert [c for c in fake_tg.calls[mark:] if c.method == "sendMessage"] == []
    await ann.say(PRIVATE)  # a real message with health words: handled, and never logged
    assert ann.sent()

    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hostile.sqlite3'}")
    try:
        async with db.connect() as conn:
            people = dict((await conn.execute(select(User.platform_user_id, User.chat_id))).all())
    finally:
        await db.dispose()
    assert people == {"6001": "6001"}

    assert proc.proc is not None and proc.proc.returncode is None
    await proc.stop()
    log = proc.output(tail=0)
    assert "DEBUG" in log  # the level really was DEBUG
    assert PRIVATE not in log and "numbness" not in log
    assert "Traceback" not in log


def test_check_config_hides_credentials_inside_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert redact_url("postgresql+asyncpg://bc:hunter2@db:5432/bc") == "postgresql+asyncpg://bc:***@db:5432/bc"
    assert redact_url("https://xoxb-123-abc@hooks.example/x") == "https://***@hooks.example/x"
    assert redact_url("https://bot.example.org/telegram/3f9a1c77b2e04d5e9f") == "https://bot.example.org/telegram/***"
    assert redact_url("https://api.example/bot123456:ABCdef_ghiJKLmnoPQR/x?token=abc") == (
        "https://api.example/***/x?token=***"
    )
    assert redact_url("https://bot.example.org/telegram") == "https://bot.example.org/telegram"
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "BACKCOACH_DATABASE_URL": "postgresql+asyncpg://bc:hunter2@db/bc",
        "TELEGRAM_BOT_TOKEN": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "TELEGRAM_WEBHOOK_URL": "https://user:pw@bot.example.org/hook/5f2b9d0c1e7a4b3c8d",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret",
        "TELEGRAM_API_BASE_URL": "http://admin:letmein@127.0.0.1:8081",
    }.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    check_config(out)
    shown = out.getvalue()
    for secret in ("hunter2", "pw@", "5f2b9d0c1e7a4b3c8d", "letmein", "ABCDEFGHIJ"):
        assert secret not in shown, shown
