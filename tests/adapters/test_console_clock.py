"""The console's simulated clock as the README tells it: `--now` in the person's own zone (and saying so),
`/advance` with compound durations showing the new local time and naming the reminders it skipped, and
`make run ARGS=...` passing the options on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.console_time import describe_duration, parse_duration, parse_now
from content.loader import Content
from tests.adapters.test_console import run_console

ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("90min", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("4d", timedelta(days=4)),
        ("23h50m", timedelta(hours=23, minutes=50)),
        ("1d2h", timedelta(days=1, hours=2)),
        (" 1d 2h 5m ", timedelta(days=1, hours=2, minutes=5)),
        ("2 hours", timedelta(hours=2)),
        ("3 days", timedelta(days=3)),
    ],
)
def test_compound_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "2", "h2", "2x", "1d then 2h", "0s", "400d", "2hh", "-1d"])
def test_durations_that_are_refused(text: str) -> None:
    assert parse_duration(text) is None


def test_now_is_local_in_the_given_zone_unless_it_says_otherwise() -> None:
    assert parse_now("2026-03-08T07:00", BERLIN) == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert parse_now("2026-07-08T07:00", BERLIN) == datetime(2026, 7, 8, 5, 0, tzinfo=UTC)  # summer time
    assert parse_now("2026-03-08T07:00 America/New_York", BERLIN) == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)  # EDT
    assert parse_now("2026-03-08T07:00+00:00", BERLIN) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert parse_now("2026-03-08T07:00Z", BERLIN) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert parse_now("2026-03-08 07:00", BERLIN) == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    for bad in ("tomorrow", "2026-03-08T07:00 Mars/Olympus", "2026-03-08T07:00+01:00 Europe/Berlin"):
        with pytest.raises(ValueError):
            parse_now(bad, BERLIN)
    assert describe_duration(timedelta(hours=2)) == "2 h"
    assert describe_duration(timedelta(minutes=90)) == "1 h 30 min"


def _sign_up(content: Content, zone: str = "Berlin", at: str = "7:30am") -> list[str]:
    return ["/start", "1", *["no"] * len(content.safety.onboarding_screening), "All of them", at, zone]


def test_now_is_read_in_the_persons_zone_and_advance_shows_local_time(tmp_path: Path, content: Content) -> None:
    db = tmp_path / "console.sqlite3"
    first = run_console(_sign_up(content), db, now="2026-03-08T05:00")
    assert first.startswith("(simulated clock starts at Sun 08 Mar 2026 05:00 UTC)")  # nobody's zone yet
    out = run_console(["/advance 20m", "/advance 15m"], db, now="2026-03-09T07:00")
    assert out.startswith("(simulated clock starts at Mon 09 Mar 2026 07:00 Europe/Berlin)")
    assert "(time is now Mon 09 Mar 2026 07:20 Europe/Berlin)" in out
    before, reminder = out.split("(time is now Mon 09 Mar 2026 07:35 Europe/Berlin)")
    assert "Time for your back exercises" not in before
    assert "Time for your back exercises" in reminder  # 07:30 Berlin, as set up, not 07:30 UTC
    assert "skipped" not in out


def test_now_accepts_a_zone_name_and_refuses_nonsense_clearly(tmp_path: Path) -> None:
    out = run_console(["/help"], tmp_path / "zone.sqlite3", now="2026-03-08T07:00 America/New_York")
    assert out.startswith("(simulated clock starts at Sun 08 Mar 2026 11:00 UTC)")  # said in the person's zone
    db = f"sqlite+aiosqlite:///{tmp_path / 'bad.sqlite3'}"
    bad = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--db", db, "--now", "next tuesday", "--files", str(tmp_path)],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "is not a date and time like 2026-03-08T07:00" in bad.stderr


def test_advance_accepts_compound_durations_and_names_the_skipped_reminders(tmp_path: Path, content: Content) -> None:
    # One process: sign up at Sun 08:00 Berlin (reminder 07:30 daily), then advance.
    out = run_console(
        [*_sign_up(content), "/advance 23h50m", "/advance 4d", "/advance soon"],
        tmp_path / "console.sqlite3",
        now="2026-03-08T07:00",
    )
    signed_up, out = out.split("Europe/Berlin), every day.")  # the sign-up's last words
    assert "Time for your back exercises" not in signed_up
    # Sun 08:00 Berlin: today's 07:30 was past at sign-up, the next is Mon 07:30; 23h50m on it is Mon 07:50.
    assert "(time is now Mon 09 Mar 2026 07:50 Europe/Berlin)" in out
    first, second = out.split("(time is now Fri 13 Mar 2026 07:50 Europe/Berlin)")
    assert first.count("Time for your back exercises") == 1  # sent late, once: within the 2 h grace
    assert "skipped" not in first
    # 4d on Mon 07:50 is Fri 07:50: Friday's 07:30 is 20 min late, so it comes (late, once); the three
    # before it are more than 2 h late and are named as skipped, Friday's is not.
    assert second.count("Time for your back exercises") == 1
    assert (
        "(reminders skipped, more than 2 h late as after downtime: Tue 10 Mar 07:30, Wed 11 Mar 07:30, "
        "Thu 12 Mar 07:30)"
    ) in second
    assert "Fri 13 Mar 07:30" not in second
    assert "Use /advance with a duration like 30s, 10m, 2h, 23h50m, 1d2h or 4d" in second


def test_advance_past_the_grace_sends_nothing_and_names_every_reminder(tmp_path: Path, content: Content) -> None:
    # One process: sign up at Sun 08:00 Berlin (reminder 07:30 daily); 2d3h on is Tue 11:00, when Tuesday's
    # is 3.5 h late; 20h40m more is Wed 07:40, when Wednesday's is 10 min late and comes.
    out = run_console(
        [*_sign_up(content), "/advance 2d3h", "/advance 20h40m"], tmp_path / "console.sqlite3", now="2026-03-08T07:00"
    )
    signed_up, out = out.split("Europe/Berlin), every day.")  # the sign-up's last words
    assert "Time for your back exercises" not in signed_up
    out, wednesday = out.split("(time is now Wed 11 Mar 2026 07:40 Europe/Berlin)")
    assert "(time is now Tue 10 Mar 2026 11:00 Europe/Berlin)" in out
    assert "Time for your back exercises" not in out
    assert "(reminders skipped, more than 2 h late as after downtime: Mon 09 Mar 07:30, Tue 10 Mar 07:30)" in out
    assert wednesday.count("Time for your back exercises") == 1 and "skipped" not in wednesday


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_passes_args_to_the_console() -> None:
    dry = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "run", "ARGS=--now 2026-03-08T07:00"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ".venv/bin/backcoach chat --now 2026-03-08T07:00" in dry.stdout
