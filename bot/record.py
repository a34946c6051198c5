"""The clinician's record (/export's PDF) as worded data: pure, so what it says is tested without a PDF.

`build` turns the person's view, records and the content into a JSON-able dict of sections (headings,
notes, tables of strings, the week for the chart); bot/record_pdf.py only lays that out. The dict rides in
the reply's render job, so the document is drawn after the commit, outside the person's transaction.

Holds: the schedule keeps only the current hold, so `note_hold` (called by dispatch on every event) writes
each hold's start and end into the profile, for the record's "holds and clearances".
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.flows.common import zone_of
from bot.progress import Records, week_summary
from bot.render_jobs import week_to_json
from bot.state import HoldEntry, Profile, UserView
from content.loader import Content, Exercise

DASH = "—"
NAME_MAX = 60


def note_hold(profile: Profile, before: str | None, after: str | None, now: datetime) -> None:
    """Keep the hold log in step with the schedule's hold: a new rule opens an entry; lifting closes all."""
    if before == after:
        return
    if after is None:
        for entry in profile.holds:
            if entry.cleared_at is None:
                entry.cleared_at = now
        return
    if not any(e.rule_id == after and e.cleared_at is None for e in profile.holds):
        profile.holds.append(HoldEntry(rule_id=after, since=now))


def clean_name(text: str) -> str:
    """One line of plain text: the header is printed as given, so no control characters or newlines."""
    return " ".join("".join(ch for ch in text if ch.isprintable()).split())


def _day(d: date) -> str:
    return f"{d:%a %d %b %Y}"


def _moment(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%a %d %b %Y %H:%M}"


def _cols(content: Content, key: str) -> list[str]:
    return [c.strip() for c in content.msg(key).split("|")]


def _first_date(records: Records, zone: ZoneInfo, today: date) -> date:
    dates = [s.local_date for s in records.sessions]
    dates += [a.local_date for a in records.activities]
    dates += [k.local_date for k in records.skips]
    dates += [r.at.astimezone(zone).date() for r in records.symptoms]
    return min(dates, default=today)


def _plan(view: UserView, content: Content) -> dict[str, Any]:
    from bot.flows.session import dose_of

    ids = view.profile.exercises or [e.id for e in content.program.exercises]
    rows = []
    for exercise in (content.program.exercise(i) for i in ids):
        rows.append([exercise.name, _sheet_dosage(exercise), _current(exercise, dose_of(view, exercise), content)])
    goal = content.program.general_activity.daily_minutes
    return {
        "heading": content.msg("record.plan_title"),
        "table": {"columns": _cols(content, "record.plan_columns"), "widths": [28, 47, 25], "rows": rows},
        "notes": [
            content.msg("record.plan_activity", low=goal.low, high=goal.high),
            content.msg("record.plan_source"),
        ],
    }


def _sheet_dosage(exercise: Exercise) -> str:
    dosage = exercise.dosage
    parts = [p for p in (dosage.progression, dosage.hold_text) if p]
    if dosage.count:
        parts.append("Count: " + "; ".join(dosage.count) + ".")
    parts += exercise.variants
    return " ".join(parts)


def _current(exercise: Exercise, dose: Any, content: Content) -> str:
    if dose.repetitions:
        return content.msg("record.plan_reps", reps=dose.repetitions)
    if dose.hold_seconds:
        key = "record.plan_hold_sides" if exercise.dosage.sides == "both" else "record.plan_hold"
        return content.msg(key, seconds=dose.hold_seconds)
    return content.msg("record.plan_as_sheet")


def _sessions(records: Records, content: Content) -> dict[str, Any]:
    items: list[tuple[datetime, list[str]]] = []
    for s in records.sessions:
        results = Counter(e.result for e in s.exercises)
        if s.status == "completed":
            status = content.msg("record.session_done")
        elif s.status in {"stopped", "safety"}:  # why it ended early is worth the clinician's reading
            status = content.msg("record.session_unfinished_why", why=content.msg(f"status.{s.status}"))
        else:  # left unfinished, closed when it expired
            status = content.msg("record.session_unfinished")
        items.append(
            (
                s.started_at,
                [
                    _day(s.local_date),
                    status,
                    _exercise_counts(results, content),
                    DASH if s.pain_before is None else f"{s.pain_before}/10",
                    DASH if s.pain_after is None else f"{s.pain_after}/10",
                ],
            )
        )
    for k in records.skips:
        reason = content.messages.get(f"record.skip_reason.{k.reason}") if k.reason else None
        status = (
            content.msg("record.session_skipped_reason", reason=reason)
            if reason
            else content.msg("record.session_skipped")
        )
        items.append((k.at, [_day(k.local_date), status, DASH, DASH, DASH]))
    items.sort(key=lambda item: item[0])
    section: dict[str, Any] = {"heading": content.msg("record.sessions_title")}
    if items:
        section["table"] = {
            "columns": _cols(content, "record.sessions_columns"),
            "widths": [22, 28, 28, 11, 11],
            "rows": [row for _, row in items],
        }
    else:
        section["notes"] = [content.msg("record.no_sessions")]
    return section


def _exercise_counts(results: Counter[str], content: Content) -> str:
    """Pain spreading into a leg stopped an exercise as surely as "this hurts" did; one left part-way (the
    session stopped or closed during it) is named as such, not dropped."""
    said = content.msg(
        "record.session_exercises",
        done=results["done"],
        skipped=results["skipped"],
        hurt=results["hurt"] + results["radiating"],
    )
    if results["unfinished"]:
        said += content.msg("record.session_exercises_unfinished", unfinished=results["unfinished"])
    return said


def _activity(records: Records, first: date, today: date, content: Content) -> dict[str, Any]:
    goal = content.program.general_activity.daily_minutes
    minutes: Counter[date] = Counter()
    for a in records.activities:
        minutes[a.local_date] += a.minutes
    rows = []
    day = first
    while day <= today:
        n = minutes[day]
        if n == 0:
            mark = content.msg("record.goal_none")
        elif n >= goal.low:
            mark = content.msg("record.goal_met")
        else:
            mark = content.msg("record.goal_below", low=goal.low)
        rows.append([_day(day), str(n), mark])
        day += timedelta(days=1)
    return {
        "heading": content.msg("record.activity_title"),
        "notes": [content.msg("record.activity_goal", low=goal.low, high=goal.high)],
        "table": {"columns": _cols(content, "record.activity_columns"), "widths": [30, 15, 25], "rows": rows},
    }


def _symptoms(view: UserView, records: Records, now: datetime, content: Content) -> dict[str, Any]:
    zone = zone_of(view)
    rules = {r.id: r for r in content.safety.rules}
    rows = []
    for r in records.symptoms:
        rule = rules.get(r.rule_id)
        via = content.messages.get(f"record.via.{r.source}", "")
        label = rule.label if rule else r.rule_id
        rows.append([_moment(r.at, zone), f"{label} ({via})" if via else label, rule.advice if rule else DASH])
    holds = [
        [
            rules[h.rule_id].label if h.rule_id in rules else h.rule_id,
            _moment(h.since, zone),
            content.msg("record.hold_cleared", date=_moment(h.cleared_at, zone))
            if h.cleared_at
            else content.msg("record.hold_open"),
        ]
        for h in view.profile.holds
    ]
    current = view.schedule.hold_reason
    if current and not any(h.rule_id == current and h.cleared_at is None for h in view.profile.holds):
        label = rules[current].label if current in rules else current
        holds.append([label, content.msg("record.hold_unknown"), content.msg("record.hold_open")])
    section: dict[str, Any] = {"heading": content.msg("record.symptoms_title")}
    tables = []
    if rows:
        tables.append({"columns": _cols(content, "record.symptoms_columns"), "widths": [20, 25, 55], "rows": rows})
    if holds:
        tables.append({"columns": _cols(content, "record.holds_columns"), "widths": [40, 20, 40], "rows": holds})
    section["tables"] = tables
    section["notes"] = [] if rows else [content.msg("record.no_symptoms")]
    # "No holds." reads as a note on the symptom table above it, so it comes after the tables, never before.
    section["notes_after"] = [] if holds else [content.msg("record.no_holds")]
    return section


def build(view: UserView, records: Records, now: datetime, content: Content) -> dict[str, Any]:
    """The whole record, worded, in the order the clinician reads it."""
    zone = zone_of(view)
    today = now.astimezone(zone).date()
    first = _first_date(records, zone, today)
    name = view.profile.record_name
    goal = content.program.general_activity.daily_minutes
    week = week_summary(records, today, zone, goal.low, view.profile.progress)
    return {
        "title": content.msg("record.title"),
        "header": [
            content.msg("record.name", name=name) if name else content.msg("record.no_name"),
            content.msg("record.range", first=_day(first), last=_day(today)),
            content.msg("record.made", made=_moment(now, zone), zone=zone.key),
        ],
        "sections": [
            _plan(view, content),
            _sessions(records, content),
            _activity(records, first, today, content),
            _symptoms(view, records, now, content),
            {"heading": content.msg("record.chart_title"), "chart": week_to_json(week)},
        ],
        "footer": content.safety.disclaimer,
        "page": content.msg("record.page", page="{page}", pages="{pages}"),
        "made": now.isoformat(),
    }
