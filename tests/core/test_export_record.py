"""The clinician's record (/export's PDF, fpdf2): the text read back from the PDF holds the header, the plan
with the sheet's dosages, the sessions, activity per day against the goal, dated symptom reports with the
advice given and the hold and its clearance, and the week's chart, in that order; the disclaimer is on
every page; and the name in the header is the one the person set, never a platform id."""

from __future__ import annotations

import io
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pypdf import PdfReader

from adapters.testing.chat import Chat
from bot.engine import Engine
from bot.progress import ExerciseRow, Records, SessionRow, SymptomRow
from bot.record import build
from bot.record_pdf import record_pdf
from bot.state import UserView
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler.runner import tick
from tests.flow_helpers import to_pain_question

SHEET = "Start by trying 1 - 5 repetitions and gradually progress as tolerated to 10 repetitions."


async def _whole_session(chat: Chat, content: Content, pain_before: str, pain_after: str) -> None:
    await to_pain_question(chat, content)
    await chat.tap(pain_before)
    for _ in range(200):  # every exercise: Start, each step, each repetition, each hold ("Done")
        labels = chat.labels()
        if "10" in labels and "0" in labels:  # the pain-after question
            break
        await chat.tap(next(b for b in ("Start", "Ready", "Done") if b in labels))
    await chat.tap(pain_after)
    for label in ("Fine", "That's all", "Not now"):
        if label in chat.labels():
            await chat.tap(label)


async def _history(chat: Chat, content: Content) -> None:
    """Mon: a whole session and 40 minutes; Tue: a skipped reminder and 15 minutes; Wed: tingling, a hold;
    Thu: cleared. Clock starts Mon 02 Mar 2026 (London)."""
    await chat.onboard()
    await _whole_session(chat, content, "5", "3")
    await chat.say("/activity")
    await chat.say("40")
    await chat.tap("5")
    await chat.advance(timedelta(days=1))
    await tick(chat.engine, {chat.user.platform: chat.sender})  # the day's reminder
    reminder = [chat.sender.sent[-1][1]]
    assert "Skip today" in chat.labels(reminder), chat.texts(reminder)
    await chat.tap("Skip today", reminder)
    await chat.tap("No time")
    await chat.say("/activity")
    await chat.say("15")
    await chat.tap("4")
    await chat.advance(timedelta(days=1))
    await chat.say("my left leg is tingling")
    await chat.advance(timedelta(days=1))
    await chat.say("/resume")
    await chat.tap("Yes, I've had guidance to restart")


def _pdf(replies: list[Reply]) -> bytes:
    pdf = next(r.document for r in replies if r.document and r.document.mime_type == "application/pdf")
    return pdf.data


def _keep(data: bytes) -> None:
    """BACKCOACH_KEEP_PDF=/tmp/record.pdf keeps the file, to look at: pdftoppm -png -r 80 /tmp/record.pdf page"""
    if os.environ.get("BACKCOACH_KEEP_PDF"):
        Path(os.environ["BACKCOACH_KEEP_PDF"]).write_bytes(data)


def _pages(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def _in_order(text: str, parts: list[str]) -> None:
    """Each part after the one before; spaces are ignored (text extraction may drop one at a line break)."""
    text = "".join(text.split())
    at = 0
    for part in ("".join(p.split()) for p in parts):
        found = text.find(part, at)
        assert found >= 0, f"{part!r} missing after position {at}:\n{text[at : at + 600]}"
        at = found + len(part)


async def test_record_holds_every_part_in_order_and_the_disclaimer_on_every_page(
    chat: Chat, engine: Engine, content: Content, tmp_path: Path
) -> None:
    await _history(chat, content)
    replies = await chat.say("/export name Jane Doe")
    assert "The record's header will show: Jane Doe." in chat.texts(replies)
    data = _pdf(replies)
    _keep(data)
    pages = _pages(data)
    text = "\n".join(pages)
    tilt = next(e for e in content.program.exercises if e.id == "pelvic_tilt")
    neuro = content.safety.rule("neuro_change") if any(r.id == "neuro_change" for r in content.safety.rules) else None
    assert neuro is not None
    flat = " ".join(text.split())
    _in_order(
        flat,
        [
            "BackCoach record",
            "Name: Jane Doe",
            "Records from Mon 02 Mar 2026 to Thu 05 Mar 2026",
            "Made Thu 05 Mar 2026",
            "Current plan",
            "Wall slides",
            tilt.name,
            " ".join(SHEET.split()),
            "Hold without bouncing for 20 to 40 seconds; then switch sides.",
            "Sessions",
            "Mon 02 Mar 2026 done",
            "5/10 3/10",
            "Tue 03 Mar 2026 skipped (no time)",
            "Activity per day",
            "Goal: 30 to 60 minutes",
            "Mon 02 Mar 2026 40 goal met",
            "Tue 03 Mar 2026 15 below 30",
            "Wed 04 Mar 2026 0 none logged",
            "Symptom reports, advice given, holds and clearances",
            "Wed 04 Mar 2026",
            neuro.label,
            " ".join(neuro.advice.split()[:12]),
            "Program on hold for",
            "Thu 05 Mar 2026",
            "(the person said they had guidance to restart)",
            "This week",
        ],
    )
    disclaimer = " ".join(content.safety.disclaimer.split())
    assert all(disclaimer in " ".join(p.split()) for p in pages), "the disclaimer is every page's footer"
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert "u1" not in flat.split()  # the platform id never appears
    assert b"/Subtype /Image" in data or b"/Subtype/Image" in data  # the chart is in it


async def test_record_without_a_name_says_so_and_tells_how_to_add_one(
    chat: Chat, engine: Engine, content: Content
) -> None:
    await chat.onboard()
    await chat.say("/activity")
    await chat.say("30")
    await chat.tap("5")
    replies = await chat.say("/export")
    flat = " ".join("\n".join(_pages(_pdf(replies))).split())
    assert "Name: not given" in flat and "console" not in flat and " u1 " not in f" {flat} "
    assert "/export name" in chat.texts(replies)
    replies = await chat.say("/export name " + "x" * 61)
    assert "60 characters or fewer" in chat.texts(replies) and not any(r.document for r in replies)
    replies = await chat.say("/export name  Dr\u0007 Who \n ")
    assert "Name: Dr Who" in " ".join("\n".join(_pages(_pdf(replies))).split())
    replies = await chat.say("/export name")
    assert "The record's header will show no name." in chat.texts(replies)
    assert "Name: not given" in " ".join("\n".join(_pages(_pdf(replies))).split())


def test_the_sessions_table_counts_radiating_pain_and_exercises_left_part_way(content: Content) -> None:
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    exercises = [
        ExerciseRow(exercise_id="pelvic_tilt", result="done", repetitions=3, at=at),
        ExerciseRow(exercise_id="hamstring_stretch", result="radiating", at=at),
        ExerciseRow(exercise_id="single_knee_to_chest", result="unfinished", at=at),
    ]
    records = Records(
        sessions=[SessionRow(started_at=at, local_date=date(2026, 3, 2), status="safety", exercises=exercises)]
    )
    view = UserView(user_id=1, ref=UserRef("console", "", "u1", "c1"))
    view.schedule.timezone = "Europe/London"
    sessions = next(s for s in build(view, records, at, content)["sections"] if s["heading"] == "Sessions")
    (row,) = sessions["table"]["rows"]
    assert row[1:3] == ["unfinished (stopped for safety)", "1 done, 0 skipped, 1 stopped for pain, 1 left part-way"]


def test_no_holds_follows_the_symptom_table_it_speaks_of(content: Content) -> None:
    """With symptoms and no hold, "No holds." comes after the symptom table, so it cannot be read as its title."""
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    records = Records(symptoms=[SymptomRow(rule_id="neuro_change", source="text", at=at)])
    view = UserView(user_id=1, ref=UserRef("console", "", "u1", "c1"))
    view.schedule.timezone = "Europe/London"
    flat = " ".join("\n".join(_pages(record_pdf(build(view, records, at, content), content))).split())
    rule = next(r for r in content.safety.rules if r.id == "neuro_change")
    start = flat.index(content.msg("record.symptoms_title"))
    assert start < flat.index(rule.label[:20], start) < flat.index("No holds.", start)
