"""Render jobs: what a picture or document will show, decided by the core and drawn later by the shell.

A flow stays pure and quick: instead of drawing a chart while the person's row is locked, it attaches a
small job (the week's figures, the words from messages.yaml) to the reply; bot/rendering.py draws it just
before sending, so a queued weekly summary stores a few hundred bytes, not the picture.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from bot.progress import Day, WeekSummary
from bot.types import Reply
from content.loader import Content

RENDER = "render"
WEEKLY_CHART = "weekly_chart"
SUMMARY_PDF = "summary_pdf"


def week_to_json(week: WeekSummary) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(week), default=str))


def week_from_json(raw: dict[str, Any]) -> WeekSummary:
    return WeekSummary(
        start=date.fromisoformat(raw["start"]),
        end=date.fromisoformat(raw["end"]),
        days=tuple(Day(**{**d, "day": date.fromisoformat(d["day"])}) for d in raw["days"]),
        sessions_done=raw["sessions_done"],
        sessions_started=raw["sessions_started"],
        exercises_done=raw["exercises_done"],
        exercises_skipped=raw["exercises_skipped"],
        activity_minutes=raw["activity_minutes"],
        goal_days=raw["goal_days"],
        pain_avg=raw["pain_avg"],
        pain_prev_avg=raw["pain_prev_avg"],
        trend=raw["trend"],
        symptoms=dict(raw.get("symptoms", {})),
        progression=tuple(tuple(p) for p in raw.get("progression", ())),
    )


def chart_job(text: str, filename: str, week: WeekSummary) -> Reply:
    """A reply whose PNG chart of `week` is drawn when it is sent."""
    spec = {"filename": filename, "week": week_to_json(week)}
    return Reply(text=text, meta={RENDER: WEEKLY_CHART, "spec": json.dumps(spec)})


def pdf_job(text: str, filename: str, record: dict[str, Any]) -> Reply:
    """A reply whose clinician's record (bot/record.build, laid out by bot/record_pdf) is drawn when sent."""
    spec = {"filename": filename, "record": record}
    return Reply(text=text, meta={RENDER: SUMMARY_PDF, "spec": json.dumps(spec)})


@dataclass(frozen=True, slots=True)
class ChartLabels:
    """User-facing words, from messages.yaml."""

    title: str
    minutes: str
    pain: str
    pain_before: str
    pain_after: str
    goal: str
    session: str


def chart_labels(content: Content) -> ChartLabels:
    return ChartLabels(**{k: content.msg(f"chart.{k}") for k in ChartLabels.__dataclass_fields__})
