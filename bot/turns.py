"""One person's work, one piece at a time, in arrival order: a FIFO lock per key, dropped when unused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class Turns:
    """asyncio.Lock is FIFO, so waiters for one key are served in the order they asked; different keys
    never wait for each other. The lock is forgotten once nobody holds or wants it (memory stays flat)."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def busy(self, key: Hashable) -> bool:
        """Whether someone holds or waits for this key's turn now."""
        return key in self._locks

    def __len__(self) -> int:
        return len(self._locks)
