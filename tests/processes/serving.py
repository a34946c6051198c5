"""One `backcoach serve` process with Telegram webhooks and Slack HTTP on the local fakes, for process tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from adapters.testing.fake_telegram import TOKEN
from adapters.testing.slack_client import SECRET as SLACK_SECRET
from bot.bench.serve import ServeProcess, free_port, serve_env, telegram_env


@asynccontextmanager
async def serving_both(
    tmp_path: Path, telegram_url: str, slack_api_url: str, *, db_name: str, log_level: str
) -> AsyncIterator[ServeProcess]:
    port = free_port()
    env = serve_env(
        port,
        f"sqlite+aiosqlite:///{tmp_path / db_name}",
        BACKCOACH_TICK_SECONDS="0.5",
        BACKCOACH_LOG_LEVEL=log_level,
        SLACK_BOT_TOKEN="xoxb-one",
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_URL=slack_api_url,
        **telegram_env(telegram_url, TOKEN, port),
    )
    process = ServeProcess(env, tmp_path)
    await process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        await process.stop()
