"""What the core knows about one person: the snapshot a flow reads and returns.

Flows get a deep copy, change it, and hand it back; the engine's shell diffs nothing and simply saves it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.progress import Records
from bot.types import UserRef


class ExerciseProgress(BaseModel):
    repetitions: int | None = None
    hold_seconds: int | None = None


class HoldEntry(BaseModel):
    """A safety hold as it happened, for the clinician's record: which rule, when, and when it was lifted."""

    rule_id: str
    since: datetime
    cleared_at: datetime | None = None


class Profile(BaseModel):
    """Consent, plan and progression; stored as JSON on the user row."""

    consented: bool = False
    onboarded: bool = False
    exercises: list[str] = Field(default_factory=list)
    progress: dict[str, ExerciseProgress] = Field(default_factory=dict)
    quiet_start: str | None = None  # "HH:MM" local
    quiet_end: str | None = None
    milestones: list[str] = Field(default_factory=list)  # small wins already named
    # Radiating pain ends "today's session": the local date it happened (no new session until the next day),
    # and the exercises that caused it, to ask about (keep or drop) at the start of the next session.
    session_ended_on: date | None = None
    paused_manually: bool = False  # the current pause is the person's own /pause, not rest after a flare-up
    # The last activity logged (when, minutes, local date): the one "Undo" / "Change minutes" may correct.
    last_activity: dict[str, str | int] | None = None
    review: list[str] = Field(default_factory=list)
    # Weekly summary (bot/flows/summary.py): the weekday (0 = Monday), on/off (/stop turns it off), the local
    # date of the one summary currently planned (an outbox event for any other date is stale), the last sent.
    summary_day: int = 6
    summary_on: bool = True
    summary_next: date | None = None
    summary_last: date | None = None
    summary_at: str | None = None  # the planned instant (ISO): an event planned for another instant is stale
    # The clinician's record (/export): a name or identifier the person chose for its header (never a
    # platform id), and every safety hold with its start and end (bot/record.note_hold keeps it).
    record_name: str | None = None
    holds: list[HoldEntry] = Field(default_factory=list)


class Conversation(BaseModel):
    """Where the person is in a flow. `seq` numbers the current question so stale buttons can be spotted."""

    flow: str = "new"
    step: str = ""
    ctx: dict[str, Any] = Field(default_factory=dict)
    seq: int = 0
    choices: dict[str, str] = Field(default_factory=dict)  # lower-cased label -> action, for typed answers
    # The live question (the one message whose buttons still work), for closing it when it moves on: its
    # text as shown, and its buttons' labels by action. "" when no question is live (bot/flows/living.py).
    asked: str = ""
    options: dict[str, str] = Field(default_factory=dict)


class Schedule(BaseModel):
    timezone: str | None = None
    reminder_time: str | None = None  # "HH:MM"
    weekdays: int = 0b1111111  # bit 0 = Monday
    reminders_on: bool = False
    paused_until: datetime | None = None
    hold_reason: str | None = None  # a safety rule id: held until the person confirms guidance
    next_fire_at: datetime | None = None
    served_through: date | None = None


class SessionSummary(BaseModel):
    local_date: date
    status: str
    done: int = 0
    skipped: int = 0
    hurt: int = 0
    pain_before: int | None = None
    pain_after: int | None = None
    radiating: list[str] = Field(default_factory=list)  # exercises during which pain spread into buttocks/legs


class History(BaseModel):
    """Read-only figures from the person's records that flows need (small wins, routine advice)."""

    sessions_total: int = 0
    sessions_14d: int = 0
    pain_skips_14d: int = 0
    reminders_ignored: int = 0  # reminders sent in a row with no answer and no session since
    activity_minutes_7d: int = 0
    activity_days_7d: int = 0
    activity_minutes_today: int = 0
    # Filled only when a flow shows the history (/history), to keep every other event cheap.
    recent_sessions: list[SessionSummary] = Field(default_factory=list)
    activity_by_day: dict[date, int] = Field(default_factory=dict)
    symptoms_30d: dict[str, int] = Field(default_factory=dict)
    records: Records | None = None  # every record, for the weekly summary and /export (full loads only)


class HistoryNotLoaded(LookupError):
    """A flow read the person's history on an event whose flow did not declare it (`Flow.needs`): a bug in
    the declaration, never a reason to guess figures."""


class UserView(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    user_id: int
    ref: UserRef
    active: bool = True
    profile: Profile = Field(default_factory=Profile)
    conversation: Conversation = Field(default_factory=Conversation)
    schedule: Schedule = Field(default_factory=Schedule)
    loaded_history: History | None = None

    @property
    def history(self) -> History:
        """The person's figures: most events never need them, so the engine loads them only for the events
        whose flow declares it reads them (bot/flows/dispatch.needs)."""
        if self.loaded_history is None:
            raise HistoryNotLoaded(self.conversation.flow)
        return self.loaded_history
