"""`/export`: the person's own records as CSV (one row per session, skipped day, exercise, activity and
symptom report), for them to give to their clinician. Pure: records and content in, bytes out.

Everything a person reads is in words from content/messages.yaml (`csv.*`, and the record's `record.*`
wording for sessions, so the CSV and the PDF agree): exercise names from the program, symptom rules by their
label, sessions "done / skipped / unfinished". Holds are the seconds actually held on each side (capped at
the planned hold), an interrupted one marked unfinished; pain spreading into buttock or leg is marked in its
own column.

`Date (local)` is the date as recorded (in the zone the person had then; symptom reports, which store only
their instant, use the current zone); `Time (UTC)` is the ISO 8601 instant. Encoded UTF-8 with a byte-order
mark so spreadsheet programs open it with the right characters.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.progress import ExerciseRow, HoldRow, Records, SessionRow, SkipRow, SymptomRow, symptom_date
from content.loader import Content

KEYS = (
    "record",
    "local_date",
    "utc",
    "status",
    "exercise",
    "result",
    "repetitions",
    "hold_planned",
    "held_1",
    "held_2",
    "pain_before",
    "pain_after",
    "minutes",
    "exertion",
    "symptom",
    "radiating",
    "reported_via",
)
ENCODING = "utf-8-sig"
RADIATING = "radiating"  # the safety rule (and exercise result) for pain spreading into buttock or leg


def header(content: Content) -> list[str]:
    """The column headings, in words."""
    return [content.msg(f"csv.col.{key}") for key in KEYS]


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).isoformat(timespec="seconds")


def _s(value: object) -> str:
    return "" if value is None else str(value)


def _session_status(s: SessionRow, content: Content) -> str:
    """As the PDF words it: done, unfinished (and why, when it ended early), or still in progress."""
    if s.status == "completed":
        return content.msg("record.session_done")
    if s.status in {"stopped", "safety"}:
        return content.msg("record.session_unfinished_why", why=content.msg(f"status.{s.status}"))
    if s.status == "running":
        return content.msg("csv.session_running")
    return content.msg("record.session_unfinished")


def _skip_status(k: SkipRow, content: Content) -> str:
    reason = content.messages.get(f"record.skip_reason.{k.reason}") if k.reason else None
    return (
        content.msg("record.session_skipped_reason", reason=reason) if reason else content.msg("record.session_skipped")
    )


def _held(hold: HoldRow | None, content: Content) -> str:
    if hold is None:
        return ""
    if hold.seconds is None:
        return content.msg("csv.held_unknown")
    return str(hold.seconds) if hold.finished else content.msg("csv.held_unfinished", seconds=hold.seconds)


def _exercise(e: ExerciseRow, content: Content) -> dict[str, str]:
    name = next((x.name for x in content.program.exercises if x.id == e.exercise_id), e.exercise_id)
    result = content.messages.get(f"csv.result.{e.result}", e.result)
    sides = [*e.held, None, None]
    return {
        "exercise": name,
        "result": result,
        "repetitions": _s(e.repetitions),
        "hold_planned": _s(e.hold_seconds),
        "held_1": _held(sides[0], content),
        "held_2": _held(sides[1], content),
        "radiating": content.msg("csv.radiating_yes") if e.result == RADIATING else "",
    }


def _symptom(r: SymptomRow, content: Content) -> dict[str, str]:
    rule = next((x for x in content.safety.rules if x.id == r.rule_id), None)
    return {
        "symptom": rule.label if rule else r.rule_id,
        "radiating": content.msg("csv.radiating_yes") if r.rule_id == RADIATING else "",
        "reported_via": content.messages.get(f"record.via.{r.source}", r.source),
    }


def rows(records: Records, zone: ZoneInfo, content: Content) -> list[dict[str, str]]:
    """Every record as a flat row of strings keyed by the column headings, in time order (sessions before
    their exercises)."""
    out: list[tuple[datetime, int, dict[str, str]]] = []
    blank = dict.fromkeys(KEYS, "")

    def record(kind: str) -> str:
        return content.msg(f"csv.record.{kind}")

    for s in records.sessions:
        session = {
            "record": record("session"),
            "local_date": s.local_date.isoformat(),
            "utc": _iso(s.started_at),
            "status": _session_status(s, content),
            "pain_before": _s(s.pain_before),
            "pain_after": _s(s.pain_after),
        }
        out.append((s.started_at, 0, blank | session))
        for e in s.exercises:
            row = {"record": record("exercise"), "local_date": s.local_date.isoformat(), "utc": _iso(e.at)}
            out.append((e.at, 1, blank | row | _exercise(e, content)))
    for k in records.skips:
        row = {
            "record": record("session"),
            "local_date": k.local_date.isoformat(),
            "utc": _iso(k.at),
            "status": _skip_status(k, content),
        }
        out.append((k.at, 0, blank | row))
    for a in records.activities:
        row = {
            "record": record("activity"),
            "local_date": a.local_date.isoformat(),
            "utc": _iso(a.at),
            "minutes": str(a.minutes),
            "exertion": _s(a.exertion),
        }
        out.append((a.at, 2, blank | row))
    for r in records.symptoms:
        row = {"record": record("symptom"), "local_date": symptom_date(r, zone).isoformat(), "utc": _iso(r.at)}
        out.append((r.at, 3, blank | row | _symptom(r, content)))
    out.sort(key=lambda item: (item[0], item[1]))
    labels = dict(zip(KEYS, header(content), strict=True))
    return [{labels[k]: v for k, v in row.items()} for _, _, row in out]


def to_csv(table: list[dict[str, str]], content: Content) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=header(content), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue().encode(ENCODING)


def parse_csv(data: bytes) -> list[dict[str, str]]:
    """The rows back from `to_csv`, keyed by the headings (used by tests, and handy for a clinician's script)."""
    return list(csv.DictReader(io.StringIO(data.decode(ENCODING), newline="")))
