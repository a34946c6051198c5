"""Reading and writing one person's rows. All I/O for the engine lives here, inside one transaction.

Plain synchronous functions on a `Session`: the engine runs a whole event in one call (a worker thread on
SQLite, the greenlet bridge `AsyncSession.run_sync` on PostgreSQL), and async callers use `run_sync` too.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Row, Select, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.effects import (
    ActivityLogged,
    Effect,
    EraseUser,
    ExerciseLogged,
    ReminderAnswered,
    ScheduleEvent,
    SendLater,
    SessionRecord,
    SymptomLogged,
)
from bot.progress import ActivityRow, ExerciseRow, Records, SessionRow, SymptomRow
from bot.state import Conversation, History, Profile, Schedule, SessionSummary, UserView
from bot.storage.coltypes import UTCDateTime
from bot.storage.models import (
    ActivityLog,
    ExerciseLog,
    ExerciseSession,
    OutboxMessage,
    ProcessedEvent,
    ReminderResponse,
    SymptomReport,
    User,
)
from bot.types import UserRef
from bot.wire import replies_to_json

EVENT_ID_MAX = 128


def _insert(session: Session, table: Any):  # type: ignore[no-untyped-def]
    """INSERT ... ON CONFLICT DO NOTHING for whichever dialect we are on."""
    dialect = session.bind.dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


USERS = User.__table__
# What a view is built from: an ORM `User` (the reminder claim) or a Core row of `users` (the engine's hot
# path, which skips the ORM's identity map and unit of work). Both have the same attribute names.
UserRecord = User | Row[Any]

# Built once: SQLAlchemy then serves their compiled form from its cache on every event. The dialects'
# INSERT ... ON CONFLICT cannot be cached in SQLAlchemy 2.0 (it was recompiled on every call, about a
# millisecond), so the hot path avoids it, and `enqueue` spells it out in one portable statement.
_USER_BY_REF = select(USERS).where(
    USERS.c.platform == bindparam("platform"),
    USERS.c.workspace == bindparam("workspace"),
    USERS.c.platform_user_id == bindparam("user_id"),
)
_USER_BY_ID = select(USERS).where(USERS.c.id == bindparam("id"))
_STATE_COLUMNS = (
    "chat_id", "active", "profile", "conversation", "timezone", "reminder_time", "weekdays", "reminders_on",
    "paused_until", "hold_reason", "next_fire_at", "served_through",
)
_SAVE_USER = update(USERS).where(USERS.c.id == bindparam("row_id")).values(
    {name: bindparam(f"new_{name}") for name in _STATE_COLUMNS}
)
_EVENT_SEEN = select(ProcessedEvent.id).where(
    ProcessedEvent.platform == bindparam("platform"),
    ProcessedEvent.workspace == bindparam("workspace"),
    ProcessedEvent.event_id == bindparam("event_id"),
)
_MARK_EVENT = insert(ProcessedEvent.__table__)
_ENQUEUE = text(
    "INSERT INTO outbox (user_id, kind, dedupe_key, payload, created_at, not_before, attempts, status) "
    "VALUES (:user_id, :kind, :dedupe_key, :payload, :created_at, :not_before, 0, 'pending') "
    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
).bindparams(
    bindparam("payload", type_=JSON()),
    bindparam("created_at", type_=UTCDateTime()),
    bindparam("not_before", type_=UTCDateTime()),
)


def _locked(query: Select, session: Session) -> Select:
    return query.with_for_update() if session.bind.dialect.name == "postgresql" else query


def load_user(session: Session, ref: UserRef, now: datetime) -> Row[Any]:
    """The user's row, created on first contact, locked for this transaction on PostgreSQL."""
    query = _locked(_USER_BY_REF, session)
    params = {"platform": ref.platform, "workspace": ref.workspace, "user_id": ref.user_id}
    user = session.execute(query, params).one_or_none()
    if user is None:
        session.execute(
            _insert(session, User)
            .values(
                platform=ref.platform,
                workspace=ref.workspace,
                platform_user_id=ref.user_id,
                chat_id=ref.chat_id,
                created_at=now,
                active=True,
                profile={},
                conversation={},
                weekdays=0b1111111,
                reminders_on=False,
            )
            .on_conflict_do_nothing()
        )
        user = session.execute(query, params).one()
    return user


def user_by_id(session: Session, user_id: int) -> Row[Any] | None:
    """The user's row by id, locked for this transaction on PostgreSQL."""
    return session.execute(_locked(_USER_BY_ID, session), {"id": user_id}).one_or_none()


def mark_processed(session: Session, user_id: int, ref: UserRef, event_id: str, now: datetime) -> bool:
    """Record the platform's event id; False when it was already handled (a duplicate delivery).

    A check, then an insert: safe because the caller holds the user's lock (an event belongs to one
    person), and the unique key still stops a duplicate that slipped past (the transaction then fails
    and the platform redelivers, to be dropped here)."""
    if len(event_id) > EVENT_ID_MAX:  # never trust a platform (or a forger) to keep ids short
        event_id = "sha256:" + hashlib.sha256(event_id.encode("utf-8", "replace")).hexdigest()
    params = {"platform": ref.platform, "workspace": ref.workspace, "event_id": event_id}
    if session.execute(_EVENT_SEEN, params).first() is not None:
        return False
    session.execute(_MARK_EVENT, {"user_id": user_id, "at": now, **params})
    return True


def to_view(user: UserRecord, ref: UserRef, history: History | None, *, active: bool | None = None) -> UserView:
    """The flow's snapshot of a person; `active` overrides the stored flag (someone writing is active)."""
    return UserView(
        user_id=user.id,
        ref=ref,
        active=user.active if active is None else active,
        profile=Profile.model_validate(user.profile or {}),
        conversation=Conversation.model_validate(user.conversation or {}),
        schedule=schedule_of(user),
        loaded_history=history,
    )


def schedule_of(user: UserRecord) -> Schedule:
    return Schedule(
        timezone=user.timezone,
        reminder_time=user.reminder_time,
        weekdays=user.weekdays,
        reminders_on=user.reminders_on,
        paused_until=user.paused_until,
        hold_reason=user.hold_reason,
        next_fire_at=user.next_fire_at,
        served_through=user.served_through,
    )


def state_of(view: UserView, chat_id: str) -> dict[str, Any]:
    """The user row's columns that a flow may change, from its new view."""
    s = view.schedule
    return {
        "chat_id": chat_id,
        "active": view.active,
        "profile": view.profile.model_dump(mode="json"),
        "conversation": view.conversation.model_dump(mode="json"),
        "timezone": s.timezone,
        "reminder_time": s.reminder_time,
        "weekdays": s.weekdays,
        "reminders_on": s.reminders_on,
        "paused_until": s.paused_until,
        "hold_reason": s.hold_reason,
        "next_fire_at": s.next_fire_at,
        "served_through": s.served_through,
    }


def save_user(session: Session, user_id: int, view: UserView, chat_id: str) -> None:
    """Write the flow's new state to the (locked) user row: one cached UPDATE."""
    values = state_of(view, chat_id)
    session.execute(_SAVE_USER, {"row_id": user_id, **{f"new_{k}": v for k, v in values.items()}})


def load_history(session: Session, user_id: int, now: datetime, today: date, *, full: bool) -> History:
    """The figures flows need; the detailed lists only when `full` (for /history)."""
    since14 = now - timedelta(days=14)
    sessions_total, sessions_14d = (
        session.execute(
            select(func.count(), func.count().filter(ExerciseSession.started_at >= since14)).where(
                ExerciseSession.user_id == user_id, ExerciseSession.status == "completed"
            )
        )
    ).one()
    pain_skips, ignored = (reminder_counts(session, [user_id], now)).get(user_id, (0, 0))
    week_rows = (
        session.execute(
            select(ActivityLog.local_date, func.sum(ActivityLog.minutes))
            .where(ActivityLog.user_id == user_id, ActivityLog.local_date > today - timedelta(days=7))
            .group_by(ActivityLog.local_date)
        )
    ).all()
    by_day = {d: int(m or 0) for d, m in week_rows}
    recent_pain = [
        p
        for (p,) in (
            session.execute(
                select(ExerciseSession.pain_before)
                .where(ExerciseSession.user_id == user_id, ExerciseSession.pain_before.is_not(None))
                .order_by(ExerciseSession.started_at.desc())
                .limit(10)
            )
        ).all()
    ][::-1]
    history = History(
        sessions_total=sessions_total,
        sessions_14d=sessions_14d,
        pain_skips_14d=pain_skips,
        reminders_ignored=ignored,
        activity_minutes_7d=sum(by_day.values()),
        activity_days_7d=sum(1 for m in by_day.values() if m >= 30),
        activity_minutes_today=by_day.get(today, 0),
        recent_pain=recent_pain,
    )
    if full:
        history.activity_by_day = by_day
        history.recent_sessions = _recent_sessions(session, user_id)
        rows = (
            session.execute(
                select(SymptomReport.rule_id).where(
                    SymptomReport.user_id == user_id, SymptomReport.at >= now - timedelta(days=30)
                )
            )
        ).all()
        history.symptoms_30d = dict(Counter(r for (r,) in rows))
        history.records = load_records(session, user_id)
    return history


def load_records(session: Session, user_id: int) -> Records:
    """Every session (with its exercises), activity and symptom row of one person, oldest first: three
    queries plus one for exercises, run only for /history, /export and the weekly summary."""
    sessions = (
        session.execute(
            select(ExerciseSession).where(ExerciseSession.user_id == user_id).order_by(ExerciseSession.started_at)
        )
    ).scalars().all()
    logs: dict[int, list[ExerciseRow]] = {}
    for log in (
        session.execute(select(ExerciseLog).where(ExerciseLog.user_id == user_id).order_by(ExerciseLog.at))
    ).scalars():
        logs.setdefault(log.session_id, []).append(ExerciseRow(
            exercise_id=log.exercise_id, result=log.result, repetitions=log.repetitions,
            hold_seconds=log.hold_seconds, at=log.at,
        ))
    activities = (
        session.execute(select(ActivityLog).where(ActivityLog.user_id == user_id).order_by(ActivityLog.at))
    ).scalars().all()
    symptoms = (
        session.execute(select(SymptomReport).where(SymptomReport.user_id == user_id).order_by(SymptomReport.at))
    ).scalars().all()
    return Records(
        sessions=[
            SessionRow(started_at=s.started_at, local_date=s.local_date, status=s.status, pain_before=s.pain_before,
                       pain_after=s.pain_after, ended_at=s.ended_at, exercises=logs.get(s.id, []))
            for s in sessions
        ],
        activities=[ActivityRow(local_date=a.local_date, minutes=a.minutes, exertion=a.exertion, at=a.at)
                    for a in activities],
        symptoms=[SymptomRow(rule_id=r.rule_id, source=r.source, at=r.at) for r in symptoms],
    )


def reminder_counts(session: Session, user_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Per user: skips for pain in 14 days, and reminders sent in a row with no answer and no session since.

    Batched (two queries for any number of users) so the reminder claim can use it for a whole batch.
    A skip's reason is its own row (response "reason"), so any row with reason "pain" counts once.
    """
    pain = dict(
        (
            session.execute(
                select(ReminderResponse.user_id, func.count())
                .where(
                    ReminderResponse.user_id.in_(user_ids),
                    ReminderResponse.reason == "pain",
                    ReminderResponse.at >= now - timedelta(days=14),
                )
                .group_by(ReminderResponse.user_id)
            )
        ).all()
    )
    answered = select(ReminderResponse.id).where(
        ReminderResponse.user_id == OutboxMessage.user_id, ReminderResponse.at >= OutboxMessage.not_before
    )
    exercised = select(ExerciseSession.id).where(
        ExerciseSession.user_id == OutboxMessage.user_id, ExerciseSession.started_at >= OutboxMessage.not_before
    )
    ignored = dict(
        (
            session.execute(
                select(OutboxMessage.user_id, func.count())
                .where(
                    OutboxMessage.user_id.in_(user_ids),
                    OutboxMessage.kind == "reminder",
                    OutboxMessage.status == "sent",
                    ~answered.exists(),
                    ~exercised.exists(),
                )
                .group_by(OutboxMessage.user_id)
            )
        ).all()
    )
    return {uid: (int(pain.get(uid, 0)), int(ignored.get(uid, 0))) for uid in user_ids}


def _recent_sessions(session: Session, user_id: int, limit: int = 5) -> list[SessionSummary]:
    rows = (
        (
            session.execute(
                select(ExerciseSession)
                .where(ExerciseSession.user_id == user_id)
                .order_by(ExerciseSession.started_at.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    summaries = []
    for row in rows:
        counts = Counter(
            r
            for (r,) in (
                session.execute(select(ExerciseLog.result).where(ExerciseLog.session_id == row.id))
            ).all()
        )
        summaries.append(
            SessionSummary(
                local_date=row.local_date,
                status=row.status,
                done=counts["done"],
                skipped=counts["skipped"],
                hurt=counts["hurt"],
                pain_before=row.pain_before,
                pain_after=row.pain_after,
            )
        )
    return summaries


def save_view(user: User, view: UserView) -> None:
    """Write the flow's new state back onto an ORM user row (the reminder claim's batch path)."""
    for name, value in state_of(view, user.chat_id).items():
        setattr(user, name, value)


def apply_effects(session: Session, user_id: int, effects: list[Effect], now: datetime) -> bool:
    """Carry out the flow's effects. Returns False when the user was erased."""
    for effect in effects:
        match effect:
            case EraseUser():
                session.flush()  # anything pending is written first, so the erase below removes it too
                erase_user(session, user_id)
                return False
            case SessionRecord():
                _upsert_session(session, user_id, effect)
            case ExerciseLogged():
                session_id = _session_id(session, user_id, effect.session_started_at)
                session.add(
                    ExerciseLog(
                        user_id=user_id,
                        session_id=session_id,
                        exercise_id=effect.exercise_id,
                        result=effect.result,
                        repetitions=effect.repetitions,
                        hold_seconds=effect.hold_seconds,
                        at=effect.at,
                    )
                )
            case SymptomLogged():
                session.add(SymptomReport(user_id=user_id, rule_id=effect.rule_id, source=effect.source, at=effect.at))
            case ActivityLogged():
                session.add(
                    ActivityLog(
                        user_id=user_id,
                        local_date=effect.local_date,
                        minutes=effect.minutes,
                        exertion=effect.exertion,
                        at=effect.at,
                    )
                )
            case ReminderAnswered():
                session.add(
                    ReminderResponse(
                        user_id=user_id,
                        local_date=effect.local_date,
                        response=effect.response,
                        reason=effect.reason,
                        at=effect.at,
                    )
                )
            case ScheduleEvent():
                enqueue(
                    session,
                    user_id,
                    "event",
                    effect.dedupe_key,
                    {"action": effect.action, "data": effect.data},
                    effect.due_at,
                    now,
                )
            case SendLater():
                enqueue(
                    session,
                    user_id,
                    "message",
                    effect.dedupe_key,
                    {"replies": replies_to_json(effect.replies)},
                    effect.due_at,
                    now,
                )
    session.flush()
    return True


def enqueue(
    session: Session, user_id: int, kind: str, dedupe_key: str, payload: dict, not_before: datetime, now: datetime
) -> bool:
    """Add an outbox row unless one with the same dedupe key exists. True when a row was added."""
    params = {"user_id": user_id, "kind": kind, "dedupe_key": dedupe_key, "payload": payload,
              "created_at": now, "not_before": not_before}
    return session.execute(_ENQUEUE, params).scalar_one_or_none() is not None


def _upsert_session(session: Session, user_id: int, record: SessionRecord) -> None:
    row = (
        session.execute(
            select(ExerciseSession).where(
                ExerciseSession.user_id == user_id, ExerciseSession.started_at == record.started_at
            )
        )
    ).scalar_one_or_none()
    if row is None:
        row = ExerciseSession(user_id=user_id, started_at=record.started_at, local_date=record.local_date)
        session.add(row)
    row.status = record.status
    row.pain_before, row.pain_after = record.pain_before, record.pain_after
    row.helped = list(record.helped)
    row.ended_at = record.ended_at
    session.flush()


def _session_id(session: Session, user_id: int, started_at: datetime) -> int:
    return (
        session.execute(
            select(ExerciseSession.id).where(
                ExerciseSession.user_id == user_id, ExerciseSession.started_at == started_at
            )
        )
    ).scalar_one()


def erase_user(session: Session, user_id: int) -> None:
    """Every row about the person goes, children first (SQLite may run without FK cascades)."""
    for model in (
        ExerciseLog,
        ExerciseSession,
        SymptomReport,
        ActivityLog,
        ReminderResponse,
        OutboxMessage,
        ProcessedEvent,
    ):
        session.execute(delete(model).where(model.user_id == user_id))
    session.execute(delete(User).where(User.id == user_id))


def mark_inactive(session: Session, user_id: int) -> None:
    """The person blocked the bot: send nothing more until they come back."""
    session.execute(update(User).where(User.id == user_id).values(active=False))
