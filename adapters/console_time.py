"""The console's simulated clock, in the words a person types: `--now 2026-03-08T07:00`, `/advance 1d2h`.

`--now` is a wall-clock time in the person's own zone (the one they chose at sign-up), because that is
the time the bot talks in; before anyone has signed up it is UTC. An explicit offset (`+01:00`, `Z`) or a
zone name after a space (`2026-03-08T07:00 Europe/Berlin`) says otherwise. The console prints the start
with its zone either way, so the reading is never a guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A duration is one or more <number><unit> parts: 30s, 10m, 2h, 4d, 23h50m, 1d 2h, 90min.
_PART = re.compile(r"(\d+)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])")
_UNIT = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
MAX_ADVANCE = timedelta(days=366)


def parse_duration(text: str) -> timedelta | None:
    """A compound duration, or None when the text is anything else (or more than a year)."""
    text = text.strip().lower()
    if not text:
        return None
    total = timedelta(0)
    position = 0
    for match in _PART.finditer(text):
        if text[position : match.start()].strip(" ,"):  # something that is not a part sits in between
            return None
        unit = _UNIT["m" if match.group(2).startswith("min") else match.group(2)[0]]
        total += timedelta(**{unit: int(match.group(1))})
        position = match.end()
    if position == 0 or text[position:].strip() or total <= timedelta(0) or total > MAX_ADVANCE:
        return None
    return total


def parse_now(text: str, zone: ZoneInfo) -> datetime:
    """`--now` as an aware instant; a time without an offset or zone name is read in `zone`.
    Raises ValueError with a sentence a person can act on."""
    value, zone_name = text.strip(), ""
    head, _, tail = value.rpartition(" ")
    if head and not tail[:1].isdigit():  # "2026-03-08 07:00" is a date and a time; "… Europe/Berlin" a zone
        value, zone_name = head.strip(), tail
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--now {text!r} is not a date and time like 2026-03-08T07:00") from None
    if zone_name:
        if parsed.tzinfo is not None:
            raise ValueError("give either an offset (+01:00) or a zone name, not both")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone_name!r} (use a name like Europe/Berlin)") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return parsed.replace(tzinfo=zone).astimezone(UTC)


def describe(instant: datetime, zone: ZoneInfo) -> str:
    """`Sun 08 Mar 2026 07:00 Europe/Berlin`: the zone is always named."""
    return f"{instant.astimezone(zone):%a %d %b %Y %H:%M} {zone.key}"


def describe_duration(delta: timedelta) -> str:
    """`2 h`, `90 min`, `1 d 2 h`: for telling a person how late is too late."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "min")) if n]
    return " ".join(parts) or f"{int(delta.total_seconds())} s"
