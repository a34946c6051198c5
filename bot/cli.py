"""`backcoach` command line: chat (console), run (scheduler + adapters), reports and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from bot.clock import OffsetClock
from bot.config import Settings
from bot.engine import Engine
from bot.logging_setup import configure_logging
from bot.storage.db import make_engine, migrate
from content.loader import ContentError, default_content


def _parse_now(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _chat(args: argparse.Namespace, settings: Settings) -> None:
    from adapters.console import ConsoleChat

    db = make_engine(args.db or settings.database_url)
    try:
        await migrate(db)
        engine = Engine(db, default_content(), OffsetClock(_parse_now(args.now)))
        await ConsoleChat(engine).run()
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backcoach", description="BackCoach: a back-exercise coaching bot.")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="chat with the bot in this terminal (no tokens needed)")
    chat.add_argument("--db", help="database URL (default: BACKCOACH_DATABASE_URL or ./backcoach.sqlite3)")
    chat.add_argument("--now", help="start the simulated clock at this UTC time, e.g. 2026-03-08T07:00")
    sub.add_parser("triage-report", help="print symptom recognition recall and false alarms on the labelled set")
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level if args.command != "chat" else "WARNING")
    try:
        content = default_content()  # validate content at start-up, before anything else
    except ContentError as exc:
        print(f"content error: {exc}", file=sys.stderr)
        return 2
    del content
    if args.command == "chat":
        asyncio.run(_chat(args, settings))
    elif args.command == "triage-report":
        from bot.triage_report import main as report

        report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
