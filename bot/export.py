"""`/export`: the person's own records as CSV (one row per session, exercise, activity and symptom record),
for them to give to their clinician. Pure: records in, bytes out.

`local_date` is the date as recorded (in the zone the person had then; symptom reports, which store only
their instant, use the current zone); `utc` is the ISO 8601 instant. Encoded UTF-8 with a byte-order mark
so spreadsheet programs open it with the right characters.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.progress import Records, symptom_date

COLUMNS = (
    "record",
    "local_date",
    "utc",
    "status",
    "exercise",
    "result",
    "repetitions",
    "hold_seconds",
    "pain_before",
    "pain_after",
    "minutes",
    "exertion",
    "symptom",
    "reported_via",
)
ENCODING = "utf-8-sig"


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).isoformat(timespec="seconds")


def _s(value: object) -> str:
    return "" if value is None else str(value)


def rows(records: Records, zone: ZoneInfo) -> list[dict[str, str]]:
    """Every record as a flat row of strings, in time order (sessions before their exercises)."""
    out: list[tuple[datetime, int, dict[str, str]]] = []
    blank = dict.fromkeys(COLUMNS, "")
    for s in records.sessions:
        out.append(
            (
                s.started_at,
                0,
                blank
                | {
                    "record": "session",
                    "local_date": s.local_date.isoformat(),
                    "utc": _iso(s.started_at),
                    "status": s.status,
                    "pain_before": _s(s.pain_before),
                    "pain_after": _s(s.pain_after),
                },
            )
        )
        for e in s.exercises:
            out.append(
                (
                    e.at,
                    1,
                    blank
                    | {
                        "record": "exercise",
                        "local_date": s.local_date.isoformat(),
                        "utc": _iso(e.at),
                        "exercise": e.exercise_id,
                        "result": e.result,
                        "repetitions": _s(e.repetitions),
                        "hold_seconds": _s(e.hold_seconds),
                    },
                )
            )
    for a in records.activities:
        out.append(
            (
                a.at,
                2,
                blank
                | {
                    "record": "activity",
                    "local_date": a.local_date.isoformat(),
                    "utc": _iso(a.at),
                    "minutes": str(a.minutes),
                    "exertion": _s(a.exertion),
                },
            )
        )
    for r in records.symptoms:
        out.append(
            (
                r.at,
                3,
                blank
                | {
                    "record": "symptom",
                    "local_date": symptom_date(r, zone).isoformat(),
                    "utc": _iso(r.at),
                    "symptom": r.rule_id,
                    "reported_via": r.source,
                },
            )
        )
    out.sort(key=lambda item: (item[0], item[1]))
    return [row for _, _, row in out]


def to_csv(table: list[dict[str, str]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue().encode(ENCODING)


def parse_csv(data: bytes) -> list[dict[str, str]]:
    """The rows back from `to_csv` (used by tests, and handy for a clinician's script)."""
    return list(csv.DictReader(io.StringIO(data.decode(ENCODING), newline="")))
