"""Reading and writing one person's rows. All I/O for the engine lives here, inside one transaction.

Plain synchronous functions: the engine runs a whole event in one call (a worker thread on SQLite, the
greenlet bridge `run_sync` on PostgreSQL), and async callers use `AsyncSession.run_sync` too. Statements
are built once at import where they can be, so SQLAlchemy serves them from its compiled cache.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    CursorResult,
    Result,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.effects import (
    ActivityLogged,
    ActivityRemoved,
    Effect,
    EraseUser,
    ExerciseLogged,
    ReminderAnswered,
    ScheduleEvent,
    SendLater,
    SessionRecord,
    SymptomLogged,
)
from bot.progress import ActivityRow, ExerciseRow, Records, SessionRow, SkipRow, SymptomRow
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
    table_of,
)
from bot.types import UserRef
from bot.wire import replies_to_json

EVENT_ID_MAX = 128

# Every function here runs on a Core connection (the engine's per-event transaction) or an ORM session (async
# callers via `run_sync`): only Core statements are used, which both execute alike.
Db = Connection | Session


def dialect_of(db: Db) -> str:
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


def _insert(db: Db, table: Any):  # type: ignore[no-untyped-def]
    """INSERT ... ON CONFLICT DO NOTHING for whichever dialect we are on."""
    dialect = dialect_of(db)
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


USERS = table_of(User)
# What a view is built from: an ORM `User` (the reminder claim) or a Core row of `users` (the engine's hot
# path, which skips the ORM's identity map and unit of work). Both have the same attribute names.
UserRecord = User | Row[Any]

# Built once: SQLAlchemy then serves their compiled form from its cache on every event. The dialects'
# INSERT ... ON CONFLICT cannot be cached in SQLAlchemy 2.0 (it was recompiled on every call, about a
# millisecond), so the hot path spells it out: the same SQL on both databases.
_USER_BY_REF = select(USERS).where(
    USERS.c.platform == bindparam("platform"),
    USERS.c.workspace == bindparam("workspace"),
    USERS.c.platform_user_id == bindparam("user_id"),
)
_USER_BY_ID = select(USERS).where(USERS.c.id == bindparam("id"))
_STATE_COLUMNS = (
    "chat_id",
    "active",
    "profile",
    "conversation",
    "timezone",
    "reminder_time",
    "weekdays",
    "reminders_on",
    "paused_until",
    "hold_reason",
    "next_fire_at",
    "served_through",
)
_SAVE_USER = (
    update(USERS)
    .where(USERS.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}") for name in _STATE_COLUMNS})
)
_MARK_EVENT = text(
    "INSERT INTO processed_events (user_id, platform, workspace, event_id, at) "
    "VALUES (:user_id, :platform, :workspace, :event_id, :at) "
    "ON CONFLICT (platform, workspace, event_id) DO NOTHING RETURNING id"
).bindparams(bindparam("at", type_=UTCDateTime()))
_ENQUEUE = text(
    "INSERT INTO outbox (user_id, kind, dedupe_key, payload, created_at, not_before, attempts, status) "
    "VALUES (:user_id, :kind, :dedupe_key, :payload, :created_at, :not_before, 0, 'pending') "
    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
).bindparams(
    bindparam("payload", type_=JSON()),
    bindparam("created_at", type_=UTCDateTime()),
    bindparam("not_before", type_=UTCDateTime()),
)


# The reminder claim: due people (the tick's query), and what a claim changes on their rows.
_DUE_WHERE = (
    USERS.c.next_fire_at <= bindparam("until"),
    USERS.c.reminders_on.is_(True),
    USERS.c.active.is_(True),
    USERS.c.hold_reason.is_(None),
    or_(USERS.c.paused_until.is_(None), USERS.c.paused_until <= bindparam("until")),
)
_SAVE_SERVED = (
    update(USERS)
    .where(USERS.c.id == bindparam("row_id"))
    .values(served_through=bindparam("new_served_through"), next_fire_at=bindparam("new_next_fire_at"))
)
_SAVE_REMINDED = _SAVE_SERVED.values(conversation=bindparam("new_conversation"))


SESSIONS = table_of(ExerciseSession)
OUTBOX = table_of(OutboxMessage)
LOGS = table_of(ExerciseLog)
ACTIVITIES = table_of(ActivityLog)
SYMPTOMS = table_of(SymptomReport)
ANSWERS = table_of(ReminderResponse)
_LOG_EXERCISE = insert(LOGS).values(  # its session's id looked up in the same statement
    session_id=select(SESSIONS.c.id)
    .where(SESSIONS.c.user_id == bindparam("of_user"), SESSIONS.c.started_at == bindparam("of_start"))
    .scalar_subquery()
)
_INSERT_SYMPTOM = insert(SYMPTOMS)
_INSERT_ACTIVITY = insert(ACTIVITIES)
_INSERT_ANSWER = insert(table_of(ReminderResponse))
_INSERT_SESSION = insert(SESSIONS)
_UPDATE_SESSION = (
    update(SESSIONS)
    .where(SESSIONS.c.user_id == bindparam("of_user"), SESSIONS.c.started_at == bindparam("of_start"))
    .values(
        status=bindparam("new_status"),
        pain_before=bindparam("new_pain_before"),
        pain_after=bindparam("new_pain_after"),
        helped=bindparam("new_helped"),
        ended_at=bindparam("new_ended_at"),
    )
)


def _locked(query: Select, db: Db) -> Select:
    return query.with_for_update() if dialect_of(db) == "postgresql" else query


def load_user(db: Db, ref: UserRef, now: datetime) -> Row[Any]:
    """The user's row, created on first contact, locked for this transaction on PostgreSQL."""
    query = _locked(_USER_BY_REF, db)
    params = {"platform": ref.platform, "workspace": ref.workspace, "user_id": ref.user_id}
    user = db.execute(query, params).one_or_none()
    if user is None:
        db.execute(
            _insert(db, User)
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
        user = db.execute(query, params).one()
    return user


def find_user(db: Db, ref: UserRef) -> Row[Any] | None:
    """The user's row if they exist (locked on PostgreSQL); never creates one."""
    params = {"platform": ref.platform, "workspace": ref.workspace, "user_id": ref.user_id}
    return db.execute(_locked(_USER_BY_REF, db), params).one_or_none()


def user_by_id(db: Db, user_id: int) -> Row[Any] | None:
    """The user's row by id, locked for this transaction on PostgreSQL."""
    return db.execute(_locked(_USER_BY_ID, db), {"id": user_id}).one_or_none()


def event_key(event_id: str) -> str:
    """The id as stored: never trust a platform (or a forger) to keep ids short or printable (PostgreSQL
    text cannot hold a NUL byte)."""
    if len(event_id) > EVENT_ID_MAX or not event_id.isprintable():
        return "sha256:" + hashlib.sha256(event_id.encode("utf-8", "replace")).hexdigest()
    return event_id


def was_processed(db: Db, ref: UserRef, event_id: str) -> bool:
    query = select(ProcessedEvent.id).where(
        ProcessedEvent.platform == ref.platform,
        ProcessedEvent.workspace == ref.workspace,
        ProcessedEvent.event_id == event_key(event_id),
    )
    return db.execute(query).first() is not None


def mark_processed(db: Db, user_id: int, ref: UserRef, event_id: str, now: datetime) -> bool:
    """Record the platform's event id; False when it was already handled (a duplicate delivery)."""
    params = {
        "user_id": user_id,
        "platform": ref.platform,
        "workspace": ref.workspace,
        "event_id": event_key(event_id),
        "at": now,
    }
    return db.execute(_MARK_EVENT, params).scalar_one_or_none() is not None


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


def save_user(db: Db, user_id: int, view: UserView, chat_id: str, before: UserRecord | None = None) -> None:
    """Write the flow's new state to the (locked) user row: one cached UPDATE. Given the row as it was read
    (`before`), only the columns that changed are written, and nothing when none did (a tap mostly moves
    the conversation: the profile's JSON is then neither encoded nor written)."""
    values = state_of(view, chat_id)
    if before is None:
        db.execute(_SAVE_USER, {"row_id": user_id, **{f"new_{k}": v for k, v in values.items()}})
        return
    changed = tuple(k for k in _STATE_COLUMNS if getattr(before, k) != values[k])
    if changed:
        db.execute(_save_columns(changed), {"row_id": user_id, **{f"new_{k}": values[k] for k in changed}})


_SAVES: dict[tuple[str, ...], Any] = {}  # one UPDATE per set of changed columns (a handful in practice)


def _save_columns(columns: tuple[str, ...]) -> Any:
    """Built once per column set, so SQLAlchemy serves it from its compiled cache."""
    query = _SAVES.get(columns)
    if query is None:
        query = (
            update(USERS)
            .where(USERS.c.id == bindparam("row_id"))
            .values({name: bindparam(f"new_{name}") for name in columns})
        )
        _SAVES[columns] = query
    return query


def load_history(
    db: Db,
    user_id: int,
    now: datetime,
    today: date,
    *,
    full: bool,
    records: bool = True,
    records_since: date | None = None,
) -> History:
    """The figures flows need; the detailed lists only when `full` (for /history), and then the records
    (`records`, from the local date `records_since` on, or all) for the weekly summary and /export."""
    since14 = now - timedelta(days=14)
    sessions_total, sessions_14d = db.execute(_SESSION_COUNTS, {"uid": user_id, "since": since14}).one()
    pain_skips, ignored = (reminder_counts(db, [user_id], now)).get(user_id, (0, 0))
    week_rows = db.execute(_WEEK_ACTIVITY, {"uid": user_id, "after": today - timedelta(days=7)}).all()
    by_day = {d: int(m or 0) for d, m in week_rows}
    history = History(
        sessions_total=sessions_total,
        sessions_14d=sessions_14d,
        pain_skips_14d=pain_skips,
        reminders_ignored=ignored,
        activity_minutes_7d=sum(by_day.values()),
        activity_days_7d=sum(1 for m in by_day.values() if m >= 30),
        activity_minutes_today=by_day.get(today, 0),
    )
    if full:
        history.activity_by_day = by_day
        history.recent_sessions = _recent_sessions(db, user_id)
        rows = (
            db.execute(
                select(SymptomReport.rule_id).where(
                    SymptomReport.user_id == user_id, SymptomReport.at >= now - timedelta(days=30)
                )
            )
        ).all()
        history.symptoms_30d = dict(Counter(r for (r,) in rows))
        history.records = load_records(db, user_id, since=records_since) if records else None
    return history


def load_records(db: Db, user_id: int, *, since: date | None = None) -> Records:
    """Every session (with its exercises), activity and symptom row of one person, oldest first, or those
    from the local date `since` on: three queries plus one for exercises, run only for /export and the weekly
    summary. Symptoms are stamped in UTC: a day more is read, the caller picks by local date."""
    session_query = select(SESSIONS).where(SESSIONS.c.user_id == user_id)
    log_query = select(LOGS).where(LOGS.c.user_id == user_id)
    activity_query = select(ACTIVITIES).where(ACTIVITIES.c.user_id == user_id)
    symptom_query = select(SYMPTOMS).where(SYMPTOMS.c.user_id == user_id)
    if since is not None:
        session_query = session_query.where(SESSIONS.c.local_date >= since)
        first_session = select(func.min(SESSIONS.c.id)).where(
            SESSIONS.c.user_id == user_id, SESSIONS.c.local_date >= since
        )
        log_query = log_query.where(LOGS.c.session_id >= first_session.scalar_subquery())
        activity_query = activity_query.where(ACTIVITIES.c.local_date >= since)
        symptom_query = symptom_query.where(SYMPTOMS.c.at >= datetime.combine(since, time(), UTC) - timedelta(days=1))
    sessions = db.execute(session_query.order_by(SESSIONS.c.started_at)).all()
    logs: dict[int, list[ExerciseRow]] = {}
    for log in db.execute(log_query.order_by(LOGS.c.at)):
        logs.setdefault(log.session_id, []).append(
            ExerciseRow(
                exercise_id=log.exercise_id,
                result=log.result,
                repetitions=log.repetitions,
                hold_seconds=log.hold_seconds,
                held=log.held or [],
                at=log.at,
            )
        )
    activities = db.execute(activity_query.order_by(ACTIVITIES.c.at))
    symptoms = db.execute(symptom_query.order_by(SYMPTOMS.c.at))
    answer_query = select(ANSWERS.c.local_date, ANSWERS.c.response, ANSWERS.c.reason, ANSWERS.c.at).where(
        ANSWERS.c.user_id == user_id, ANSWERS.c.response.in_(("skipped", "reason"))
    )
    if since is not None:
        answer_query = answer_query.where(ANSWERS.c.local_date >= since)
    answers = db.execute(answer_query.order_by(ANSWERS.c.at)).all()
    reasons = {a.local_date: a.reason for a in answers if a.response == "reason"}  # the skip's optional reason
    skips = [
        SkipRow(local_date=a.local_date, reason=reasons.get(a.local_date), at=a.at)
        for a in answers
        if a.response == "skipped"
    ]
    return Records(
        sessions=[
            SessionRow(
                started_at=s.started_at,
                local_date=s.local_date,
                status=s.status,
                pain_before=s.pain_before,
                pain_after=s.pain_after,
                ended_at=s.ended_at,
                exercises=logs.get(s.id, []),
            )
            for s in sessions
        ],
        activities=[
            ActivityRow(local_date=a.local_date, minutes=a.minutes, exertion=a.exertion, at=a.at) for a in activities
        ],
        symptoms=[SymptomRow(rule_id=r.rule_id, source=r.source, at=r.at) for r in symptoms],
        skips=skips,
    )


# The figures' statements, built once: building and cache-keying them on every event cost more than running
# them (they are read for every event of a flow that declares Need.FIGURES, e.g. each step of a session).
_PAIN_SKIPS = (
    select(ReminderResponse.user_id, func.count())
    .where(
        ReminderResponse.user_id.in_(bindparam("uids", expanding=True)),
        ReminderResponse.reason == "pain",
        ReminderResponse.at >= bindparam("since"),
    )
    .group_by(ReminderResponse.user_id)
)
_ANSWERED = select(ReminderResponse.id).where(
    ReminderResponse.user_id == OutboxMessage.user_id, ReminderResponse.at >= OutboxMessage.not_before
)
_EXERCISED = select(ExerciseSession.id).where(
    ExerciseSession.user_id == OutboxMessage.user_id, ExerciseSession.started_at >= OutboxMessage.not_before
)
_IGNORED = (
    select(OutboxMessage.user_id, func.count())
    .where(
        OutboxMessage.user_id.in_(bindparam("uids", expanding=True)),
        OutboxMessage.kind == "reminder",
        OutboxMessage.status == "sent",
        ~_ANSWERED.exists(),
        ~_EXERCISED.exists(),
    )
    .group_by(OutboxMessage.user_id)
)
_SESSION_COUNTS = select(func.count(), func.count().filter(ExerciseSession.started_at >= bindparam("since"))).where(
    ExerciseSession.user_id == bindparam("uid"), ExerciseSession.status == "completed"
)
_WEEK_ACTIVITY = (
    select(ActivityLog.local_date, func.sum(ActivityLog.minutes))
    .where(ActivityLog.user_id == bindparam("uid"), ActivityLog.local_date > bindparam("after"))
    .group_by(ActivityLog.local_date)
)


def reminder_counts(db: Db, user_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Per user: skips for pain in 14 days, and reminders sent in a row with no answer and no session since.

    Batched (two queries for any number of users) so the reminder claim can use it for a whole batch.
    A skip's reason is its own row (response "reason"), so any row with reason "pain" counts once.
    """
    since = now - timedelta(days=14)
    pain: dict[int, int] = dict(db.execute(_PAIN_SKIPS, {"uids": user_ids, "since": since}).tuples().all())
    ignored: dict[int | None, int] = dict(  # only rows of these users: never a farewell's None
        db.execute(_IGNORED, {"uids": user_ids}).tuples().all()
    )
    return {uid: (int(pain.get(uid, 0)), int(ignored.get(uid, 0))) for uid in user_ids}


def due_reminders(db: Db, until: datetime, limit: int) -> list[Row[Any]]:
    """Up to `limit` people whose reminder is due by `until`, earliest first; on PostgreSQL locked and
    skipping rows another process has locked, so two processes take disjoint batches."""
    query = select(USERS).where(*_DUE_WHERE).order_by(USERS.c.next_fire_at).limit(limit)
    if dialect_of(db) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.execute(query, {"until": until}).all())


def save_served(db: Db, changes: list[dict[str, Any]]) -> None:
    """What a claim changed on rows it did not run the flow for: the day served, the next fire and, when a
    reminder was built, the conversation (`new_conversation`). One executemany per shape."""
    with_conversation = [c for c in changes if c.get("new_conversation") is not None]
    without = [c for c in changes if c.get("new_conversation") is None]
    if with_conversation:
        db.execute(_SAVE_REMINDED, with_conversation)
    if without:
        db.execute(_SAVE_SERVED, [{k: v for k, v in c.items() if k != "new_conversation"} for c in without])


def queue_reminders(db: Db, rows: list[dict[str, Any]]) -> int:
    """The batch's reminder rows in one multi-row insert; a row already queued (same dedupe key) is kept."""
    if not rows:
        return 0
    db.execute(_insert(db, OUTBOX).on_conflict_do_nothing(), rows)
    return len(rows)


def _recent_sessions(db: Db, user_id: int, limit: int = 5) -> list[SessionSummary]:
    rows = db.execute(
        select(SESSIONS).where(SESSIONS.c.user_id == user_id).order_by(SESSIONS.c.started_at.desc()).limit(limit)
    ).all()
    summaries = []
    for row in rows:
        logged = db.execute(select(LOGS.c.exercise_id, LOGS.c.result).where(LOGS.c.session_id == row.id)).all()
        counts = Counter(r for (_, r) in logged)
        summaries.append(
            SessionSummary(
                local_date=row.local_date,
                status=row.status,
                done=counts["done"],
                skipped=counts["skipped"],
                hurt=counts["hurt"],
                pain_before=row.pain_before,
                pain_after=row.pain_after,
                radiating=[ex for (ex, r) in logged if r == "radiating"],
            )
        )
    return summaries


def apply_effects(db: Db, user_id: int, effects: list[Effect], now: datetime) -> bool:
    """Carry out the flow's effects with cached Core statements. Returns False when the user was erased."""
    for effect in effects:
        match effect:
            case EraseUser():
                erase_user(db, user_id)
                return False
            case SessionRecord():
                _upsert_session(db, user_id, effect)
            case ExerciseLogged():
                db.execute(
                    _LOG_EXERCISE,
                    {
                        "of_user": user_id,
                        "of_start": effect.session_started_at,
                        "user_id": user_id,
                        "exercise_id": effect.exercise_id,
                        "result": effect.result,
                        "repetitions": effect.repetitions,
                        "hold_seconds": effect.hold_seconds,
                        "held": [{"seconds": sec, "finished": done} for sec, done in effect.held] or None,
                        "at": effect.at,
                    },
                )
            case SymptomLogged():
                db.execute(
                    _INSERT_SYMPTOM,
                    {
                        "user_id": user_id,
                        "rule_id": effect.rule_id,
                        "source": effect.source,
                        "at": effect.at,
                    },
                )
            case ActivityLogged():
                db.execute(
                    _INSERT_ACTIVITY,
                    {
                        "user_id": user_id,
                        "local_date": effect.local_date,
                        "minutes": effect.minutes,
                        "exertion": effect.exertion,
                        "at": effect.at,
                    },
                )
            case ActivityRemoved():
                db.execute(delete(ACTIVITIES).where(ACTIVITIES.c.user_id == user_id, ACTIVITIES.c.at == effect.at))
            case ReminderAnswered():
                db.execute(
                    _INSERT_ANSWER,
                    {
                        "user_id": user_id,
                        "local_date": effect.local_date,
                        "response": effect.response,
                        "reason": effect.reason,
                        "at": effect.at,
                    },
                )
            case ScheduleEvent():
                payload: dict[str, Any] = {"action": effect.action, "data": effect.data}
                enqueue(db, user_id, "event", effect.dedupe_key, payload, effect.due_at, now)
            case SendLater():
                payload = {"replies": replies_to_json(effect.replies)}
                enqueue(db, user_id, "message", effect.dedupe_key, payload, effect.due_at, now)
    return True


def enqueue(
    db: Db, user_id: int, kind: str, dedupe_key: str, payload: dict, not_before: datetime, now: datetime
) -> bool:
    """Add an outbox row unless one with the same dedupe key exists. True when a row was added."""
    params: dict[str, Any] = {
        "user_id": user_id,
        "kind": kind,
        "dedupe_key": dedupe_key,
        "payload": payload,
        "created_at": now,
        "not_before": not_before,
    }
    return db.execute(_ENQUEUE, params).scalar_one_or_none() is not None


def _rowcount(result: Result[Any]) -> int:
    """An UPDATE's row count (every DML result is a CursorResult; `Result` is how `execute` is typed)."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def _upsert_session(db: Db, user_id: int, record: SessionRecord) -> None:
    changes = {
        "status": record.status,
        "pain_before": record.pain_before,
        "pain_after": record.pain_after,
        "helped": list(record.helped),
        "ended_at": record.ended_at,
    }
    key = {"of_user": user_id, "of_start": record.started_at}
    updated = _rowcount(db.execute(_UPDATE_SESSION, {**key, **{f"new_{k}": v for k, v in changes.items()}}))
    if updated == 0:  # the user is locked, so nobody races this insert
        db.execute(
            _INSERT_SESSION,
            {"user_id": user_id, "started_at": record.started_at, **changes, "local_date": record.local_date},
        )


def erase_user(db: Db, user_id: int) -> None:
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
        db.execute(delete(model).where(model.user_id == user_id))
    db.execute(delete(User).where(User.id == user_id))


def claim_event(db: Db, outbox_id: int) -> bool:
    """Lock a due outbox event for this transaction; False when it is gone or already done."""
    query = _locked(select(OUTBOX.c.status).where(OUTBOX.c.id == outbox_id), db)
    return db.execute(query).scalar_one_or_none() == "pending"


def mark_sent(db: Db, outbox_id: int, now: datetime) -> None:
    db.execute(update(OUTBOX).where(OUTBOX.c.id == outbox_id).values(status="sent", sent_at=now, claimed_until=None))


def _by_ref(ref: UserRef) -> Any:
    return (
        (USERS.c.platform == ref.platform)
        & (USERS.c.workspace == ref.workspace)
        & (USERS.c.platform_user_id == ref.user_id)
    )


def live_message(db: Db, ref: UserRef) -> str | None:
    """The platform id of the person's live question message (bot/flows/living.py), if one is known."""
    return db.execute(select(USERS.c.live_message).where(_by_ref(ref))).scalar_one_or_none()


def set_live_message(db: Db, ref: UserRef, message_id: str | None) -> None:
    """Recorded by the sender after it sent (or closed) a question; the engine's save never touches it."""
    db.execute(update(USERS).where(_by_ref(ref)).values(live_message=message_id))


def mark_inactive(db: Db, user_id: int) -> None:
    """The person blocked the bot: send nothing more until they come back."""
    db.execute(update(User).where(User.id == user_id).values(active=False))


def mark_inactive_ref(db: Db, ref: UserRef) -> None:
    db.execute(
        update(User)
        .where(User.platform == ref.platform, User.workspace == ref.workspace, User.platform_user_id == ref.user_id)
        .values(active=False)
    )
