"""When is this person's next reminder due? Pure: a schedule and the current instant in, an instant out."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.schedule.timing import after_quiet_hours, local_date_of, missed_decision, next_fire_at
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
    tz = _zone(schedule.timezone)
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


MAX_MISSED = 400  # more than a year of daily reminders: the walk below always ends


def missed_fires(
    schedule: Schedule, now: datetime, *, quiet_start: str | None = None, quiet_end: str | None = None
) -> list[datetime]:
    """Every reminder instant from the planned `next_fire_at` up to `now`, oldest first (after downtime, or
    a console jump): each found by planning the next as if the one before had been served."""
    fires: list[datetime] = []
    fire = schedule.next_fire_at
    plan = schedule.model_copy()
    while fire is not None and fire <= now and len(fires) < MAX_MISSED:
        fires.append(fire)
        plan.served_through = local_date_of(fire, _zone(plan.timezone))
        fire = plan_next_fire(plan, fire, quiet_start=quiet_start, quiet_end=quiet_end)
    return fires


def late_reminder(fires: list[datetime], now: datetime, grace: timedelta) -> datetime | None:
    """Of the reminders missed, the one still to send late (once): the latest, if at most `grace` late.
    Every older one is skipped, as the README's console section and the scheduler say."""
    if fires and missed_decision(due_at=fires[-1], now=now, grace=grace) == "send":
        return fires[-1]
    return None


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
