"""Effects a flow asks the shell to carry out: records to write and messages to schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.types import Reply


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """Create or update the session row identified by (user, started_at)."""

    started_at: datetime
    local_date: date
    status: str = "running"
    pain_before: int | None = None
    pain_after: int | None = None
    helped: tuple[str, ...] = ()
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExerciseLogged:
    session_started_at: datetime
    exercise_id: str
    result: str  # done / skipped / hurt / radiating / unfinished
    at: datetime
    repetitions: int | None = None
    hold_seconds: int | None = None  # the planned hold (today's dose)
    held: tuple[tuple[int | None, bool], ...] = ()  # each side's hold: seconds actually held, finished?


@dataclass(frozen=True, slots=True)
class SymptomLogged:
    rule_id: str
    source: str  # button / text / screening / precheck / session / reminder
    at: datetime


@dataclass(frozen=True, slots=True)
class ActivityLogged:
    local_date: date
    minutes: int
    exertion: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ActivityRemoved:
    """Undo one logged activity (the person's own correction), found by when it was logged."""

    at: datetime


@dataclass(frozen=True, slots=True)
class ReminderAnswered:
    local_date: date
    response: str  # started / snoozed / skipped
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleEvent:
    """Deliver a system event back to the core at `due_at` (hold timers, check-ins, snoozes)."""

    action: str
    due_at: datetime
    dedupe_key: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendLater:
    """Queue ready-made replies in the outbox."""

    replies: tuple[Reply, ...]
    due_at: datetime
    dedupe_key: str


@dataclass(frozen=True, slots=True)
class EraseUser:
    """Delete every row about this person."""


Effect = (
    SessionRecord
    | ExerciseLogged
    | SymptomLogged
    | ActivityLogged
    | ActivityRemoved
    | ReminderAnswered
    | ScheduleEvent
    | SendLater
    | EraseUser
)
