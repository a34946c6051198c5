"""Outbox rows under a fenced lease: a claim writes a fresh token, and every outcome (sent, retry later,
dropped) and every renewal counts only while the row still carries that token. So a worker whose lease
ran out can never overwrite what the row's new owner did, nor put a sent row back to pending.

A farewell (the reply to someone who has just erased everything) is a row with no user: its payload holds
the replies and the platform address (`to`: platform, workspace, chat id), nothing else about anyone, and
the row is deleted the moment its outcome is settled, so nothing of the person stays once it is sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, bindparam, delete, text, update
from sqlalchemy.sql.elements import ClauseElement

from bot.storage.coltypes import UTCDateTime
from bot.storage.repository import OUTBOX, Db, _rowcount
from bot.types import UserRef

_CLAIMED_REPLY = text(
    "INSERT INTO outbox (user_id, kind, dedupe_key, payload, created_at, not_before, attempts, status, "
    "claimed_until, claim_token) "
    "VALUES (:user_id, 'reply', :dedupe_key, :payload, :now, :now, 1, 'pending', :until, :token) "
    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
).bindparams(
    bindparam("payload", type_=JSON()),
    bindparam("now", type_=UTCDateTime()),
    bindparam("until", type_=UTCDateTime()),
)
_CLAIMED_FAREWELL = text(
    "INSERT INTO outbox (user_id, kind, dedupe_key, payload, created_at, not_before, attempts, status, "
    "claimed_until, claim_token) "
    "VALUES (NULL, 'farewell', :dedupe_key, :payload, :now, :now, 1, 'pending', :until, :token) "
    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
).bindparams(
    bindparam("payload", type_=JSON()),
    bindparam("now", type_=UTCDateTime()),
    bindparam("until", type_=UTCDateTime()),
)
_FORGET = delete(OUTBOX).where(
    OUTBOX.c.id == bindparam("row_id"), OUTBOX.c.user_id.is_(None), OUTBOX.c.status != "pending"
)
_RENEW = (
    update(OUTBOX)
    .where(
        OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        OUTBOX.c.claim_token == bindparam("token"),
        OUTBOX.c.status == "pending",
    )
    .values(claimed_until=bindparam("until"))
)


def add_claimed_reply(
    db: Db, user_id: int, dedupe_key: str, payload: dict[str, Any], now: datetime, until: datetime, token: str
) -> int | None:
    """An event's replies, written with its state change and already leased to the process that will send
    them at once; should it die, the lease runs out and any process's outbox sends them."""
    params = {"user_id": user_id, "dedupe_key": dedupe_key, "payload": payload, "now": now, "until": until}
    return db.execute(_CLAIMED_REPLY, {**params, "token": token}).scalar_one_or_none()


def add_claimed_farewell(
    db: Db, ref: UserRef, dedupe_key: str, replies: list[Any], now: datetime, until: datetime, token: str
) -> int | None:
    """The replies to an erasure, leased to the process that sends them at once (like `add_claimed_reply`),
    addressed by chat id alone: the person's row is already gone."""
    to = {"platform": ref.platform, "workspace": ref.workspace, "chat_id": ref.chat_id}
    params = {"dedupe_key": dedupe_key, "payload": {"replies": replies, "to": to}, "now": now, "until": until}
    return db.execute(_CLAIMED_FAREWELL, {**params, "token": token}).scalar_one_or_none()


def address_of(payload: dict[str, Any]) -> UserRef:
    """A farewell's recipient: only the platform address, no user id."""
    to = payload.get("to") or {}
    chat = str(to.get("chat_id") or "")
    return UserRef(str(to.get("platform") or ""), str(to.get("workspace") or ""), chat, chat)


def renew(db: Db, token: str, ids: list[int], until: datetime) -> int:
    """Extend this claim's lease on the rows still pending and still ours; returns how many."""
    if not ids:
        return 0
    return _rowcount(db.execute(_RENEW, {"ids": ids, "token": token, "until": until}))


_SETTLE_WHERE = (
    OUTBOX.c.id == bindparam("row_id"),
    OUTBOX.c.claim_token == bindparam("token"),
    OUTBOX.c.status == "pending",
)
_SETTLES: dict[tuple[str, ...], Any] = {}  # one statement per set of plain columns settled (a handful)


def _settle_query(columns: tuple[str, ...]) -> Any:
    """Built once per column set: building and cache-keying the UPDATE cost more than running it."""
    query = _SETTLES.get(columns)
    if query is None:
        query = update(OUTBOX).where(*_SETTLE_WHERE).values({c: bindparam(f"v_{c}") for c in columns})
        _SETTLES[columns] = query
    return query


def settle(db: Db, row_id: int, token: str, *, farewell: bool = False, **values: Any) -> bool:
    """Record a send's outcome if the claim is still ours; False when another owner has the row now.
    A `farewell` row is deleted instead once its outcome is final (sent, dropped, failed)."""
    if any(isinstance(v, ClauseElement) for v in values.values()):  # e.g. attempts - 1: built as given
        query = (
            update(OUTBOX)
            .where(OUTBOX.c.id == row_id, OUTBOX.c.claim_token == token, OUTBOX.c.status == "pending")
            .values(**values)
        )
        result = db.execute(query)
    else:
        params = {"row_id": row_id, "token": token, **{f"v_{c}": v for c, v in values.items()}}
        result = db.execute(_settle_query(tuple(sorted(values))), params)
    mine = _rowcount(result) == 1
    if mine and farewell:
        db.execute(_FORGET, {"row_id": row_id})  # only once final: a retry keeps it pending
    return mine
