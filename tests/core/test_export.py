"""`/export`: the CSV parses back to the same rows (and to what the database holds), the PDF is a PDF,
both arrive as documents; and /history shows the week against the goal."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.console import render
from adapters.console_files import ConsoleFiles
from adapters.testing.chat import Chat
from bot.engine import Engine
from bot.export import COLUMNS, parse_csv, rows, to_csv
from bot.progress import ActivityRow, ExerciseRow, Records, SessionRow, SymptomRow
from bot.storage.models import ActivityLog, ExerciseLog, ExerciseSession, SymptomReport
from bot.types import Attachment, Reply
from content.loader import Content
from tests.flow_helpers import skipped_session_and_activity

BERLIN = ZoneInfo("Europe/Berlin")


def constructed() -> Records:
    at = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # Sunday 00:30 in Berlin, the night the clocks go forward
    return Records(
        sessions=[
            SessionRow(
                started_at=at,
                local_date=date(2026, 3, 29),
                status="completed",
                pain_before=4,
                pain_after=3,
                exercises=[
                    ExerciseRow(exercise_id="pelvic_tilt", result="done", repetitions=8, at=at + timedelta(minutes=3)),
                    ExerciseRow(exercise_id="hamstring_stretch", result="hurt", at=at + timedelta(minutes=6)),
                ],
            )
        ],
        activities=[ActivityRow(local_date=date(2026, 3, 29), minutes=35, exertion=5, at=at + timedelta(hours=10))],
        symptoms=[SymptomRow(rule_id="exercise_pain", source="session", at=at + timedelta(minutes=6, seconds=1))],
    )


def test_csv_parses_back_to_the_same_rows() -> None:
    table = rows(constructed(), BERLIN)
    data = to_csv(table)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the "–" and accents right
    assert parse_csv(data) == table
    assert [r["record"] for r in table] == ["session", "exercise", "exercise", "symptom", "activity"]
    assert list(table[0]) == list(COLUMNS)
    session, tilt = table[0], table[1]
    assert (session["local_date"], session["utc"], session["pain_before"], session["pain_after"]) == (
        "2026-03-29",
        "2026-03-28T23:30:00+00:00",
        "4",
        "3",
    )
    assert (tilt["exercise"], tilt["result"], tilt["repetitions"], tilt["hold_seconds"]) == (
        "pelvic_tilt",
        "done",
        "8",
        "",
    )
    assert datetime.fromisoformat(table[3]["utc"]) == constructed().symptoms[0].at
    assert table[3]["local_date"] == "2026-03-29"  # symptom: placed with the current zone


def test_csv_survives_awkward_values() -> None:
    """Commas, quotes and newlines cannot occur in our values today; the csv module would quote them anyway."""
    table = rows(constructed(), BERLIN)
    table[0] = table[0] | {"status": 'a "quoted", multi\nline value'}
    assert parse_csv(to_csv(table)) == table


@pytest.mark.storage
async def test_export_sends_csv_and_pdf_matching_the_database(chat: Chat, engine: Engine, content: Content) -> None:
    await chat.onboard()
    assert "Nothing to export yet" in (await chat.say("/export"))[0].text
    await skipped_session_and_activity(chat, content, pain=5, minutes=40)
    await chat.say("my leg is tingling")
    replies = await chat.say("/export")
    csv_reply, pdf_reply, hint = replies
    assert "/export name" in hint.text  # no name set yet: how to add one
    assert csv_reply.document and csv_reply.document.mime_type == "text/csv"
    assert csv_reply.document.filename == "backcoach-history-2026-03-02.csv"
    table = parse_csv(csv_reply.document.data)
    async with engine.sessions() as s:
        counts = {
            "session": (await s.execute(select(func.count()).select_from(ExerciseSession))).scalar_one(),
            "exercise": (await s.execute(select(func.count()).select_from(ExerciseLog))).scalar_one(),
            "activity": (await s.execute(select(func.count()).select_from(ActivityLog))).scalar_one(),
            "symptom": (await s.execute(select(func.count()).select_from(SymptomReport))).scalar_one(),
        }
        started = (await s.execute(select(ExerciseSession.started_at))).scalar_one()
    assert counts == {"session": 1, "exercise": 1, "activity": 1, "symptom": 1}
    assert {k: sum(1 for r in table if r["record"] == k) for k in counts} == counts
    session = next(r for r in table if r["record"] == "session")
    assert datetime.fromisoformat(session["utc"]) == started and session["pain_before"] == "5"
    assert next(r for r in table if r["record"] == "activity")["minutes"] == "40"
    pdf = pdf_reply.document
    assert pdf and pdf.mime_type == "application/pdf" and pdf.data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.data)) >= 1
    assert 2_000 < len(pdf.data) < 500_000


async def test_history_shows_activity_against_the_goal_and_pauses(chat: Chat) -> None:
    await chat.onboard()
    for minutes in ("20", "15"):  # 35 on one day: the goal's low end is met
        await chat.say("/activity")
        await chat.say(minutes)
        await chat.tap("5")
    chat.engine.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    await chat.say("/activity")
    await chat.say("10")
    await chat.tap("5")
    await chat.say("/pause")
    await chat.tap("3 day")
    history = chat.texts(await chat.say("/history"))
    assert "2026-03-02: 35 min ✓" in history and "2026-03-03: 10 min\n" in history
    assert "reached on 1 of the last 7 days" in history
    assert "Reminders paused until Fri 06 Mar" in history
    assert "/export" in history


def test_console_saves_documents_and_images_and_prints_the_path(tmp_path: Path) -> None:
    data = to_csv(rows(constructed(), BERLIN))
    files = ConsoleFiles(tmp_path / "backcoach-files")
    text = render(
        Reply(
            "Your record",
            document=Attachment("../../escape.csv", "text/csv", data),
            image=Attachment("week.png", "image/png", b"\x89PNG..."),
        ),
        files,
    )
    saved = tmp_path / "backcoach-files" / "escape.csv"
    assert f"[file saved: {saved}]" in text and f"[image saved: {tmp_path / 'backcoach-files' / 'week.png'}]" in text
    assert parse_csv(saved.read_bytes()) == rows(constructed(), BERLIN)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["escape.csv", "week.png"]
