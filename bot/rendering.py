"""Images and documents are drawn outside the conversation's transaction, in a worker thread.

The core attaches a render job (bot/render_jobs.py) to a reply; the shell draws it here just before
sending — `Engine.handle` for interactive replies, the outbox for queued ones. Drawing takes tens of
milliseconds of matplotlib, which must not happen while the person's row is locked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

from bot.render_jobs import RENDER, WEEKLY_CHART, chart_labels, week_from_json
from bot.types import Attachment, Reply
from content.loader import Content

log = logging.getLogger(__name__)


def _draw(kind: str, spec: dict[str, Any], content: Content) -> Attachment:
    from bot.charts import weekly_png  # matplotlib only when something is drawn

    if kind == WEEKLY_CHART:
        goal = content.program.general_activity.daily_minutes
        week = week_from_json(spec["week"])
        return Attachment(spec["filename"], "image/png", weekly_png(week, chart_labels(content), goal.low, goal.high))
    from bot.record_pdf import record_pdf

    return Attachment(spec["filename"], "application/pdf", record_pdf(spec["record"], content))


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
