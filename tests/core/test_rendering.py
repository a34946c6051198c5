"""Charts and PDFs are drawn when sent, not stored: the job round-trips through JSON and the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot import rendering
from bot.charts import PNG_SIGNATURE, sample_week
from bot.progress import Records
from bot.record import build
from bot.render_jobs import chart_job, pdf_job, week_from_json, week_to_json
from bot.rendering import materialise
from bot.state import UserView
from bot.types import UserRef
from bot.wire import replies_from_json, replies_to_json
from content.loader import Content


def test_week_round_trips_through_json() -> None:
    week = sample_week()
    assert week_from_json(json.loads(json.dumps(week_to_json(week)))) == week


async def test_jobs_survive_the_outbox_and_are_drawn_on_send(content: Content) -> None:
    week = sample_week()
    view = UserView(user_id=1, ref=UserRef("console", "", "u1", "u1"))
    record = build(view, Records(), datetime(2026, 3, 8, 9, tzinfo=UTC), content)
    queued = replies_to_json([chart_job("Your week", "week.png", week), pdf_job("PDF", "s.pdf", record)])
    assert len(json.dumps(queued)) < 12_000, "the outbox stores the job, not the picture"
    chart, pdf = await materialise(replies_from_json(queued), content)
    assert chart.image is not None and chart.image.data.startswith(PNG_SIGNATURE) and chart.meta == {}
    assert pdf.document is not None and pdf.document.data.startswith(b"%PDF") and pdf.document.filename == "s.pdf"


async def test_a_failed_drawing_still_sends_the_text(content: Content, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("no backend")

    monkeypatch.setattr(rendering, "_draw", broken)
    [reply] = await materialise([chart_job("Your week", "week.png", sample_week())], content)
    assert reply.text == "Your week" and reply.image is None and reply.meta == {}
