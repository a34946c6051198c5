"""`backcoach serve` as one process on SQLite (no PostgreSQL needed): the webhook's secret-token check,
Slack's signature check, /healthz, /metrics, a reply that goes through the outbox, and a graceful SIGTERM.
Also `backcoach check-config`: what is missing or wrong is named, secrets never printed."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from adapters.testing.fake_slack import FakeSlack
from adapters.testing.fake_telegram import FakeTelegram, Fault, text_update
from adapters.testing.slack_client import SlackSide
from bot.bench.serve import SECRET as WEBHOOK_SECRET
from bot.bench.serve import ServeProcess
from bot.check_config import main as check_config
from tests.processes.serving import serving_both
from tests.processes.test_serve_pg import WebhookPerson, _Remote, get, metric

PRIVATE_WORDS = "my private words about tingling"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeSlack]]:
    tg, slack = FakeTelegram(), FakeSlack(tokens={"xoxb-one": "T1"})
    await tg.start()
    await slack.start()
    yield tg, slack
    await tg.stop()
    await slack.close()


@pytest.fixture
async def proc(fakes: tuple[FakeTelegram, FakeSlack], tmp_path: Path) -> AsyncIterator[ServeProcess]:
    tg, slack = fakes
    async with serving_both(tmp_path, tg.url, slack.api_url, db_name="serve.sqlite3", log_level="INFO") as process:
        yield process


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_one_process_on_sqlite(proc: ServeProcess, fakes: tuple[FakeTelegram, FakeSlack]) -> None:
    tg, slack = fakes
    assert [c.method for c in tg.calls[:3]] == ["getMe", "setMyCommands", "setWebhook"]
    assert tg.calls[2].params["secret_token"] == WEBHOOK_SECRET
    assert tg.calls[2].params["url"] == f"{proc.url}/telegram"

    update = json.dumps(text_update(9001, "/start") | {"update_id": 1}).encode()
    hook = f"{proc.url}/telegram"
    assert await post(hook, update, {"Content-Type": "application/json"}) == 403
    assert await post(hook, update, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}) == 403
    assert await post(hook, b"not json", {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}) == 400
    assert not [c for c in tg.calls if c.method == "sendMessage"]  # nothing refused got as far as the engine

    side = SlackSide(f"{proc.url}/slack/events", _Remote(proc.url), slack)  # type: ignore[arg-type]
    forged = await side.post(
        side.event_body(
            "T1", {"type": "message", "channel_type": "im", "channel": "DU1", "user": "U1", "text": "hi", "ts": "1.1"}
        ),
        "application/json",
        signature="v0=forged",
    )
    assert forged.status == 401
    good = await side.dm("T1", "U1", PRIVATE_WORDS)
    assert good.status == 200 and side.messages(channel="DU1")

    # Telegram: a reply Telegram will not take now (502 twice) goes to the outbox; the tick sends it
    ann = WebhookPerson(tg, 9002, [proc.url])
    tg.fail("sendMessage", Fault.bad_gateway(), times=2)
    await ann.say(PRIVATE_WORDS)
    async with asyncio.timeout(60):  # a hang guard for a loaded machine, not a timing assertion
        while True:
            status, exposition = await get(f"{proc.url}/metrics")
            sent = metric(exposition, 'backcoach_outbox_sends_total{platform="telegram",result="sent"}')
            if sent >= 1 and metric(exposition, "backcoach_outbox_due") == 0:  # the tick may be mid-batch
                break
            await asyncio.sleep(0.1)
    assert status == 200
    assert metric(exposition, 'backcoach_outbox_sends_total{platform="telegram",result="sent"}') >= 1
    assert metric(exposition, "backcoach_events_handled_total") == 2
    assert metric(exposition, "backcoach_replies_total") >= 2
    assert metric(exposition, "backcoach_tick_duration_seconds_count") >= 1
    assert metric(exposition, "backcoach_outbox_due") == 0  # the backlog is sent (timers may wait for later)
    assert metric(exposition, "backcoach_database_up") == 1
    assert [c.params.get("text") for c in ann.mine(0) if c.method == "sendMessage"]

    status, body = await get(f"{proc.url}/healthz")
    assert status == 200
    report = json.loads(body)
    assert report["ok"] and report["database"] and report["last_tick_age_seconds"] is not None

    await proc.stop()
    log = proc.output()
    assert "stopped" in log  # SIGTERM: the tick finished, adapters closed, the database disposed
    assert PRIVATE_WORDS not in log and "tingling" not in log


def run_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    for name in (
        "BACKCOACH_DATABASE_URL",
        "BACKCOACH_PORT",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_URL",
        "TELEGRAM_WEBHOOK_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    out = io.StringIO()
    return check_config(out), out.getvalue()


TG_TOKEN = "123456:AAHsecretsecretsecretsecret"


def test_check_config_accepts_a_good_setup_and_hides_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = run_check(
        monkeypatch,
        tmp_path,
        {
            "BACKCOACH_DATABASE_URL": "postgresql+asyncpg://bot:dbpassword@db/backcoach",
            "TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
            "TELEGRAM_WEBHOOK_SECRET": "hooksecret",
            "SLACK_BOT_TOKEN": "xoxb-slacksecret",
            "SLACK_SIGNING_SECRET": "signsecret",
        },
    )
    assert code == 0, out
    assert "configuration OK" in out
    for secret in (TG_TOKEN, "dbpassword", "hooksecret", "slacksecret", "signsecret"):
        assert secret not in out
    assert "postgresql+asyncpg://bot:***@db/backcoach" in out


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "no platform configured"),
        ({"TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_WEBHOOK_URL": "https://x/telegram"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_CLIENT_ID"),
        ({"TELEGRAM_BOT_TOKEN": TG_TOKEN, "BACKCOACH_DATABASE_URL": "mysql://x/y"}, "BACKCOACH_DATABASE_URL"),
        (
            {"TELEGRAM_BOT_TOKEN": TG_TOKEN, "BACKCOACH_DATABASE_URL": "sqlite+aiosqlite:///:memory:"},
            "BACKCOACH_DATABASE_URL",
        ),
        ({"TELEGRAM_BOT_TOKEN": TG_TOKEN, "BACKCOACH_PORT": "eighty"}, "BACKCOACH_PORT"),
    ],
)
def test_check_config_names_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], named: str
) -> None:
    code, out = run_check(monkeypatch, tmp_path, env)
    assert code == 1
    assert any(named in line for line in out.splitlines() if line.startswith("error:")), out
    assert "eighty" not in out and "not-a-token" not in out  # the bad value itself is not echoed
