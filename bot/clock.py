"""An injectable clock, so tests and the console's simulated time can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC)


class OffsetClock:
    """Real time shifted by an offset that `advance` grows: the console's simulated clock.

    Time keeps flowing (so a 30-second hold timer fires by itself) while `/advance 1d` jumps ahead.
    """

    def __init__(self, start: datetime | None = None, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = (start.astimezone(UTC) - self._base.now()) if start else timedelta(0)

    def now(self) -> datetime:
        return self._base.now() + self._offset

    def advance(self, delta: timedelta) -> datetime:
        self._offset += delta
        return self.now()

    def set(self, instant: datetime) -> None:
        """Start (or restart) simulated time at `instant`; it flows on from there."""
        self._offset = instant.astimezone(UTC) - self._base.now()
