"""`backcoach stats` on a constructed database: the figures, and no personal data in what it prints."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat
from bot.cli import main
from bot.engine import Engine
from bot.stats import collect
from bot.storage.models import ExerciseSession, OutboxMessage, SymptomReport, User
from tests.conftest import START

NOW = START + timedelta(days=10)
IDS = ("person-alice-1234", "person-bob-5678", "person-carol-9012")


async def constructed(engine: Engine) -> None:
    chats = [Chat(engine, user_id=who) for who in IDS]
    for chat in chats:
        await chat.onboard()  # at START: 10 days before NOW, outside the window
    alice, bob, carol = 1, 2, 3  # ids in creation order
    async with engine.sessions() as s, s.begin():
        for days_ago, status in ((1, "completed"), (2, "completed"), (3, "completed"), (4, "stopped")):
            at = NOW - timedelta(days=days_ago)
            s.add(ExerciseSession(user_id=alice, started_at=at, local_date=at.date(), status=status, helped=[]))
        old = NOW - timedelta(days=9)
        s.add(ExerciseSession(user_id=bob, started_at=old, local_date=old.date(), status="completed", helped=[]))
        for i in range(4):
            s.add(
                OutboxMessage(
                    user_id=alice,
                    kind="reminder",
                    dedupe_key=f"reminder:{alice}:x{i}",
                    payload={},
                    created_at=NOW,
                    not_before=NOW,
                    sent_at=NOW - timedelta(days=i + 1),
                    status="sent",
                )
            )
        s.add(
            OutboxMessage(
                user_id=bob,
                kind="reminder",
                dedupe_key="reminder:old",
                payload={},
                created_at=NOW,
                not_before=NOW,
                sent_at=NOW - timedelta(days=8),
                status="sent",
            )
        )
        for rule, user, days_ago in (
            ("exercise_pain", alice, 1),
            ("exercise_pain", carol, 2),
            ("neuro_change", carol, 3),
            ("chest_pain", bob, 9),
        ):
            s.add(SymptomReport(user_id=user, rule_id=rule, source="text", at=NOW - timedelta(days=days_ago)))
        await s.execute(update(User).where(User.id == carol).values(active=False))
    engine.clock.set(NOW - timedelta(days=1))  # type: ignore[attr-defined]
    await chats[1].say("/history")  # bob wrote yesterday: active, without a session


async def test_stats_figures(engine: Engine) -> None:
    await constructed(engine)
    stats = await collect(engine.db, NOW)
    assert (stats.users, stats.blocked, stats.active_7d) == (3, 1, 2)
    assert (stats.sessions_7d, stats.reminders_7d, stats.adherence) == (3, 4, 0.75)
    assert stats.safety_7d == {"exercise_pain": 2, "neuro_change": 1}


async def test_stats_command_prints_figures_without_personal_data(
    db: AsyncEngine, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    await constructed(engine)
    url = db.url.render_as_string(hide_password=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command configures logging: put pytest's back after
    try:  # the command runs its own event loop (asyncio.run), so off this test's loop
        assert await asyncio.to_thread(main, ["stats", "--db", url, "--now", NOW.isoformat()]) == 0
    finally:
        root.handlers[:], root.level = handlers, level
    out = capsys.readouterr().out
    for line in (
        "users: 3 (1 blocked the bot)",
        "active users: 2",
        "sessions completed: 3",
        "reminders sent: 4",
        "adherence (sessions / reminders): 75%",
        "  exercise_pain: 2",
        "  neuro_change: 1",
    ):
        assert line in out, out
    assert "chest_pain" not in out  # outside the 7 days
    for who in IDS:
        assert who not in out and f"chat-{who}" not in out and who.split("-")[1] not in out
    assert "7 days to 2026-03-12 07:00 UTC" in out  # the window is named


async def test_stats_on_an_empty_database(db: AsyncEngine) -> None:
    stats = await collect(db, NOW)
    assert (stats.users, stats.sessions_7d, stats.adherence, stats.safety_7d) == (0, 0, None, {})
