"""Reading and writing one person's rows. All I/O for the engine lives here, inside one transaction."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

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


def _insert(session: AsyncSession, table: Any):  # type: ignore[no-untyped-def]
    """INSERT ... ON CONFLICT DO NOTHING for whichever dialect we are on."""
    dialect = session.bind.dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


async def load_user(session: AsyncSession, ref: UserRef, now: datetime) -> User:
    """The user's row, created on first contact, locked for this transaction on PostgreSQL."""
    query = select(User).where(
        User.platform == ref.platform, User.workspace == ref.workspace, User.platform_user_id == ref.user_id
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    user = (await session.execute(query)).scalar_one_or_none()
    if user is None:
        await session.execute(
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
        user = (await session.execute(query)).scalar_one()
    if ref.chat_id and user.chat_id != ref.chat_id:
        user.chat_id = ref.chat_id
    if not user.active:  # they blocked the bot, then wrote again (unblocking sends /start): welcome back
        user.active = True
    return user


async def mark_processed(session: AsyncSession, user: User, ref: UserRef, event_id: str, now: datetime) -> bool:
    """Record the platform's event id; False when it was already handled (a duplicate delivery)."""
    if len(event_id) > EVENT_ID_MAX:  # never trust a platform (or a forger) to keep ids short
        event_id = "sha256:" + hashlib.sha256(event_id.encode("utf-8", "replace")).hexdigest()
    result = await session.execute(
        _insert(session, ProcessedEvent)
        .values(user_id=user.id, platform=ref.platform, workspace=ref.workspace, event_id=event_id, at=now)
        .on_conflict_do_nothing()
        .returning(ProcessedEvent.id)
    )
    return result.scalar_one_or_none() is not None


def to_view(user: User, ref: UserRef, history: History | None) -> UserView:
    return UserView(
        user_id=user.id,
        ref=ref,
        active=user.active,
        profile=Profile.model_validate(user.profile or {}),
        conversation=Conversation.model_validate(user.conversation or {}),
        schedule=schedule_of(user),
        loaded_history=history,
    )


def schedule_of(user: User) -> Schedule:
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


async def load_history(session: AsyncSession, user_id: int, now: datetime, today: date, *, full: bool) -> History:
    """The figures flows need; the detailed lists only when `full` (for /history)."""
    since14 = now - timedelta(days=14)
    sessions_total, sessions_14d = (
        await session.execute(
            select(func.count(), func.count().filter(ExerciseSession.started_at >= since14)).where(
                ExerciseSession.user_id == user_id, ExerciseSession.status == "completed"
            )
        )
    ).one()
    pain_skips, ignored = (await reminder_counts(session, [user_id], now)).get(user_id, (0, 0))
    week_rows = (
        await session.execute(
            select(ActivityLog.local_date, func.sum(ActivityLog.minutes))
            .where(ActivityLog.user_id == user_id, ActivityLog.local_date > today - timedelta(days=7))
            .group_by(ActivityLog.local_date)
        )
    ).all()
    by_day = {d: int(m or 0) for d, m in week_rows}
    recent_pain = [
        p
        for (p,) in (
            await session.execute(
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
        history.recent_sessions = await _recent_sessions(session, user_id)
        rows = (
            await session.execute(
                select(SymptomReport.rule_id).where(
                    SymptomReport.user_id == user_id, SymptomReport.at >= now - timedelta(days=30)
                )
            )
        ).all()
        history.symptoms_30d = dict(Counter(r for (r,) in rows))
        history.records = await load_records(session, user_id)
    return history


async def load_records(session: AsyncSession, user_id: int) -> Records:
    """Every session (with its exercises), activity and symptom row of one person, oldest first: three
    queries plus one for exercises, run only for /history, /export and the weekly summary."""
    sessions = (
        await session.execute(
            select(ExerciseSession).where(ExerciseSession.user_id == user_id).order_by(ExerciseSession.started_at)
        )
    ).scalars().all()
    logs: dict[int, list[ExerciseRow]] = {}
    for log in (
        await session.execute(select(ExerciseLog).where(ExerciseLog.user_id == user_id).order_by(ExerciseLog.at))
    ).scalars():
        logs.setdefault(log.session_id, []).append(ExerciseRow(
            exercise_id=log.exercise_id, result=log.result, repetitions=log.repetitions,
            hold_seconds=log.hold_seconds, at=log.at,
        ))
    activities = (
        await session.execute(select(ActivityLog).where(ActivityLog.user_id == user_id).order_by(ActivityLog.at))
    ).scalars().all()
    symptoms = (
        await session.execute(select(SymptomReport).where(SymptomReport.user_id == user_id).order_by(SymptomReport.at))
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


async def reminder_counts(session: AsyncSession, user_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Per user: skips for pain in 14 days, and reminders sent in a row with no answer and no session since.

    Batched (two queries for any number of users) so the reminder claim can use it for a whole batch.
    A skip's reason is its own row (response "reason"), so any row with reason "pain" counts once.
    """
    pain = dict(
        (
            await session.execute(
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
            await session.execute(
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


async def _recent_sessions(session: AsyncSession, user_id: int, limit: int = 5) -> list[SessionSummary]:
    rows = (
        (
            await session.execute(
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
                await session.execute(select(ExerciseLog.result).where(ExerciseLog.session_id == row.id))
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
    """Write the flow's new state back onto the (locked) user row."""
    user.profile = view.profile.model_dump(mode="json")
    user.conversation = view.conversation.model_dump(mode="json")
    s = view.schedule
    user.timezone, user.reminder_time, user.weekdays = s.timezone, s.reminder_time, s.weekdays
    user.reminders_on, user.paused_until, user.hold_reason = s.reminders_on, s.paused_until, s.hold_reason
    user.next_fire_at, user.served_through = s.next_fire_at, s.served_through
    user.active = view.active


async def apply_effects(session: AsyncSession, user: User, effects: list[Effect], now: datetime) -> bool:
    """Carry out the flow's effects. Returns False when the user was erased."""
    for effect in effects:
        match effect:
            case EraseUser():
                session.expunge(user)  # its pending state must not be flushed back after the delete
                await erase_user(session, user.id)
                return False
            case SessionRecord():
                await _upsert_session(session, user.id, effect)
            case ExerciseLogged():
                session_id = await _session_id(session, user.id, effect.session_started_at)
                session.add(
                    ExerciseLog(
                        user_id=user.id,
                        session_id=session_id,
                        exercise_id=effect.exercise_id,
                        result=effect.result,
                        repetitions=effect.repetitions,
                        hold_seconds=effect.hold_seconds,
                        at=effect.at,
                    )
                )
            case SymptomLogged():
                session.add(SymptomReport(user_id=user.id, rule_id=effect.rule_id, source=effect.source, at=effect.at))
            case ActivityLogged():
                session.add(
                    ActivityLog(
                        user_id=user.id,
                        local_date=effect.local_date,
                        minutes=effect.minutes,
                        exertion=effect.exertion,
                        at=effect.at,
                    )
                )
            case ReminderAnswered():
                session.add(
                    ReminderResponse(
                        user_id=user.id,
                        local_date=effect.local_date,
                        response=effect.response,
                        reason=effect.reason,
                        at=effect.at,
                    )
                )
            case ScheduleEvent():
                await enqueue(
                    session,
                    user.id,
                    "event",
                    effect.dedupe_key,
                    {"action": effect.action, "data": effect.data},
                    effect.due_at,
                    now,
                )
            case SendLater():
                await enqueue(
                    session,
                    user.id,
                    "message",
                    effect.dedupe_key,
                    {"replies": replies_to_json(effect.replies)},
                    effect.due_at,
                    now,
                )
    await session.flush()
    return True


async def enqueue(
    session: AsyncSession, user_id: int, kind: str, dedupe_key: str, payload: dict, not_before: datetime, now: datetime
) -> bool:
    """Add an outbox row unless one with the same dedupe key exists. True when a row was added."""
    result = await session.execute(
        _insert(session, OutboxMessage)
        .values(
            user_id=user_id,
            kind=kind,
            dedupe_key=dedupe_key,
            payload=payload,
            created_at=now,
            not_before=not_before,
            attempts=0,
            status="pending",
        )
        .on_conflict_do_nothing()
        .returning(OutboxMessage.id)
    )
    return result.scalar_one_or_none() is not None


async def _upsert_session(session: AsyncSession, user_id: int, record: SessionRecord) -> None:
    row = (
        await session.execute(
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
    await session.flush()


async def _session_id(session: AsyncSession, user_id: int, started_at: datetime) -> int:
    return (
        await session.execute(
            select(ExerciseSession.id).where(
                ExerciseSession.user_id == user_id, ExerciseSession.started_at == started_at
            )
        )
    ).scalar_one()


async def erase_user(session: AsyncSession, user_id: int) -> None:
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
        await session.execute(delete(model).where(model.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))


async def mark_inactive(session: AsyncSession, user_id: int) -> None:
    """The person blocked the bot: send nothing more until they come back."""
    await session.execute(update(User).where(User.id == user_id).values(active=False))
