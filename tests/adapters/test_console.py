"""The console chat, scripted through piped stdin exactly as a newcomer would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from content.loader import Content


def taps_for_whole_session(content: Content) -> int:
    """How many "1" taps walk through every exercise (Start, each step, repetitions, holds per side with
    "Ready" before the second side; a hold that is the sheet's last step is that step)."""
    taps = 0
    for exercise in content.program.exercises:
        dosage = exercise.dosage
        taps += 1 + len(exercise.steps)
        if dosage.count:
            assert dosage.repetitions_first is not None
            taps += dosage.repetitions_first
        elif dosage.hold_text and exercise.steps[-1] != dosage.hold_text:
            taps += 3 if dosage.sides == "both" else 1
    return taps


def run_console(lines: list[str], db: Path, now: str = "2026-03-08T07:00") -> str:
    script = "".join(f"{line}\n" for line in lines)
    files = db.parent / "files"
    result = subprocess.run(
        [
            sys.executable,
            *("-m", "bot.cli", "chat", "--db", f"sqlite+aiosqlite:///{db}", "--now", now, "--files", str(files)),
        ],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scripted_console_session_from_onboarding_to_summary(tmp_path: Path, content: Content) -> None:
    lines = [
        "/start",
        "1",  # consent
        *["no"] * len(content.safety.onboarding_screening),
        "All of them",
        "7:30am",
        "Berlin",
        "1",  # start a session now
        *["no"] * len(content.safety.session_precheck),
        "3",  # pain before
        *["1"] * taps_for_whole_session(content),
        "1",  # pain after: a label wins over a button number
        "Fine",
        "That's all",
        "Not now",  # no activity to log
    ]
    out = run_console(lines, tmp_path / "console.sqlite3")
    assert "I'll remind you at 07:30 (Europe/Berlin), every day." in out
    assert "Session complete: 6 done, 0 skipped" in out
    assert "Pain before: 3/10, after: 1/10." in out
    assert out.rstrip().endswith("first session with BackCoach is done. Well done for starting.")


def test_console_resumes_after_restart_and_simulated_clock_fires_timer(tmp_path: Path, content: Content) -> None:
    db = tmp_path / "console.sqlite3"
    setup = ["/start", "1", *["no"] * len(content.safety.onboarding_screening), "All of them", "No reminders", "UTC"]
    first = content.program.exercises[0]
    steps_but_last = ["Done"] * (len(first.steps) - 1)
    to_hold = ["/today", *["no"] * len(content.safety.session_precheck), "2", "Start", *steps_but_last]
    out = run_console([*setup, *to_hold], db)  # one process signs up and walks in (the restarts come next)
    # Wall slides: the sheet's last step is the hold itself, said once with how to finish it.
    assert first.steps[-1] == first.dosage.hold_text
    last_step = out[out.rindex("Step 4 of 4") :]
    assert last_step.count(first.dosage.hold_text) == 1 and "Tap Done when you've finished" in last_step
    # A second process on the same file picks up at the same step, and shows it once.
    out = run_console(["/today"], db)
    assert "middle of a session" in out
    assert out.count(first.dosage.hold_text) == 1
    # The stretches' hold timer is delivered by the simulated clock.
    stretch = next(e for e in content.program.exercises if e.dosage.hold_seconds)
    lines = ["Skip"] * content.program.exercises.index(stretch)
    lines += ["Start", *["Done"] * len(stretch.steps), "/advance 45s"]
    out = run_console(lines, db)
    assert "Time's up: slowly release the stretch." in out
    assert "switch sides" in out


def test_console_piped_empty_input_exits_cleanly(tmp_path: Path) -> None:
    assert run_console([], tmp_path / "empty.sqlite3") == "(simulated clock starts at Sun 08 Mar 2026 07:00 UTC)\n\n"
    out = run_console(["", "   ", "/help"], tmp_path / "blank.sqlite3")
    assert "empty" not in out, "blank lines are not messages"
    assert "/today" in out


def test_help_in_the_console_is_a_short_list(tmp_path: Path) -> None:
    """Issue 12: /help was one run-on paragraph; in the console each command is a line of its own."""
    out = run_console(["/help"], tmp_path / "help.sqlite3")
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("•")]
    assert len(lines) >= 8 and lines[0].startswith("• /today") and any(x.startswith("• /delete") for x in lines)
