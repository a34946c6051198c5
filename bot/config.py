"""Configuration, only from the environment (and an optional .env file). Secrets are never logged."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///backcoach.sqlite3",
        validation_alias="BACKCOACH_DATABASE_URL",
        description="SQLAlchemy async URL: a SQLite file by default, or postgresql+asyncpg://…",
    )
    log_level: str = Field(default="INFO", validation_alias="BACKCOACH_LOG_LEVEL")
    reminder_grace_minutes: int = Field(default=120, validation_alias="BACKCOACH_REMINDER_GRACE_MINUTES")
    tick_seconds: float = Field(default=5.0, validation_alias="BACKCOACH_TICK_SECONDS")
    host: str = Field(default="0.0.0.0", validation_alias="BACKCOACH_HOST")  # `backcoach serve` listens here
    port: int = Field(default=8080, validation_alias="BACKCOACH_PORT")
    db_wait_seconds: float = Field(default=120.0, validation_alias="BACKCOACH_DB_WAIT_SECONDS")
    # How long an outbox claim lasts unrenewed: a live process renews it every third of this; after a crash,
    # what the dead process held is sent by another (or the restarted) process once it runs out.
    outbox_lease_seconds: float = Field(default=60.0, gt=0, validation_alias="BACKCOACH_OUTBOX_LEASE_SECONDS")

    telegram_bot_token: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_url: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_api_base_url: str | None = Field(default=None, validation_alias="TELEGRAM_API_BASE_URL")

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")


_BOT_SUFFIX = re.compile(r"/bot/?$")
_TOKEN_IN_PATH = re.compile(r"/bot\d+:")


def telegram_api_root(value: str) -> str:
    """TELEGRAM_API_BASE_URL as a server root. Both `http://host:port` and python-telegram-bot's own
    `base_url` form `http://host:port/bot` (which its docs use for a local Bot API server) are accepted;
    anything else raises ValueError saying exactly what to change (the message never repeats a token)."""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("TELEGRAM_API_BASE_URL must look like http://host:port (the Bot API server's root)")
    if _TOKEN_IN_PATH.search(parts.path):
        raise ValueError(
            "TELEGRAM_API_BASE_URL contains a bot token: remove /bot<token> and give the server's root, "
            "e.g. http://host:port"
        )
    if parts.query or parts.fragment:
        raise ValueError("TELEGRAM_API_BASE_URL must not have a ?query or #fragment: use http://host:port")
    path = _BOT_SUFFIX.sub("", parts.path.rstrip("/") + "/").rstrip("/") if parts.path else ""
    return f"{parts.scheme}://{parts.netloc}{path}"
