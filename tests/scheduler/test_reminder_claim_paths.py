"""The reminder claim runs in the engine, and its cheap path changes nothing but cost: the same people due in
two databases, claimed once with the quick reminder and once through the whole flow for everyone, leave
identical outbox rows (text, buttons, due time) and identical user rows (conversation, day served, next
fire) across zones, weekdays, quiet hours, late reminders, live questions, open sessions and more."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock
from bot.engine import Engine
from bot.state import Conversation, Profile
from bot.storage.models import OutboxMessage, User
from content.loader import Content
from scheduler.reminders import claim_due_reminders
from tests.conftest import database

NOW = datetime(2026, 3, 6, 8, 0, 5, tzinfo=UTC)  # a Friday
PLAN = {"consented": True, "onboarded": True, "exercises": ["knee_rolls"]}


def people(content: Content) -> list[dict[str, Any]]:
    session = {"started_at": (NOW - timedelta(minutes=5)).isoformat(), "local_date": NOW.date().isoformat()}
    conversations = [
        {"flow": "idle", "seq": 2},
        {"flow": "idle", "seq": 8, "asked": content.msg("idle.ask"), "options": {"g.today": "Start"}},
        {"flow": "reminder", "step": "offered", "ctx": {"date": "2026-03-05"}, "seq": 4, "asked": "x"},
        {"flow": "session", "step": "exercise", "ctx": session, "seq": 3},
        {"flow": "settings", "step": "time", "seq": 1, "asked": "When?"},
    ]
    profiles = [
        PLAN,
        {**PLAN, "quiet_start": "21:00", "quiet_end": "08:30"},
        {**PLAN, "session_ended_on": NOW.date().isoformat()},
        {"consented": True},
    ]
    zones = ["UTC", "America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati"]
    weekdays = [0b1111111, 0b0011111, 0b1000001]
    lateness = [timedelta(seconds=30), timedelta(hours=3)]  # on time, and past the grace period (skipped)
    rows = []
    for n, (conv, profile, zone, days, late) in enumerate(
        itertools.product(conversations, profiles, zones, weekdays, lateness)
    ):
        rows.append(
            {
                "platform": "telegram",
                "workspace": "",
                "platform_user_id": str(1000 + n),
                "chat_id": str(1000 + n),
                "created_at": NOW - timedelta(days=30),
                "active": True,
                "profile": profile,
                "conversation": conv,
                "timezone": zone,
                "reminder_time": "07:00",
                "weekdays": days,
                "reminders_on": True,
                "next_fire_at": NOW - late,
            }
        )
    return rows


async def claimed(db: AsyncEngine, content: Content, rows: list[dict[str, Any]], quick: bool) -> tuple[Any, Any]:
    async with db.begin() as conn:
        await conn.execute(insert(User), rows)
    engine = Engine(db, content, FakeClock(NOW))
    try:
        stats = await claim_due_reminders(engine, NOW, grace=timedelta(hours=2), batch=50, quick=quick)
    finally:
        engine.close()
    async with db.connect() as conn:
        outbox = (
            await conn.execute(
                select(OutboxMessage.user_id, OutboxMessage.dedupe_key, OutboxMessage.payload, OutboxMessage.not_before)
            )
        ).all()
        users = (
            await conn.execute(select(User.id, User.conversation, User.profile, User.served_through, User.next_fire_at))
        ).all()
    queued = sorted((u, key, payload, when) for u, key, payload, when in outbox)
    state = sorted(
        (uid, Conversation.model_validate(c), Profile.model_validate(p), served, nxt)
        for uid, c, p, served, nxt in users
    )
    return (stats, queued), state


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_quick_claim_and_full_flow_claim_leave_identical_rows(
    kind: str, tmp_path: Path, content: Content
) -> None:
    rows = people(content)
    (quick_dir := tmp_path / "quick").mkdir()
    (full_dir := tmp_path / "full").mkdir()
    async with database(kind, quick_dir) as db:
        (quick_stats, quick_outbox), quick_state = await claimed(db, content, rows, quick=True)
    async with database(kind, full_dir) as db:
        (full_stats, full_outbox), full_state = await claimed(db, content, rows, quick=False)
    assert quick_stats.quick and not full_stats.quick  # the cheap path was taken, and then not at all
    full_stats.quick = quick_stats.quick
    assert quick_stats == full_stats  # the same people claimed, queued, skipped late and silent
    assert quick_stats.queued and quick_stats.skipped_late and quick_stats.silent  # every path was taken
    assert len(quick_outbox) == quick_stats.queued
    assert quick_outbox == full_outbox  # the messages: text, buttons, kinds, due time, dedupe key
    assert [s[:2] + s[3:] for s in quick_state] == [s[:2] + s[3:] for s in full_state]  # conversation, schedule
    assert [s[2] for s in quick_state] == [s[2] for s in full_state]  # the profile is never touched differently
    served = [s for s in quick_state if s[3] is not None]
    assert len(served) == quick_stats.claimed and all(nxt > NOW for *_, nxt in served)  # every day served, moved on
