"""TELEGRAM_API_BASE_URL in both forms people use: the server's root, and python-telegram-bot's own
`base_url` form ending in /bot (which its docs use for a local Bot API server)."""

from __future__ import annotations

import pytest

from adapters.telegram import TelegramAdapter
from adapters.testing.fake_telegram import TOKEN, FakeTelegram
from bot.check_config import check
from bot.config import Settings, telegram_api_root
from bot.engine import Engine
from tests.adapters.test_telegram import config


@pytest.mark.parametrize("suffix", ["", "/", "/bot", "/bot/"])
async def test_both_forms_reach_the_bot_api(fake_tg: FakeTelegram, engine: Engine, suffix: str) -> None:
    adapter = TelegramAdapter(config(fake_tg, api_base_url=fake_tg.url + suffix), engine)
    await adapter.start()  # getMe, setMyCommands, deleteWebhook: a wrong route would fail here
    try:
        assert [c.method for c in fake_tg.calls[:2]] == ["getMe", "setMyCommands"]
    finally:
        await adapter.stop()


def test_roots_and_what_to_change() -> None:
    assert telegram_api_root("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081"
    assert telegram_api_root("https://proxy.example/telegram/") == "https://proxy.example/telegram"
    with pytest.raises(ValueError, match="remove /bot<token>") as raised:
        telegram_api_root(f"http://127.0.0.1:8081/bot{TOKEN}")
    assert TOKEN not in str(raised.value)
    with pytest.raises(ValueError, match="http://host:port"):
        telegram_api_root("127.0.0.1:8081")


def test_check_config_says_what_to_change() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=f"http://127.0.0.1:8081/bot{TOKEN}/"
    )
    report = check(settings, {})
    assert any("remove /bot<token>" in e for e in report.errors), report.errors
    assert TOKEN.split(":")[1] not in "\n".join(report.lines + report.errors)
    ok = Settings(_env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL="http://127.0.0.1:8081/bot")  # type: ignore[call-arg]
    assert not [e for e in check(ok, {}).errors if "TELEGRAM_API_BASE_URL" in e]
