"""Pure scheduling math: when a user's local reminder time happens, in UTC.

Nothing here reads a clock or does I/O; every function takes the current instant as a parameter, so the
scheduler tick, the console's simulated clock and the tests all agree on what "now" is.

Conventions (see docs "Scheduling and delivery"):

* Instants are timezone-aware; results are always in UTC.
* A wall time that does not exist (spring-forward gap) happens at the first valid instant after it, which is
  the transition instant itself (New York 2026-03-08 02:30 -> 03:00 EDT = 07:00Z).
* An ambiguous wall time (fall-back) happens at its first occurrence (``fold=0``), and only once.
* A reminder belongs to the local date on which it fires; there is never more than one per local date.
  The one exception to "first valid instant after": a gap running past midnight (America/Nuuk), where the
  reminder fires in the last minute before the gap so that its date is not left without one.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "WEEKDAYS_ALL",
    "after_quiet_hours",
    "in_quiet_hours",
    "local_date_of",
    "local_instant",
    "missed_decision",
    "next_fire_at",
    "snooze_until",
]

WEEKDAYS_ALL: frozenset[int] = frozenset(range(7))
"""Every day of the week; 0 = Monday, as ``date.weekday()``."""

_ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1)
_ONE_MINUTE = timedelta(minutes=1)
_SNOOZE_MARGIN = timedelta(hours=1)
# 8 days always reach a wanted weekday strictly after `after`; the extra week only matters when a whole
# local day is missing (Pacific/Apia skipped 2011-12-30), so the common path stays at <= 8 iterations.
_MAX_DAYS = 15


def _require_aware(instant: datetime, name: str) -> None:
    """Naive datetimes are ambiguous about their zone; refuse them rather than guess."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {instant!r}")


def _transition_in_gap(naive: datetime, tz: ZoneInfo, before: timedelta, after: timedelta) -> datetime:
    """The UTC instant at which the clock jumped over ``naive`` (a wall time inside a gap).

    With wall offsets ``before`` < ``after`` and the gap [T+before, T+after) containing ``naive``, the
    transition T lies in (naive-after, naive-before]. zoneinfo does not expose transitions, so bisect on whole
    seconds (tzdata transitions are whole seconds): ~12 steps for a 1-hour gap, and it only runs in gaps.
    """
    lo = math.floor((naive - after - _EPOCH).total_seconds())  # still on the old offset
    hi = math.ceil((naive - before - _EPOCH).total_seconds())  # already on the new offset
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which wall time ``at`` happens on local ``day`` in ``tz``.

    A non-existent time maps to the transition instant that skipped it (not zoneinfo's default, which would
    shift it later by the gap's length); an ambiguous time maps to its first occurrence.
    """
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=tz)
    off0 = first.utcoffset()
    off1 = naive.replace(tzinfo=tz, fold=1).utcoffset()
    assert off0 is not None and off1 is not None
    if off0 >= off1:
        # Normal (off0 == off1) or ambiguous (off0 > off1: fold=0 is the earlier, pre-transition reading).
        return (naive - off0).replace(tzinfo=UTC)
    # Gap: fold=0 reads with the old offset, fold=1 with the new one (PEP 495).
    return _transition_in_gap(naive, tz, off0, off1)


def local_date_of(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date on the user's wall clock at ``instant``: the key for "one reminder a day"."""
    _require_aware(instant, "instant")
    return instant.astimezone(tz).date()


def next_fire_at(
    *,
    at: time,
    tz: ZoneInfo,
    weekdays: frozenset[int],
    after: datetime,
    served_through: date | None = None,
) -> datetime:
    """The first instant strictly after ``after`` at which the user's daily reminder is due.

    The result is ``at`` local time (or the transition instant if ``at`` falls in a gap that day) on a local
    date whose weekday is in ``weekdays`` and which is strictly after ``served_through`` — the last local date
    a reminder was already sent or queued for. That is what guarantees one reminder per local day, even when
    the user moves their time later after today's reminder went out. Each local date gives one instant, so an
    ambiguous time fires once. If ``at`` is in a gap that ends on the next date, the reminder fires in the
    last minute before the gap instead (still on its own date); a date that does not exist at all (Pacific/Apia
    2011-12-30) gets none.
    """
    if not weekdays:
        raise ValueError("weekdays must not be empty")
    if not weekdays <= WEEKDAYS_ALL:
        raise ValueError(f"weekdays must be in 0..6 (0 = Monday), got {sorted(weekdays)}")
    _require_aware(after, "after")
    after_utc = after.astimezone(UTC)
    day = after_utc.astimezone(tz).date()
    if served_through is not None and served_through >= day:
        day = served_through + _ONE_DAY
    for _ in range(_MAX_DAYS):
        if day.weekday() in weekdays:
            candidate = local_instant(day, at, tz)
            if candidate.astimezone(tz).date() != day:
                # `at` is in a gap that runs past midnight (America/Nuuk 2026-03-28 jumps from 22:59 to
                # 00:00): its transition belongs to the next date, so fire in the last minute before the gap
                # to keep this date's reminder, unless the whole date is missing.
                candidate -= _ONE_MINUTE
            if candidate > after_utc and candidate.astimezone(tz).date() == day:
                return candidate
        day += _ONE_DAY
    raise ValueError(f"no reminder time found within {_MAX_DAYS} days of {after_utc.isoformat()}")


def in_quiet_hours(instant: datetime, tz: ZoneInfo, start: time, end: time) -> bool:
    """Whether the user's wall clock at ``instant`` is in [start, end), a window that may wrap midnight.

    Judged on wall time, because quiet hours are a promise about the user's clock (both readings of an
    ambiguous hour are quiet if the hour is). ``start == end`` means no quiet hours at all.
    """
    _require_aware(instant, "instant")
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    if start == end:
        return False
    wall = instant.astimezone(tz).time().replace(tzinfo=None, fold=0)
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def after_quiet_hours(instant: datetime, tz: ZoneInfo, start: time, end: time) -> datetime:
    """``instant`` (in UTC) if it is outside quiet hours, else the UTC instant at which they end.

    The end is found with ``local_instant``, so an end time inside a DST gap still resolves to a real
    instant; if the end's first occurrence is already past (inside a repeated fall-back hour), its second
    occurrence is used, so the result is never earlier than ``instant``.
    """
    _require_aware(instant, "instant")
    result = instant.astimezone(UTC)
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    # One step normally suffices; a second only if a DST jump past `end` lands in the next window (a window
    # of nearly 24 hours). Bounded so that no input can loop forever.
    for _ in range(3):
        if not in_quiet_hours(result, tz, start, end):
            return result
        local = result.astimezone(tz)
        end_day = local.date()
        if start > end and local.time().replace(fold=0) >= start:
            end_day += _ONE_DAY  # in the evening half of a window that wraps midnight
        end_at = local_instant(end_day, end, tz)
        if end_at <= result:  # inside a repeated fall-back hour: the end's second occurrence is ahead
            end_at = datetime.combine(end_day, end.replace(fold=1), tzinfo=tz).astimezone(UTC)
        result = max(end_at, result)
    return result


def snooze_until(
    *,
    now: datetime,
    minutes: int,
    next_regular: datetime,
    tz: ZoneInfo,
    quiet_start: time | None,
    quiet_end: time | None,
) -> datetime | None:
    """When a snoozed reminder comes back, or None when the next regular reminder should cover it.

    The snooze is real elapsed minutes (not wall-clock minutes), then pushed out of quiet hours. It is
    dropped when it would land within an hour of the next regular reminder, so the user never gets two
    reminders back to back or two for one day.
    """
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    _require_aware(now, "now")
    _require_aware(next_regular, "next_regular")
    target = now.astimezone(UTC) + timedelta(minutes=minutes)
    if quiet_start is not None and quiet_end is not None:
        target = after_quiet_hours(target, tz, quiet_start, quiet_end)
    if target >= next_regular - _SNOOZE_MARGIN:
        return None
    return target


def missed_decision(*, due_at: datetime, now: datetime, grace: timedelta) -> Literal["send", "skip"]:
    """Send a reminder missed during downtime late (once) if it is at most ``grace`` late, else skip it.

    A reminder not yet due (``now`` before ``due_at``) is trivially within grace, so "send".
    """
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}")
    _require_aware(due_at, "due_at")
    _require_aware(now, "now")
    return "send" if now - due_at <= grace else "skip"
