"""`GET /healthz`: is this process able to do its job? The database answers, and the scheduler tick has
completed recently. A load balancer takes an unhealthy process out of rotation; it reports no user data."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

DB_TIMEOUT = 2.0


@dataclass(frozen=True)
class Health:
    database: bool
    tick_age: float | None  # seconds since the last good tick; None before the first one
    max_tick_age: float

    @property
    def ok(self) -> bool:
        return self.database and self.tick_age is not None and self.tick_age <= self.max_tick_age

    def as_json(self) -> dict[str, object]:
        age = round(self.tick_age, 1) if self.tick_age is not None else None
        return {
            "ok": self.ok,
            "database": self.database,
            "last_tick_age_seconds": age,
            "max_tick_age_seconds": self.max_tick_age,
        }


async def database_ok(db: AsyncEngine, limit: float = DB_TIMEOUT) -> bool:
    try:
        async with asyncio.timeout(limit), db.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def max_tick_age(tick_seconds: float) -> float:
    """A tick may run long (a big batch) or be a little late; three missed intervals mean it is stuck."""
    return max(3 * tick_seconds, 30.0)


async def check(db: AsyncEngine, last_tick_at: float | None, tick_seconds: float, started_at: float) -> Health:
    """`last_tick_at`/`started_at` are time.monotonic() values. Until the first tick, the start counts."""
    reference = last_tick_at if last_tick_at is not None else started_at
    return Health(await database_ok(db), time.monotonic() - reference, max_tick_age(tick_seconds))
