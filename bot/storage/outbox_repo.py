"""Outbox rows under a fenced lease: a claim writes a fresh token, and every outcome (sent, retry later,
dropped) and every renewal counts only while the row still carries that token. So a worker whose lease
ran out can never overwrite what the row's new owner did, nor put a sent row back to pending."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, bindparam, text, update

from bot.storage.coltypes import UTCDateTime
from bot.storage.repository import OUTBOX, Db, _rowcount

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


def renew(db: Db, token: str, ids: list[int], until: datetime) -> int:
    """Extend this claim's lease on the rows still pending and still ours; returns how many."""
    if not ids:
        return 0
    return _rowcount(db.execute(_RENEW, {"ids": ids, "token": token, "until": until}))


def settle(db: Db, row_id: int, token: str, **values: Any) -> bool:
    """Record a send's outcome if the claim is still ours; False when another owner has the row now."""
    query = (
        update(OUTBOX)
        .where(OUTBOX.c.id == row_id, OUTBOX.c.claim_token == token, OUTBOX.c.status == "pending")
        .values(**values)
    )
    return _rowcount(db.execute(query)) == 1
