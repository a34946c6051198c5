"""Images and documents are drawn outside the conversation's transaction, in a worker thread.

A flow stays pure and quick: instead of drawing a chart (tens of milliseconds of matplotlib) while the
person's row is locked and the event loop waits, it attaches a small render job to the reply. The shell
materialises it just before sending — `Engine.handle` for interactive replies, the outbox for queued
ones — so a queued weekly summary stores a few hundred bytes, not the picture.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, replace
from datetime import date
from typing import Any

from bot.progress import Day, WeekSummary
from bot.types import Attachment, Reply
from content.loader import Content

log = logging.getLogger(__name__)

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
        progression=tuple(tuple(p) for p in raw.get("progression", ())),  # type: ignore[misc]
    )


def chart_job(text: str, filename: str, week: WeekSummary) -> Reply:
    """A reply whose PNG chart of `week` is drawn when it is sent."""
    spec = {"filename": filename, "week": week_to_json(week)}
    return Reply(text=text, meta={RENDER: WEEKLY_CHART, "spec": json.dumps(spec)})


def pdf_job(text: str, filename: str, week: WeekSummary, lines: list[str]) -> Reply:
    """A reply whose one-page PDF (summary lines and the week's chart) is drawn when it is sent."""
    spec = {"filename": filename, "week": week_to_json(week), "lines": lines}
    return Reply(text=text, meta={RENDER: SUMMARY_PDF, "spec": json.dumps(spec)})


def _draw(kind: str, spec: dict[str, Any], content: Content) -> Attachment:
    from bot.charts import summary_pdf, weekly_png
    from bot.flows.summary import chart_labels

    goal = content.program.general_activity.daily_minutes
    week = week_from_json(spec["week"])
    if kind == WEEKLY_CHART:
        return Attachment(spec["filename"], "image/png", weekly_png(week, chart_labels(content), goal.low, goal.high))
    pdf = summary_pdf(spec["lines"], week, chart_labels(content), goal.low, goal.high)
    return Attachment(spec["filename"], "application/pdf", pdf)


async def materialise(replies: list[Reply], content: Content) -> list[Reply]:
    """Draw every pending image or document (in a thread: the event loop keeps serving others)."""
    if not any(RENDER in r.meta for r in replies):
        return replies
    done: list[Reply] = []
    for reply in replies:
        kind = reply.meta.get(RENDER)
        if kind is None:
            done.append(reply)
            continue
        meta = {k: v for k, v in reply.meta.items() if k not in {RENDER, "spec"}}
        try:
            attachment = await asyncio.to_thread(_draw, kind, json.loads(reply.meta["spec"]), content)
        except Exception:  # a picture that cannot be drawn must not cost the person the message
            log.exception("render failed", extra={"kind": kind})
            done.append(replace(reply, meta=meta))
            continue
        if kind == WEEKLY_CHART:
            done.append(replace(reply, image=attachment, meta=meta))
        else:
            done.append(replace(reply, document=attachment, meta=meta))
    return done
