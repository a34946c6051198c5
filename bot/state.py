"""What the core knows about one person: the snapshot a flow reads and returns.

Flows get a deep copy, change it, and hand it back; the engine's shell diffs nothing and simply saves it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from bot.progress import Records
from bot.types import UserRef

log = logging.getLogger(__name__)


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


class FlowName(StrEnum):
    """Every flow a conversation can be in, by the name stored in the database. Each is declared once, as a
    `registry.Flow` in its own module (bot/flows/); code compares these members, never string literals."""

    NEW = "new"  # not set up (or erased by /delete): every message leads to onboarding (bot/flows/onboarding.py)
    IDLE = "idle"  # set up, no question open (bot/flows/registry.py)
    ONBOARDING = "onboarding"
    SESSION = "session"
    ACTIVITY = "activity"
    SETTINGS = "settings"
    REMINDER = "reminder"
    REST = "rest"
    SYMPTOMS = "symptoms"
    DROP = "drop"  # which exercise caused it? (bot/flows/symptoms.py)
    PAUSE = "pause"  # bot/flows/commands.py
    DELETE = "delete"
    CONFIRM = "confirm"  # a question about typed text (bot/flows/freetext.py)


# Every key of the stored context, by the part that declares it (filled as each FlowCtx subclass is defined).
CTX_KEYS: dict[str, type[FlowCtx]] = {}
P = TypeVar("P", bound="FlowCtx")
# An instant in a stored context, written as `datetime.isoformat` always wrote it ("+00:00", not pydantic's "Z").
Instant = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]
LOST = "lost"  # how `FlowCtx.load` names a context that failed as a whole (never the stored value)


class FlowCtx(BaseModel):
    """One flow's part of the conversation's context, declared once beside its `Steps` (`SessionCtx` in
    bot/flows/session.py, ...). The stored context stays one flat JSON object, as earlier versions wrote it:
    each part reads its own keys (a key belongs to one part only: checked when the part is defined) and
    writes back the ones it holds, so rows stored before the context was typed load unchanged. None is
    "not there": a None field is not stored. Flows read and write typed attributes (`SessionCtx.of(view).i`);
    a stored value that does not fit its field is logged by name (never the value) and left out. Values are
    validated when read from storage; what a flow writes, mypy checks (validating every assignment again cost
    the core a tenth of its time per event)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    _dropped: frozenset[str] = PrivateAttr(default=frozenset())  # stored keys left out as invalid
    _fields: ClassVar[tuple[tuple[str, str, Any], ...]] = ()  # each field's name, stored key and default
    _keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._fields = tuple(
            (name, f.alias or name, f.get_default(call_default_factory=True)) for name, f in cls.model_fields.items()
        )
        cls._keys = tuple(key for _, key, _ in cls._fields)
        for key in cls._keys:
            owner = CTX_KEYS.setdefault(key, cls)
            if owner is not cls and owner.__qualname__ != cls.__qualname__:  # (a module reloaded in a test)
                raise ValueError(f"context key {key!r} is declared by {owner.__qualname__} and {cls.__qualname__}")
            CTX_KEYS[key] = cls

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return cls._keys

    @classmethod
    def of(cls, view: UserView) -> Self:
        """This flow's part of the person's context, typed (read once an event, then held by the conversation)."""
        return view.conversation.part(cls)

    @classmethod
    def load(cls, stored: dict[str, Any]) -> Self:
        """Read this part's keys of a stored context. Values that fail validation are left out (their field
        takes its default) and named in `dropped`; other parts' keys are not looked at."""
        data = {key: stored[key] for key in cls._keys if key in stored}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) if e["loc"] else LOST for e in exc.errors()}
        try:
            part = cls.model_validate({k: v for k, v in data.items() if k not in bad})
        except ValidationError:
            bad, part = set(data), cls()
        part._dropped = frozenset(bad)
        log.warning("invalid stored context %s (%s): left out", sorted(bad), cls.__name__)
        return part

    @property
    def dropped(self) -> frozenset[str]:
        return _private(self)["_dropped"]

    def stored(self, mode: Literal["json", "python"] | str = "python") -> dict[str, Any]:
        """The keys this part writes: those it read or was given, and any that differ from the default
        (a list filled in place), never a None."""
        given = self.model_fields_set
        if not given and all(getattr(self, name) == default for name, _, default in self._fields):
            return {}  # read from nothing and left as it was (most events: the session's part, no session)
        data = self.model_dump(mode=mode, by_alias=True, exclude_none=True)
        return {
            key: data[key]
            for name, key, default in self._fields
            if key in data and (name in given or getattr(self, name) != default)
        }


class Conversation(BaseModel):
    """Where the person is in a flow. `seq` numbers the current question so stale buttons can be spotted."""

    flow: str = FlowName.NEW
    step: str = ""
    # The context as stored: every part's keys in one flat object. Flows never read it: they read their part
    # (`FlowCtx.of`), which this conversation holds for the event and writes back when it is saved.
    ctx: dict[str, Any] = Field(default_factory=dict)
    seq: int = 0
    choices: dict[str, str] = Field(default_factory=dict)  # lower-cased label -> action, for typed answers
    # The live question (the one message whose buttons still work), for closing it when it moves on: its
    # text as shown, and its buttons' labels by action. "" when no question is live (bot/flows/living.py).
    asked: str = ""
    options: dict[str, str] = Field(default_factory=dict)
    _parts: dict[type[FlowCtx], FlowCtx] = PrivateAttr(default_factory=dict)

    @property
    def parts(self) -> dict[type[FlowCtx], FlowCtx]:
        """The parts read this event (read often: straight from pydantic's private store, not its __getattr__)."""
        return _private(self)["_parts"]

    def part(self, cls: type[P]) -> P:
        parts = self.parts
        got = parts.get(cls)
        if got is None:
            got = parts[cls] = cls.load(self.ctx)
        return cast(P, got)

    def clear_ctx(self) -> None:
        self.ctx = {}
        self._parts = {}

    def ctx_problems(self) -> list[str]:
        """Stored keys no part declares, and keys whose stored value was invalid (names only)."""
        unknown, owners = [], set()
        for key in self.ctx:
            owner = CTX_KEYS.get(key)
            if owner is None:
                unknown.append(key)
            else:
                owners.add(owner)
        for cls in owners:
            unknown.extend(self.part(cls).dropped)
        return sorted(unknown)

    def forget_problems(self) -> None:
        """After recovering: unknown keys and invalid values are not kept."""
        self.ctx = {key: value for key, value in self.ctx.items() if key in CTX_KEYS}
        for part in self.parts.values():
            part._dropped = frozenset()

    def merged_ctx(self, base: dict[str, Any], mode: str = "python") -> dict[str, Any]:
        parts = self.parts.values()
        written: set[str] = set()
        for part in parts:
            dropped = part.dropped  # an invalid value stays stored until the flow has recovered from it
            written.update(key for key in part.keys() if key not in dropped)
        out = {key: value for key, value in base.items() if key not in written}
        for part in parts:
            out.update(part.stored(mode))
        return out

    def flush(self) -> None:
        """The end of an event: the parts written back into `ctx` as they are stored (JSON values), so the
        conversation equals one loaded from its stored row, and the next event reads them afresh."""
        if self.parts:
            self.ctx, self._parts = self.merged_ctx(self.ctx, "json"), {}

    @model_serializer(mode="wrap")
    def _with_parts(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.parts and "ctx" in data:
            data["ctx"] = self.merged_ctx(data["ctx"], info.mode)
        return data


def _private(model: BaseModel) -> dict[str, Any]:
    private = model.__pydantic_private__
    assert private is not None
    return private


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
