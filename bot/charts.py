"""The weekly chart: activity minutes per day against the goal band, and pain before/after sessions.

Rendered in memory (BytesIO) with matplotlib's object API and the Agg renderer — no pyplot global state, no
files, safe in a server. matplotlib is imported lazily so the core (and every ordinary event) stays light.
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING

from bot.progress import WeekSummary
from bot.render_jobs import ChartLabels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_PX, HEIGHT_PX, DPI = 800, 400, 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _figure(week: WeekSummary, labels: ChartLabels, goal_low: int, goal_high: int) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax = fig.add_subplot()
    xs = list(range(len(week.days)))
    minutes = [d.activity_minutes for d in week.days]
    top = max([goal_high, *minutes]) * 1.25
    ax.axhspan(goal_low, goal_high, color="#cfe8cf", label=labels.goal, zorder=0)
    ax.bar(xs, minutes, color="#4c78a8", width=0.6, label=labels.minutes, zorder=2)
    done = [x for x, d in zip(xs, week.days, strict=True) if d.sessions_done]
    ax.scatter(done, [top * 0.94] * len(done), marker="*", s=160, color="#f2a900", label=labels.session, zorder=3)
    ax.set_ylim(0, top)
    ax.set_ylabel(labels.minutes)
    ax.set_xticks(xs, [f"{d.day:%a}\n{d.day:%d %b}" for d in week.days])
    ax.set_title(f"{labels.title}: {week.start:%d %b} – {week.end:%d %b %Y}")
    pain_ax = ax.twinx()
    for attr, colour, label in (
        ("pain_before", "#e45756", labels.pain_before),
        ("pain_after", "#9d755d", labels.pain_after),
    ):
        points = [(x, getattr(d, attr)) for x, d in zip(xs, week.days, strict=True) if getattr(d, attr) is not None]
        if points:
            pain_ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=colour, label=label)
    pain_ax.set_ylim(0, 10.5)
    pain_ax.set_ylabel(labels.pain)
    handles, names = ax.get_legend_handles_labels()
    more, more_names = pain_ax.get_legend_handles_labels()
    fig.legend(handles + more, names + more_names, loc="lower center", fontsize="small", ncols=5, frameon=False)
    fig.subplots_adjust(left=0.08, right=0.92, top=0.9, bottom=0.24)
    return fig


def weekly_png(week: WeekSummary, labels: ChartLabels, goal_low: int, goal_high: int) -> bytes:
    """The chart as PNG bytes, WIDTH_PX x HEIGHT_PX."""
    buf = BytesIO()
    _figure(week, labels, goal_low, goal_high).savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (which must come first)."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def sample_week() -> WeekSummary:
    """A constructed week (a session most days, pain easing, activity building up) for docs and tests."""
    from datetime import UTC, date, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from bot.progress import ActivityRow, ExerciseRow, Records, SessionRow, week_summary

    end = date(2026, 3, 8)
    records = Records()
    for i, (pain, after, minutes) in enumerate(
        [(5, 4, 15), (5, 4, 20), (None, None, 0), (4, 3, 30), (4, 3, 35), (3, 2, 45), (3, 3, 40)]
    ):
        day = end - timedelta(days=6 - i)
        at = datetime.combine(day, time(8), tzinfo=UTC)
        if pain is not None:
            records.sessions.append(
                SessionRow(
                    started_at=at,
                    local_date=day,
                    status="completed",
                    pain_before=pain,
                    pain_after=after,
                    exercises=[ExerciseRow(exercise_id="pelvic_tilt", result="done", repetitions=8, at=at)],
                )
            )
        if minutes:
            records.activities.append(ActivityRow(local_date=day, minutes=minutes, at=at + timedelta(hours=9)))
    return week_summary(records, end, ZoneInfo("UTC"), 30)


def main(argv: list[str] | None = None) -> None:
    """`python -m bot.charts docs/sample-weekly-chart.png`: write the sample chart."""
    import sys

    from bot.render_jobs import chart_labels
    from content.loader import default_content

    target = (argv if argv is not None else sys.argv[1:]) or ["docs/sample-weekly-chart.png"]
    content = default_content()
    goal = content.program.general_activity.daily_minutes
    with open(target[0], "wb") as f:
        f.write(weekly_png(sample_week(), chart_labels(content), goal.low, goal.high))


if __name__ == "__main__":
    main()
