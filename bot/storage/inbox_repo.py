"""The inbox's rows: an inbound event made durable before the platform is answered, then processed.

Synchronous Core functions inside the caller's transaction, like the rest of the repository.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Row, bindparam, exists, select, text, update

from bot.storage.coltypes import UTCDateTime
from bot.storage.models import InboxEvent
from bot.storage.repository import USERS, Db, dialect_of, table_of
from bot.types import Inbound, InboundKind, UserRef

INBOX = table_of(InboxEvent)
PERSON_MAX = 200

_RECEIVE = text(
    "INSERT INTO inbox (event_key, platform, person, payload, received_at, status, attempts) "
    "VALUES (:event_key, :platform, :person, :payload, :received_at, 'pending', 0) "
    "ON CONFLICT (event_key) DO NOTHING RETURNING id"
).bindparams(bindparam("payload", type_=JSON()), bindparam("received_at", type_=UTCDateTime()))
_STATUS = select(INBOX.c.status).where(INBOX.c.event_key == bindparam("key"))
_NEXT = (
    select(INBOX.c.id, INBOX.c.payload, INBOX.c.attempts)
    .where(INBOX.c.person == bindparam("person"), INBOX.c.status == "pending")
    .order_by(INBOX.c.id)
    .limit(1)
)
# Received and processed in one transaction (nothing of the person's waits before it): only the key is kept.
_RECEIVE_DONE = text(
    "INSERT INTO inbox (event_key, platform, person, payload, received_at, status, attempts) "
    "VALUES (:event_key, :platform, NULL, NULL, :received_at, 'done', 0) "
    "ON CONFLICT (event_key) DO NOTHING RETURNING id"
).bindparams(bindparam("received_at", type_=UTCDateTime()))
_WAITING = select(INBOX.c.id).where(INBOX.c.person == bindparam("person"), INBOX.c.status == "pending").limit(1)
_USER_AND_WAITING = select(
    USERS,
    exists().where(INBOX.c.person == bindparam("person"), INBOX.c.status == "pending").label("inbox_waiting"),
).where(
    USERS.c.platform == bindparam("platform"),
    USERS.c.workspace == bindparam("workspace"),
    USERS.c.platform_user_id == bindparam("user_id"),
)
_FINISH = update(INBOX).where(INBOX.c.id == bindparam("row_id")).values(status="done", person=None, payload=None)


def event_key(platform: str, workspace: str, event_id: str) -> str:
    """A fixed-length hash: any id (long, odd bytes, NUL) fits, and the row says nothing about anyone."""
    raw = "\x1f".join((platform, workspace, event_id)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


def person_of(ref: UserRef) -> str:
    """Whose event it is, for processing in order per person (only kept while the row is pending)."""
    return "|".join((ref.platform, ref.workspace, ref.user_id))[:PERSON_MAX]


def inbound_to_json(inbound: Inbound) -> dict[str, Any]:
    return {
        "platform": inbound.user.platform,
        "workspace": inbound.user.workspace,
        "user_id": inbound.user.user_id,
        "chat_id": inbound.user.chat_id,
        "kind": inbound.kind.value,
        "text": inbound.text,
        "action": inbound.action,
        "event_id": inbound.event_id,
        "timezone_hint": inbound.timezone_hint,
        "source": inbound.source,
        "form": dict(inbound.form),
    }


def inbound_from_json(raw: dict[str, Any]) -> Inbound:
    return Inbound(
        user=UserRef(raw["platform"], raw["workspace"], raw["user_id"], raw["chat_id"]),
        kind=InboundKind(raw["kind"]),
        text=raw.get("text") or "",
        action=raw.get("action") or "",
        event_id=raw.get("event_id"),
        timezone_hint=raw.get("timezone_hint"),
        source=str(raw.get("source") or ""),
        form={str(k): str(v) for k, v in (raw.get("form") or {}).items()},
    )


@dataclass(frozen=True)
class Received:
    fresh: bool  # first delivery of this event
    pending: bool  # not processed yet (a fresh one, or a redelivery of one a crash left behind)


def receive(db: Db, inbound: Inbound, event_id: str, now: datetime) -> Received:
    """Write the event unless its key is known; says whether it still needs processing."""
    ref = inbound.user
    params = {
        "event_key": event_key(ref.platform, ref.workspace, event_id),
        "platform": ref.platform,
        "person": person_of(ref),
        "payload": inbound_to_json(inbound),
        "received_at": now,
    }
    if db.execute(_RECEIVE, params).scalar_one_or_none() is not None:
        return Received(fresh=True, pending=True)
    status = db.execute(_STATUS, {"key": params["event_key"]}).scalar_one_or_none()
    return Received(fresh=False, pending=status == "pending")


def waiting(db: Db, person: str) -> bool:
    """Whether an event of this person is still pending (a newer one must then wait its turn behind it)."""
    return db.execute(_WAITING, {"person": person}).first() is not None


def user_and_waiting(db: Db, ref: UserRef) -> tuple[Row[Any] | None, bool]:
    """The person's row (locked on PostgreSQL, as processing takes it; None for someone new) and whether
    an event of theirs is still pending, in one statement (a second only for someone new)."""
    person = person_of(ref)
    params = {"person": person, "platform": ref.platform, "workspace": ref.workspace, "user_id": ref.user_id}
    query = _USER_AND_WAITING.with_for_update(of=USERS) if dialect_of(db) == "postgresql" else _USER_AND_WAITING
    row = db.execute(query, params).one_or_none()
    if row is None:
        return None, waiting(db, person)
    return row, bool(row.inbox_waiting)


def receive_done(db: Db, inbound: Inbound, event_id: str, now: datetime) -> int | None:
    """Write the key of an event processed in this same transaction; None when the key is known (a
    redelivery). The row is the event's durability record, as a received-then-processed one would be."""
    ref = inbound.user
    params = {
        "event_key": event_key(ref.platform, ref.workspace, event_id),
        "platform": ref.platform,
        "received_at": now,
    }
    return db.execute(_RECEIVE_DONE, params).scalar_one_or_none()


@dataclass(frozen=True)
class Pending:
    id: int
    inbound: Inbound
    attempts: int


def next_pending(db: Db, person: str) -> Pending | None:
    """The person's oldest unprocessed event, locked on PostgreSQL (a second process waits, then sees it done)."""
    query = _NEXT.with_for_update() if dialect_of(db) == "postgresql" else _NEXT
    row = db.execute(query, {"person": person}).one_or_none()
    if row is None:
        return None
    return Pending(row.id, inbound_from_json(row.payload), row.attempts)


def finish(db: Db, row_id: int) -> None:
    """Processed: only the event's key is kept (to drop a redelivery); the text and the person go."""
    db.execute(_FINISH, {"row_id": row_id})


def failed_attempt(db: Db, row_id: int) -> int:
    db.execute(update(INBOX).where(INBOX.c.id == row_id).values(attempts=INBOX.c.attempts + 1))
    return int(db.execute(select(INBOX.c.attempts).where(INBOX.c.id == row_id)).scalar_one_or_none() or 0)


def set_hint(db: Db, row_id: int, timezone_hint: str) -> None:
    """Add a time-zone hint learnt after the event was received (Slack's users.info), if still pending."""
    row = db.execute(
        select(INBOX.c.payload).where(INBOX.c.id == row_id, INBOX.c.status == "pending")
    ).scalar_one_or_none()
    if row is not None:
        db.execute(update(INBOX).where(INBOX.c.id == row_id).values(payload={**row, "timezone_hint": timezone_hint}))


def key_status(db: Db, ref: UserRef, event_id: str) -> str | None:
    """The status of the inbox row holding this event's key (None when there is none)."""
    key = event_key(ref.platform, ref.workspace, event_id)
    return db.execute(_STATUS, {"key": key}).scalar_one_or_none()


def row_id_of(db: Db, platform: str, workspace: str, event_id: str) -> int | None:
    key = event_key(platform, workspace, event_id)
    return db.execute(select(INBOX.c.id).where(INBOX.c.event_key == key)).scalar_one_or_none()


def people_waiting(db: Db, received_before: datetime, limit: int = 500) -> list[str]:
    """People with events a crash or an error left unprocessed, oldest first."""
    rows = db.execute(
        select(INBOX.c.person, INBOX.c.id)
        .where(INBOX.c.status == "pending", INBOX.c.received_at <= received_before)
        .order_by(INBOX.c.id)
        .limit(limit)
    ).all()
    seen: dict[str, None] = {}
    for person, _ in rows:
        if person:
            seen.setdefault(person, None)
    return list(seen)


def pending_count(db: Db) -> int:
    from sqlalchemy import func

    return int(db.execute(select(func.count()).where(INBOX.c.status == "pending")).scalar_one())


def status_of(db: Db, row_id: int) -> str | None:
    return db.execute(select(INBOX.c.status).where(INBOX.c.id == row_id)).scalar_one_or_none()
