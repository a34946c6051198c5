"""When is this person's next reminder due? Pure: a schedule and the current instant in, an instant out."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.schedule.timing import after_quiet_hours, next_fire_at
from bot.state import Schedule


def weekday_set(mask: int) -> frozenset[int]:
    """Bit 0 is Monday, as in `date.weekday()`."""
    return frozenset(d for d in range(7) if mask & (1 << d))


def plan_next_fire(
    schedule: Schedule, now: datetime, *, quiet_start: str | None = None, quiet_end: str | None = None
) -> datetime | None:
    """The next reminder instant, or None when no reminder should be sent (off, on hold, incomplete)."""
    if not schedule.reminders_on or not schedule.reminder_time or schedule.hold_reason:
        return None
    days = weekday_set(schedule.weekdays)
    if not days:
        return None
    try:
        tz = ZoneInfo(schedule.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    after = max(now, schedule.paused_until) if schedule.paused_until else now
    fire = next_fire_at(
        at=time.fromisoformat(schedule.reminder_time),
        tz=tz,
        weekdays=days,
        after=after,
        served_through=schedule.served_through,
    )
    if quiet_start and quiet_end:
        fire = after_quiet_hours(fire, tz, time.fromisoformat(quiet_start), time.fromisoformat(quiet_end))
    return fire
