"""Weekly figures from constructed histories (pure): DST weeks, a move to another time zone, the pain trend,
progression, and the chart as a real PNG of a sensible size rendered without leaving files behind."""

from __future__ import annotations

import os
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.charts import DPI, HEIGHT_PX, PNG_SIGNATURE, WIDTH_PX, png_size, sample_week, weekly_png
from bot.flows.summary import summary_text
from bot.progress import (
    ActivityRow,
    ExerciseRow,
    Records,
    SessionRow,
    SymptomRow,
    next_summary_date,
    pain_trend,
    week_summary,
)
from bot.render_jobs import chart_labels
from bot.schedule.timing import local_instant
from bot.state import ExerciseProgress
from content.loader import Content

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def session_at(
    day: date,
    wall: time,
    zone: ZoneInfo,
    pain: int | None,
    status: str = "completed",
    exercises: tuple[tuple[str, str, int | None], ...] = (),
) -> SessionRow:
    """A session as the bot records it: the local date in the zone the person had at the time."""
    at = local_instant(day, wall, zone)
    return SessionRow(
        started_at=at,
        local_date=at.astimezone(zone).date(),
        status=status,
        pain_before=pain,
        pain_after=None if pain is None else max(pain - 1, 0),
        exercises=[ExerciseRow(exercise_id=e, result=r, repetitions=n, at=at) for e, r, n in exercises],
    )


def test_a_week_across_the_spring_forward_counts_seven_local_days() -> None:
    """New York springs forward on Sun 2026-03-08: that week has 167 hours but 7 dates, all counted."""
    end = date(2026, 3, 8)
    records = Records(
        sessions=[session_at(end - timedelta(days=i), time(8), NY, pain=4) for i in range(7)]
        # the week before, pain 6: the trend is "better"
        + [session_at(end - timedelta(days=7 + i), time(8), NY, pain=6) for i in range(3)],
        activities=[
            ActivityRow(
                local_date=end - timedelta(days=i),
                minutes=10 * i,
                at=local_instant(end - timedelta(days=i), time(18), NY),
            )
            for i in range(7)
        ],
    )
    week = week_summary(records, end, NY, goal_low=30)
    assert (week.start, week.end) == (date(2026, 3, 2), end)
    assert [d.day for d in week.days] == [date(2026, 3, 2) + timedelta(days=i) for i in range(7)]
    assert week.sessions_done == 7 and all(d.sessions_done == 1 for d in week.days)
    assert week.activity_minutes == sum(10 * i for i in range(7)) == 210
    assert week.goal_days == 4  # 30, 40, 50, 60
    assert (week.pain_avg, week.pain_prev_avg, week.trend) == (4.0, 6.0, "better")
    # the week really is short: counting 7 x 24 hours back from its end would reach into Sunday 1 March
    week_hours = local_instant(end + timedelta(days=1), time(0), NY) - local_instant(week.start, time(0), NY)
    assert week_hours == timedelta(hours=167)


def test_fall_back_week_and_the_ambiguous_hour() -> None:
    """New York falls back on Sun 2026-11-01: a session at 01:30 (which happens twice) is one session."""
    end = date(2026, 11, 1)
    records = Records(
        sessions=[
            session_at(end, time(1, 30), NY, pain=3),
            session_at(end - timedelta(days=6), time(23, 30), NY, pain=5),
        ]
    )
    week = week_summary(records, end, NY, goal_low=30)
    assert week.sessions_done == 2
    assert [d.sessions_done for d in week.days] == [1, 0, 0, 0, 0, 0, 1]
    assert week.pain_avg == 4.0 and week.trend == "unknown"  # nothing the week before


def test_a_session_keeps_the_date_of_the_zone_the_person_had_then() -> None:
    """Sun 23:30 in New York is Mon 13:30 in Tokyo. After moving to Tokyo, that session still belongs to the
    New York Sunday (its recorded local date); symptom reports (instants only) use the current zone."""
    sunday = date(2026, 3, 15)
    late = session_at(sunday, time(23, 30), NY, pain=5)
    assert late.started_at.astimezone(TOKYO).date() == sunday + timedelta(days=1)
    tokyo_monday = session_at(sunday + timedelta(days=1), time(19), TOKYO, pain=3)
    symptom = SymptomRow(rule_id="exercise_pain", source="button", at=late.started_at)
    records = Records(sessions=[late, tokyo_monday], symptoms=[symptom])
    this_week = week_summary(records, sunday, TOKYO, goal_low=30)
    next_week = week_summary(records, sunday + timedelta(days=7), TOKYO, goal_low=30)
    assert (this_week.sessions_done, next_week.sessions_done) == (1, 1)
    assert this_week.days[-1].pain_before == 5 and next_week.days[0].pain_before == 3
    assert this_week.symptoms == {} and next_week.symptoms == {"exercise_pain": 1}
    assert next_week.trend == "better"  # 3 against 5 the week before


@pytest.mark.parametrize(
    ("now", "before", "trend"),
    [
        (3.0, 5.0, "better"),
        (5.0, 3.5, "worse"),
        (4.5, 5.0, "steady"),
        (4.0, None, "unknown"),
        (None, 4.0, "unknown"),
    ],
)
def test_pain_trend_needs_a_whole_point(now: float | None, before: float | None, trend: str) -> None:
    assert pain_trend(now, before) == trend


def test_progression_lists_exercises_done_this_week_only() -> None:
    end = date(2026, 3, 8)
    records = Records(
        sessions=[
            session_at(
                end, time(8), NY, pain=3, exercises=(("pelvic_tilt", "done", 8), ("wall_slides", "skipped", None))
            ),
            session_at(
                end - timedelta(days=1),
                time(8),
                NY,
                pain=3,
                status="stopped",
                exercises=(("hamstring_stretch", "hurt", None),),
            ),
        ]
    )
    progress = {
        "pelvic_tilt": ExerciseProgress(repetitions=8),
        "wall_slides": ExerciseProgress(repetitions=3),
        "hamstring_stretch": ExerciseProgress(hold_seconds=30),
    }
    week = week_summary(records, end, NY, 30, progress)
    assert week.progression == (("pelvic_tilt", 8, None),)
    assert (week.sessions_done, week.sessions_started, week.exercises_done, week.exercises_skipped) == (1, 2, 1, 2)


def test_summary_text_names_the_figures(content: Content) -> None:
    text = summary_text(sample_week(), content)
    assert "Sessions done: 6" in text
    assert "Pain before sessions: 4.0 on average — not enough to compare yet" in text  # (5+5+4+4+3+3)/6
    assert "185 minutes" in text and "reached on 4 of 7 days" in text
    assert "Pelvic tilt" not in text  # no progression passed: nothing claimed
    week = sample_week()
    with_progress = week_summary(
        Records(sessions=[session_at(week.end, time(8), NY, 2, exercises=(("pelvic_tilt", "done", 8),))]),
        week.end,
        NY,
        30,
        {"pelvic_tilt": ExerciseProgress(repetitions=8)},
    )
    assert "Pelvic tilt: now 8 repetitions" in summary_text(with_progress, content)
    week = week_summary(Records(), date(2026, 3, 8), NY, 30)
    assert "quiet week" in summary_text(week, content)


def test_next_summary_date_is_on_the_day_and_never_within_a_week_of_the_last() -> None:
    wednesday = date(2026, 3, 4)
    assert next_summary_date(wednesday, 6) == date(2026, 3, 8)
    assert next_summary_date(wednesday, 2) == wednesday
    # last summary on Sunday 8th, the day changed to Wednesday on Monday: not Wed 11th, but Wed 18th
    assert next_summary_date(date(2026, 3, 9), 2, not_before=date(2026, 3, 15)) == date(2026, 3, 18)


def test_chart_is_a_png_of_sensible_size_and_leaves_no_file(
    content: Content, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    goal = content.program.general_activity.daily_minutes
    png = weekly_png(sample_week(), chart_labels(content), goal.low, goal.high)
    assert png[:8] == PNG_SIGNATURE
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX) == (8 * DPI, 4 * DPI)
    assert 5_000 < len(png) < 200_000  # small enough for a chat, not blank
    assert png.rstrip(b"\x00")[-8:-4] == b"IEND"  # complete
    assert os.listdir(tmp_path) == []
    empty = week_summary(Records(), date(2026, 3, 8), NY, goal.low)
    assert png_size(weekly_png(empty, chart_labels(content), goal.low, goal.high)) == (WIDTH_PX, HEIGHT_PX)


def test_docs_sample_chart_is_the_generated_one(content: Content, tmp_path: Path) -> None:
    """docs/sample-weekly-chart.png is made by `python -m bot.charts docs/sample-weekly-chart.png`."""
    from bot.charts import main

    main([str(tmp_path / "chart.png")])
    sample = Path(__file__).resolve().parents[2] / "docs" / "sample-weekly-chart.png"
    assert png_size(sample.read_bytes()) == png_size((tmp_path / "chart.png").read_bytes()) == (WIDTH_PX, HEIGHT_PX)
