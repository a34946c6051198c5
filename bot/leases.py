"""Outbox leases that a live worker keeps: every claim this process holds is renewed while it sends.

A claim is (fencing token, row ids). While any claim is held, one background task extends the leases every
`renew_every` seconds (a third of the lease), so a slow platform or a long batch never lets a lease run out
under a live worker: another process takes a row only after its owner has stopped renewing (it died). A
renewal that fails (the database dropped the connection) is tried again next round; the lease has two more
rounds to spare.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from bot.storage import outbox_repo

if TYPE_CHECKING:
    from bot.engine import Engine

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)


def new_token() -> str:
    return secrets.token_hex(16)


class Leases:
    def __init__(self, engine: Engine, lease: timedelta = LEASE) -> None:
        self._engine = weakref.ref(engine)  # no cycle: an engine dropped without close() is still collected
        self.lease = lease
        self._held: dict[str, set[int]] = {}
        self._task: asyncio.Task[None] | None = None
        self.renewals = 0

    @property
    def renew_every(self) -> float:
        return self.lease.total_seconds() / 3

    def until(self):  # type: ignore[no-untyped-def]
        """The end of a lease taken or renewed now (the engine's clock, like every stored instant)."""
        return self.engine.clock.now() + self.lease

    @property
    def engine(self) -> Engine:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the engine is gone")
        return engine

    def hold(self, token: str, ids: list[int]) -> None:
        if not ids:
            return
        self._held.setdefault(token, set()).update(ids)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._keep())

    def release(self, token: str, row_id: int) -> None:
        rows = self._held.get(token)
        if rows is None:
            return
        rows.discard(row_id)
        if not rows:
            del self._held[token]

    def held(self) -> int:
        return sum(len(r) for r in self._held.values())

    async def _keep(self) -> None:
        while self._held and self._engine() is not None:
            await asyncio.sleep(self.renew_every)
            if not self._held:
                return
            await self.renew_now()

    async def renew_now(self) -> None:
        claims = [(token, sorted(rows)) for token, rows in self._held.items()]
        until = self.until()

        def work(db: outbox_repo.Db) -> None:
            for token, ids in claims:
                outbox_repo.renew(db, token, ids, until)

        try:
            await self.engine.transaction(work)
            self.renewals += 1
        except DBAPIError as exc:
            log.warning("lease renewal failed; retrying next round", extra={"error": type(exc).__name__})

    def stop(self) -> None:
        """No more renewals (shutting down): what is still held runs out and is sent by whoever is alive."""
        self._held.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
