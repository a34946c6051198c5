"""Structured, content-free logs: event kinds and counts only, never message text or health data."""

from __future__ import annotations

import json
import logging

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value ...` with only the extras a call passed explicitly."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        base = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if extras:
            base += " " + " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(extras.items()))
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


# Libraries that log what people wrote (or secrets) below these levels: kept there whatever the root level,
# so BACKCOACH_LOG_LEVEL=DEBUG shows our own detail but never a payload. Checked by tests/processes/test_hostile.py.
LIBRARY_FLOORS = {
    "httpx": logging.WARNING,  # request URLs, which carry the Telegram token
    "httpcore": logging.WARNING,
    "aiosqlite": logging.WARNING,  # every statement with its parameters
    "sqlalchemy": logging.WARNING,  # at DEBUG, every result row (the inbox holds a message until processed)
    "telegram": logging.INFO,  # PTB's DEBUG lines print whole updates
    "slack_bolt": logging.INFO,  # whole payloads at DEBUG
    "slack_sdk": logging.INFO,
    "apscheduler.executors.default": logging.WARNING,
    "multipart": logging.INFO,
    "backcoach": logging.INFO,  # the Bolt app's own logger (named after the app)
}
# slack-bolt logs the whole body of a request that fails its signature check at INFO.
_BOLT_VERIFIERS = ("slack_bolt.AsyncRequestVerification", "slack_bolt.RequestVerification")


class DropRequestBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "body:" not in str(record.msg)


def quiet_libraries() -> None:
    """Apply the floors above (raising a library's level, never lowering it) and silence Bolt's bodies.
    Child loggers that already exist get it too: Bolt copies the root's level onto each logger it makes,
    so call this again after building a Bolt app."""
    existing = list(logging.root.manager.loggerDict)
    for prefix, floor in LIBRARY_FLOORS.items():
        for name in [prefix, *(n for n in existing if n.startswith(prefix + ".") or n.startswith(prefix + ":"))]:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < floor:
                logger.setLevel(floor)
    for name in _BOLT_VERIFIERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropRequestBodies) for f in logger.filters):
            logger.addFilter(DropRequestBodies())


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(DropRequestBodies())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_libraries()
