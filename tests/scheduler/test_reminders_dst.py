"""Daylight-saving changes through the real pipeline: claim -> core -> outbox -> sender, ticking a FakeClock
every 15 minutes for days around each change. Each reminder fires exactly once a day, at the right instant.
Expected instants are written out by hand from the zones' rules (not computed with the code under test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock
from bot.engine import Engine
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler.runner import tick
from tests.scheduler.test_reminders import add_users


def z(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


class StampingSender:
    """Records which chat got a reminder at which (fake) instant."""

    platform = "console"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.got: dict[str, list[datetime]] = {}

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.got.setdefault(user.chat_id, []).append(self.clock.now())


# (zone, local reminder time, expected UTC instants on the days before, of and after the change)
CASES = {
    "new_york_spring_0230": (
        "America/New_York",
        "02:30",
        [z(2026, 3, 7, 7, 30), z(2026, 3, 8, 7), z(2026, 3, 9, 6, 30)],
    ),
    "new_york_fall_0130": (
        "America/New_York",
        "01:30",
        [z(2026, 10, 31, 5, 30), z(2026, 11, 1, 5, 30), z(2026, 11, 2, 6, 30)],
    ),
    "london_spring_0130": ("Europe/London", "01:30", [z(2026, 3, 28, 1, 30), z(2026, 3, 29, 1), z(2026, 3, 30, 0, 30)]),
    "london_fall_0130": (
        "Europe/London",
        "01:30",
        [z(2026, 10, 24, 0, 30), z(2026, 10, 25, 0, 30), z(2026, 10, 26, 1, 30)],
    ),
    "lord_howe_end_0145": (
        "Australia/Lord_Howe",
        "01:45",
        [z(2026, 4, 3, 14, 45), z(2026, 4, 4, 14, 45), z(2026, 4, 5, 15, 15)],
    ),
    "lord_howe_start_0215": (
        "Australia/Lord_Howe",
        "02:15",
        [z(2026, 10, 2, 15, 45), z(2026, 10, 3, 15, 30), z(2026, 10, 4, 15, 15)],
    ),
    "kathmandu_0700": ("Asia/Kathmandu", "07:00", [z(2026, 3, 7, 1, 15), z(2026, 3, 8, 1, 15), z(2026, 3, 9, 1, 15)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_reminder_fires_once_at_the_right_instant(
    sqlite_db: AsyncEngine, content: Content, case: str
) -> None:
    await _run_case(sqlite_db, content, case)


@pytest.mark.parametrize("case", ["new_york_spring_0230", "new_york_fall_0130"])
async def test_same_on_postgresql(pg_db: AsyncEngine, content: Content, case: str) -> None:
    await _run_case(pg_db, content, case)


async def _run_case(db: AsyncEngine, content: Content, case: str) -> None:
    zone, at, expected = CASES[case]
    start = expected[0] - timedelta(hours=2)
    clock = FakeClock(start)
    engine = Engine(db, content, clock)
    await add_users(db, start, [{"id": "dst", "zone": zone, "at": at}])
    sender = StampingSender(clock)
    end = expected[-1] + timedelta(hours=2)
    while clock.now() < end:
        clock.advance(timedelta(minutes=15))
        await tick(engine, {"console": sender}, clock.now())
    assert sender.got == {"dst": expected}
