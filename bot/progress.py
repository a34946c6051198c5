"""Progress figures from plain records: weekly summary, pain trend, activity against the goal, progression.

Pure (no clock, no I/O): the repository loads `Records`, flows and the export call these functions.

Which week a record belongs to: the local date it happened on, in the zone the person had then. Sessions and
activity store that `local_date` when they are written, so a later move to another zone (or a DST change)
never moves an old session to another day. Symptom reports store only their UTC instant; they are placed
with the zone the person has now (a report is rare, and its day matters less than its count).
A week is the 7 local dates ending on the summary day, inclusive; counting dates rather than hours keeps a
DST week (167 or 169 hours) whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

TREND_STEP = 1.0  # average pain must move by a whole point on the 0-10 scale to count as a change


class HoldRow(BaseModel):
    """One side's hold as it happened: the seconds held (None when not known) and whether it was finished."""

    seconds: int | None = None
    finished: bool = True


class ExerciseRow(BaseModel):
    exercise_id: str
    result: str  # done / skipped / hurt / radiating / unfinished
    repetitions: int | None = None
    hold_seconds: int | None = None  # planned
    held: list[HoldRow] = Field(default_factory=list)  # each side's hold, as it happened
    at: datetime


class SessionRow(BaseModel):
    started_at: datetime
    local_date: date
    status: str
    pain_before: int | None = None
    pain_after: int | None = None
    ended_at: datetime | None = None
    exercises: list[ExerciseRow] = Field(default_factory=list)


class ActivityRow(BaseModel):
    local_date: date
    minutes: int
    exertion: int | None = None
    at: datetime


class SymptomRow(BaseModel):
    rule_id: str
    source: str
    at: datetime


class SkipRow(BaseModel):
    """A reminder answered with "Skip today" (and the reason, if given): a session skipped."""

    local_date: date
    reason: str | None = None
    at: datetime


class Records(BaseModel):
    """Everything recorded about one person, oldest first: what /export writes and the summary reads."""

    sessions: list[SessionRow] = Field(default_factory=list)
    activities: list[ActivityRow] = Field(default_factory=list)
    symptoms: list[SymptomRow] = Field(default_factory=list)
    skips: list[SkipRow] = Field(default_factory=list)


class Progression(Protocol):
    repetitions: int | None
    hold_seconds: int | None


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    activity_minutes: int = 0
    sessions_done: int = 0
    pain_before: float | None = None  # mean over the day's sessions
    pain_after: float | None = None


@dataclass(frozen=True, slots=True)
class WeekSummary:
    start: date
    end: date
    days: tuple[Day, ...]
    sessions_done: int
    sessions_started: int
    exercises_done: int
    exercises_skipped: int
    activity_minutes: int
    goal_days: int  # days reaching the low end of the daily goal
    pain_avg: float | None
    pain_prev_avg: float | None
    trend: str  # better / worse / steady / unknown
    symptoms: dict[str, int] = field(default_factory=dict)
    progression: tuple[tuple[str, int | None, int | None], ...] = ()  # (exercise id, reps, hold seconds)


def week_dates(end: date) -> list[date]:
    """The 7 local dates ending on `end`."""
    return [end - timedelta(days=i) for i in range(6, -1, -1)]


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def pain_values(records: Records, start: date, end: date) -> list[int]:
    return [s.pain_before for s in records.sessions if start <= s.local_date <= end and s.pain_before is not None]


def pain_trend(current: float | None, previous: float | None) -> str:
    """Lower pain is better; a change under one point is 'steady'."""
    if current is None or previous is None:
        return "unknown"
    if current <= previous - TREND_STEP:
        return "better"
    if current >= previous + TREND_STEP:
        return "worse"
    return "steady"


def symptom_date(row: SymptomRow, zone: ZoneInfo) -> date:
    return row.at.astimezone(zone).date()


def week_summary(
    records: Records,
    end: date,
    zone: ZoneInfo,
    goal_low: int,
    progress: Mapping[str, Progression] | None = None,
) -> WeekSummary:
    """Figures for the 7 local dates ending on `end`, compared with the 7 before for the pain trend."""
    dates = week_dates(end)
    start = dates[0]
    minutes: Counter[date] = Counter()
    for a in records.activities:
        if start <= a.local_date <= end:
            minutes[a.local_date] += a.minutes
    week_sessions = [s for s in records.sessions if start <= s.local_date <= end]
    days = []
    for d in dates:
        todays = [s for s in week_sessions if s.local_date == d]
        days.append(
            Day(
                day=d,
                activity_minutes=minutes[d],
                sessions_done=sum(1 for s in todays if s.status == "completed"),
                pain_before=_mean([s.pain_before for s in todays if s.pain_before is not None]),
                pain_after=_mean([s.pain_after for s in todays if s.pain_after is not None]),
            )
        )
    results = Counter(e.result for s in week_sessions for e in s.exercises)
    pain_now = _mean(pain_values(records, start, end))
    pain_before = _mean(pain_values(records, start - timedelta(days=7), start - timedelta(days=1)))
    done_ids = {e.exercise_id for s in week_sessions for e in s.exercises if e.result == "done"}
    reached = tuple(
        (ex_id, p.repetitions, p.hold_seconds)
        for ex_id, p in sorted((progress or {}).items())
        if ex_id in done_ids and (p.repetitions or p.hold_seconds)
    )
    return WeekSummary(
        start=start,
        end=end,
        days=tuple(days),
        sessions_done=sum(d.sessions_done for d in days),
        sessions_started=len(week_sessions),
        exercises_done=results["done"],
        exercises_skipped=results["skipped"] + results["hurt"],
        activity_minutes=sum(minutes.values()),
        goal_days=sum(1 for d in days if d.activity_minutes >= goal_low),
        pain_avg=pain_now,
        pain_prev_avg=pain_before,
        trend=pain_trend(pain_now, pain_before),
        symptoms=dict(Counter(r.rule_id for r in records.symptoms if start <= symptom_date(r, zone) <= end)),
        progression=reached,
    )


def activity_by_day(records: Records, start: date, end: date) -> dict[date, int]:
    """Minutes per local date in [start, end], days without activity included as 0."""
    out = {start + timedelta(days=i): 0 for i in range((end - start).days + 1)}
    for a in records.activities:
        if start <= a.local_date <= end:
            out[a.local_date] += a.minutes
    return out


def next_summary_date(today: date, weekday: int, not_before: date | None = None) -> date:
    """The next date on `weekday` (0 = Monday) that is on or after `today` and on or after `not_before`
    (a week after the last summary sent, so that changing the day never brings two within 7 days)."""
    first = max(today, not_before) if not_before else today
    return first + timedelta(days=(weekday - first.weekday()) % 7)
