"""SQLAlchemy models: the database is the source of truth for users, conversations and schedules.

Health data is kept minimal (no free text is ever stored) and every row hangs off `users.id` so that
`/delete` can erase a person completely.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.storage.coltypes import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A model's Core table, typed as the `Table` it is (SQLAlchemy types `__table__` as any FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def user_fk() -> ForeignKey:
    """Every row about a person cascades from their user row, so deleting the user erases them."""
    return ForeignKey("users.id", ondelete="CASCADE")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "platform_user_id", name="uq_users_identity"),
        Index("ix_users_due", "next_fire_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    platform_user_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False once the user blocked the bot
    profile: Mapped[dict] = mapped_column(JSON, default=dict)  # consent, plan, progression, settings
    conversation: Mapped[dict] = mapped_column(JSON, default=dict)  # flow, step, context, prompt seq
    # The schedule lives on the user row so one row lock serialises conversation and reminder claims.
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reminder_time: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "HH:MM" local
    weekdays: Mapped[int] = mapped_column(Integer, default=0b1111111)  # bit 0 = Monday
    reminders_on: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hold_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    served_through: Mapped[date | None] = mapped_column(Date, nullable=True)  # last local date reminded
    # The platform id of the live question's message, written by the sender (never by the engine's save).
    live_message: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ProcessedEvent(Base):
    """Platform event ids already handled, written in the same transaction as the state change."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("platform", "workspace", "event_id", name="uq_processed_events_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(user_fk(), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    event_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExerciseSession(Base):
    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("user_id", "started_at", name="uq_sessions_user_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(user_fk(), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    local_date: Mapped[date] = mapped_column(Date)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # completed/stopped/safety/abandoned
    pain_before: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pain_after: Mapped[int | None] = mapped_column(Integer, nullable=True)
    helped: Mapped[list] = mapped_column(JSON, default=list)


class ExerciseLog(Base):
    __tablename__ = "exercise_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(user_fk(), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    exercise_id: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16))  # done / skipped / hurt
    repetitions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hold_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)  # planned
    # Each side's hold as it happened: [{"seconds": 18, "finished": true}, ...] (seconds null when unknown).
    held: Mapped[list | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class SymptomReport(Base):
    """A safety rule that fired: which rule, how it was reported, and what the bot did. No free text."""

    __tablename__ = "symptom_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(user_fk(), index=True)
    rule_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # button / text / screening / precheck / session
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActivityLog(Base):
    __tablename__ = "activity_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(user_fk(), index=True)
    local_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    exertion: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReminderResponse(Base):
    """What the user did with a reminder: started, snoozed, or skipped (with a reason)."""

    __tablename__ = "reminder_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(user_fk(), index=True)
    local_date: Mapped[date] = mapped_column(Date)
    response: Mapped[str] = mapped_column(String(16))  # started / snoozed / skipped / ignored
    reason: Mapped[str | None] = mapped_column(String(16), nullable=True)  # pain / no_time / other
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """Every proactive message or timer. The unique dedupe key makes a reminder impossible to queue twice.

    `user_id` is None only for a farewell: the reply to someone who has just erased everything, addressed
    by the platform chat id in its payload (`to`) and removed once settled (bot/storage/outbox_repo.py)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_due", "sent_at", "not_before"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(user_fk(), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(24))  # reminder / event / message / reply / farewell
    dedupe_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / sent / dropped / failed
    # The fencing token of the claim that holds the lease: a worker's outcome counts only while it matches.
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)


class InboxEvent(Base):
    """An inbound platform event, written before the platform is answered, processed after.

    `event_key` is a hash of (platform, workspace, event id): it recognises a redelivery and holds nothing
    about the person. `person` and `payload` (the event, with its text) exist only while the row is pending:
    the transaction that processes the event clears them. Not tied to `users`: a done row outlives /delete,
    so a redelivered tap cannot bring a deleted person back; retention prunes it after the dedupe window.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("event_key", name="uq_inbox_event_key"),
        Index("ix_inbox_person", "person", "id"),
        Index("ix_inbox_pending", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_key: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    person: Mapped[str | None] = mapped_column(String(200), nullable=True)  # platform|workspace|user, while pending
    payload: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / done
    attempts: Mapped[int] = mapped_column(Integer, default=0)
