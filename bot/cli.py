"""`backcoach` command line: parses arguments and hands over to bot/app.py (chat, run), bot/serve.py, reports
and benchmarks.

Everything past the standard library is imported after the arguments are parsed, and only what the
subcommand uses: `backcoach --help` (and a mistyped option) answers without loading the database layer,
the content or the triage model.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings


def _parse_now(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _stats(args: argparse.Namespace, settings: Settings) -> str:
    from bot.clock import SystemClock
    from bot.stats import report
    from bot.storage.db import make_engine, migrate

    db = make_engine(args.db or settings.database_url)
    try:
        await migrate(db)
        return await report(db, _parse_now(args.now) or SystemClock().now())
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backcoach", description="BackCoach: a back-exercise coaching bot.")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="chat with the bot in this terminal (no tokens needed)")
    chat.add_argument("--db", help="database URL (default: BACKCOACH_DATABASE_URL or ./backcoach.sqlite3)")
    chat.add_argument(
        "--now",
        help="start the simulated clock at this local time, in your zone once you have set one up (UTC before): "
        "2026-03-08T07:00; or name the zone: '2026-03-08T07:00 Europe/Berlin', 2026-03-08T07:00+01:00",
    )
    chat.add_argument("--files", help="folder for the files the bot sends you (default ~/.local/state/backcoach/files)")
    triage = sub.add_parser("triage-report", help="symptom recognition on the labelled corpus (content/triage)")
    triage.add_argument("--misses", action="store_true", help="list the tuning messages not caught")
    triage.add_argument("--part", choices=["tuning", "dev-look", "dev-blind", "heldout", "both", "all"], default="both")
    sub.add_parser("triage-build", help="train the triage model from content/triage and write model.json")
    stats = sub.add_parser("stats", help="operator figures for the last 7 days (no personal data)")
    stats.add_argument("--db", help="database URL (default: BACKCOACH_DATABASE_URL or ./backcoach.sqlite3)")
    stats.add_argument("--now", help="end of the 7-day window (UTC), default: now")
    run = sub.add_parser("run", help="run the bot: scheduler plus every configured adapter (console if none)")
    run.add_argument("--db", help="database URL (default: BACKCOACH_DATABASE_URL or ./backcoach.sqlite3)")
    sub.add_parser("serve", help="production: one web process for Telegram webhooks and Slack, /healthz, /metrics")
    sub.add_parser("check-config", help="say which settings are missing or wrong (never prints secrets)")
    bench = sub.add_parser("bench", help="benchmarks (print figures); `bench core --help`, `bench serve --help`")
    bench.add_argument("what", choices=["reminders", "core", "serve", "triage", "floor", "wave", "storage", "crash"])
    bench.add_argument("--users", type=int, default=100_000)
    bench.add_argument("--batch", type=int, default=500)
    bench.add_argument(
        "--pg", help="also on PostgreSQL (a throw-away database) at this URL; default BACKCOACH_TEST_POSTGRES_URL"
    )
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] in (
        ["bench", "core"],
        ["bench", "serve"],
        ["bench", "triage"],
        ["bench", "floor"],
        ["bench", "wave"],
        ["bench", "storage"],
        ["bench", "crash"],
    ):  # these benchmarks parse their own options
        from importlib import import_module

        import_module(f"bot.bench.{argv[1]}").main(argv[2:])
        return 0
    args = parser.parse_args(argv)
    if args.command == "check-config":  # before Settings(): a malformed value is reported, not raised
        from bot.check_config import main as check_config

        return check_config()

    import asyncio

    from bot.config import Settings
    from bot.logging_setup import configure_logging
    from content.loader import ContentError, default_content

    settings = Settings()
    configure_logging(settings.log_level if args.command != "chat" else "WARNING")
    try:
        content = default_content()  # validate content at start-up, before anything else
    except ContentError as exc:
        print(f"content error: {exc}", file=sys.stderr)
        return 2
    from bot.triage_model import model_for

    if args.command != "triage-build":
        model_for(content)  # the triage model ready before the first message (built from content/triage)
    del content
    if args.command == "chat":
        from pathlib import Path

        from bot import app
        from bot.clock import OffsetClock

        files = Path(args.files) if args.files else None
        return asyncio.run(
            app.chat(args.db or settings.database_url, OffsetClock(), settings, now=args.now, files=files)
        )
    elif args.command == "run":
        from bot import app

        asyncio.run(app.run(settings, args.db))
    elif args.command == "serve":
        from bot.serve import serve as serve_web

        return serve_web(settings)
    elif args.command == "bench":
        from bot.bench.reminders import main as bench_main

        bench_main(args.users, args.pg, args.batch)
    elif args.command == "stats":
        print(asyncio.run(_stats(args, settings)))
    elif args.command == "triage-report":
        from bot.triage_report import main as report

        return report(["--part", args.part, *(["--misses"] if args.misses else [])])
    elif args.command == "triage-build":
        from bot.triage_model import ARTEFACT, build

        model = build(default_content())
        print(f"wrote {ARTEFACT} ({len(model.weights)} features, {len(model.classes)} labels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
