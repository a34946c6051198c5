"""`backcoach check-config`: read the environment as the bot would and say what is missing or wrong.

Secrets are reported only as "set" or "missing"; the database URL is shown with its password hidden.
Exit status 1 when something would stop the bot from serving, 0 otherwise (warnings included).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.engine import make_url

from bot.config import Settings, telegram_api_root
from bot.storage.db import is_sqlite_file

_TELEGRAM_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_TOKENISH = re.compile(r"^(?:bot)?(?=[A-Za-z0-9_:-]*\d)[A-Za-z0-9_:-]{16,}$")  # a long random-looking segment


def redact_url(value: str) -> str:
    """A URL as it may be shown: no user:password@, no query values, and no path segment that looks like a
    token (a webhook path with a secret in it, a Bot API URL with the bot's token)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "(unparsable)"
    if not parts.scheme or not parts.netloc:
        return value
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.password is not None:  # user:password@ keeps the user, never the password
        host = f"{parts.username}:***@{host}"
    elif parts.username:  # a lone user part may well be a token
        host = f"***@{host}"
    path = "/".join("***" if _TOKENISH.match(segment) else segment for segment in parts.path.split("/"))
    query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, host, path, query, ""))


def _shown(name: str, value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, SecretStr):
        return "set (hidden)"
    if name == "BACKCOACH_DATABASE_URL":
        try:
            return redact_url(make_url(str(value)).render_as_string(hide_password=True))
        except Exception:
            return "(unparsable)"
    text = str(value)
    if name == "TELEGRAM_API_BASE_URL" and re.search(r"/bot\d+:", text):
        return "(contains a bot token: hidden)"
    return redact_url(text) if "://" in text else text


def _settings_errors(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """Pydantic's errors by environment variable name; the offending input is never echoed."""
    aliases = {name: f.validation_alias for name, f in model.model_fields.items()}
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = str(err["loc"][0]) if err["loc"] else "?"
        out.append(f"{aliases.get(loc, loc)}: {err['msg']}")
    return out


def check(settings: Settings, slack_extra: dict[str, object]) -> Report:
    report = Report()
    for name, f in Settings.model_fields.items():
        report.lines.append(f"{f.validation_alias:34s} {_shown(str(f.validation_alias), getattr(settings, name))}")
    for alias, value in slack_extra.items():
        report.lines.append(f"{alias:34s} {_shown(alias, value)}")
    _check_core(settings, report)
    telegram = _check_telegram(settings, report)
    slack = _check_slack(settings, slack_extra, report)
    if not telegram and not slack:
        report.errors.append(
            "no platform configured: set TELEGRAM_BOT_TOKEN and/or Slack's variables "
            "(only `backcoach chat` works without)"
        )
    return report


def _check_core(s: Settings, report: Report) -> None:
    try:
        url = make_url(s.database_url)
        if url.drivername not in _DRIVERS:
            report.errors.append(f"BACKCOACH_DATABASE_URL: driver {url.drivername!r}; use one of {', '.join(_DRIVERS)}")
        elif url.drivername.startswith("sqlite") and not is_sqlite_file(url.database):
            report.errors.append("BACKCOACH_DATABASE_URL: SQLite needs a file path (in memory, everything is lost)")
        elif url.drivername.startswith("sqlite"):
            report.warnings.append("BACKCOACH_DATABASE_URL is SQLite: run one process only (PostgreSQL scales out)")
    except Exception:
        report.errors.append("BACKCOACH_DATABASE_URL: not a database URL")
    if s.tick_seconds <= 0:
        report.errors.append("BACKCOACH_TICK_SECONDS must be above 0")
    if not 0 < s.port < 65536:
        report.errors.append("BACKCOACH_PORT must be 1-65535")
    if s.reminder_grace_minutes < 0:
        report.errors.append("BACKCOACH_REMINDER_GRACE_MINUTES must not be negative")
    if s.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        report.errors.append("BACKCOACH_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")


def _check_telegram(s: Settings, report: Report) -> bool:
    token = s.telegram_bot_token.get_secret_value() if s.telegram_bot_token else ""
    if not token:
        if s.telegram_webhook_url or s.telegram_webhook_secret:
            report.errors.append("TELEGRAM_WEBHOOK_URL/SECRET set but TELEGRAM_BOT_TOKEN missing")
        return False
    if not _TELEGRAM_TOKEN.match(token):
        report.errors.append("TELEGRAM_BOT_TOKEN does not look like a BotFather token (digits:letters)")
    if s.telegram_api_base_url:
        try:
            telegram_api_root(s.telegram_api_base_url)
        except ValueError as exc:
            report.errors.append(str(exc))
    if not s.telegram_webhook_url:
        report.warnings.append(
            "TELEGRAM_WEBHOOK_URL missing: long polling, one process, `backcoach run` only; "
            "`backcoach serve` needs the webhook"
        )
        return True
    if not s.telegram_webhook_url.startswith("https://"):
        report.warnings.append("TELEGRAM_WEBHOOK_URL is not https: Telegram only delivers to https URLs")
    secret = s.telegram_webhook_secret.get_secret_value() if s.telegram_webhook_secret else ""
    if not secret:
        report.errors.append("TELEGRAM_WEBHOOK_SECRET missing: webhook mode needs it")
    elif not _WEBHOOK_SECRET.match(secret):
        report.errors.append("TELEGRAM_WEBHOOK_SECRET: use 1-256 characters of A-Z a-z 0-9 _ -")
    return True


def _check_slack(s: Settings, extra: dict[str, object], report: Report) -> bool:
    bot = s.slack_bot_token.get_secret_value() if s.slack_bot_token else ""
    app = s.slack_app_token.get_secret_value() if s.slack_app_token else ""
    signing = s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else ""
    client_id, client_secret = extra.get("SLACK_CLIENT_ID"), extra.get("SLACK_CLIENT_SECRET")
    if not (bot or app or signing or client_id or client_secret):
        return False
    if not app and not signing:
        report.errors.append("SLACK_SIGNING_SECRET missing (HTTP mode), or set SLACK_APP_TOKEN for Socket Mode")
    if not bot and not (client_id and client_secret):
        report.errors.append("Slack needs SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID + SLACK_CLIENT_SECRET")
    if bot and not bot.startswith("xoxb-"):
        report.errors.append("SLACK_BOT_TOKEN should start with xoxb-")
    if app and not app.startswith("xapp-"):
        report.errors.append("SLACK_APP_TOKEN should start with xapp-")
    if app:
        report.warnings.append("SLACK_APP_TOKEN set: Socket Mode, one process per app token")
    return True


def main(out: TextIO = sys.stdout) -> int:
    from adapters.slack import SlackOptions

    try:
        settings = Settings()
        options = SlackOptions()
    except ValidationError as exc:
        for line in _settings_errors(exc, SlackOptions if exc.title == "SlackOptions" else Settings):
            print(f"error: {line}", file=out)
        return 1
    extra: dict[str, object] = {
        "SLACK_CLIENT_ID": options.client_id,
        "SLACK_CLIENT_SECRET": options.client_secret,
        "SLACK_REDIRECT_URI": options.redirect_uri,
        "SLACK_HTTP_HOST": options.host,
        "SLACK_HTTP_PORT": options.port,
        "SLACK_EVENTS_PATH": options.path,
    }
    report = check(settings, extra)
    for line in report.lines:
        print(line, file=out)
    for line in report.warnings:
        print(f"warning: {line}", file=out)
    for line in report.errors:
        print(f"error: {line}", file=out)
    print("configuration OK" if not report.errors else f"{len(report.errors)} problem(s)", file=out)
    return 1 if report.errors else 0
