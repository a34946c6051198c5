"""The wheel, installed into a fresh venv away from the source tree, runs every `backcoach` subcommand.

This proves the package ships what it needs (content YAML, migrations, the test backends that `bench serve`
uses) and reaches into no `tests/` directory. It builds and installs for real (a fresh venv, the wheel and its
declared dependencies resolved by pip), so it runs when BACKCOACH_TEST_WHEEL=1, as CI (.ci/run) sets it:

    BACKCOACH_TEST_WHEEL=1 .venv/bin/python -m pytest -q tests/packaging
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = [
    ["chat"],
    ["run"],
    ["serve"],
    ["stats"],
    ["check-config"],
    ["triage-report"],
    ["triage-build"],
    ["bench"],
    ["bench", "core"],
    ["bench", "serve"],
    ["bench", "triage"],
    ["bench", "crash"],
]

pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(not os.environ.get("BACKCOACH_TEST_WHEEL"), reason="wheel smoke test: BACKCOACH_TEST_WHEEL=1"),
]


@dataclass
class Installed:
    bin: Path
    home: Path  # a working directory outside the source tree

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("BACKCOACH_", "TELEGRAM_", "SLACK_"))}
        clean.pop("PYTHONPATH", None)
        return subprocess.run(
            [str(self.bin / "backcoach"), *args],
            cwd=self.home,
            env={**clean, **env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,  # a hang guard only
        )


def build_and_install(work: Path) -> Path:
    """Build the wheel from a clean copy of the tree and install it into a fresh venv; returns its bin/."""
    source = work / "source"  # a clean copy: setuptools builds in place and a stale build/ would leak into it
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__"))
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)], check=True, timeout=600
    )
    (wheel,) = dist.glob("backcoach-*.whl")
    venv = work / "venv"
    # A fresh venv with nothing in it (not even pip: ensurepip alone took seconds), into which this venv's pip
    # installs the wheel and resolves its declared dependencies as any user's install would. --no-compile:
    # compiling every dependency's .py (pip's default) was most of the install's time; Python compiles what
    # a subcommand imports when it first runs, as it does for any module.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    subprocess.run([*pip, "install", "-q", "--no-compile", str(wheel)], check=True, timeout=900)
    return venv / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """One build and install per test run. Under pytest-xdist (make test) this module's tests may be spread
    over several workers (--dist worksteal), and each would build its own: the first worker builds in the
    run's shared temporary directory, under a lock, and the others wait for it and use the same venv."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, above each worker's own
    work = shared / "wheel-install"
    with (shared / "wheel-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (also if this process dies)
        if not (work / "installed").exists():
            shutil.rmtree(work, ignore_errors=True)  # what a failed attempt left
            work.mkdir()
            build_and_install(work)
            (work / "installed").touch()
    yield Installed(work / "venv" / "bin", tmp_path_factory.mktemp("home"))


def test_the_wheel_ships_no_tests_and_the_test_backends(installed: Installed) -> None:
    probe = "import adapters.testing.fake_telegram, bot.bench.serve, content, importlib.util as u;"
    probe += "print(u.find_spec('tests') is None, content.__file__)"
    out = subprocess.run(
        [str(installed.bin / "python"), "-c", probe], cwd=installed.home, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "True"  # no tests package came with the wheel
    assert "site-packages" in out[1]  # the installed copy, not the source tree


@pytest.mark.parametrize("args", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(installed: Installed, args: list[str]) -> None:
    done = installed.run(*args, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_a_console_chat_and_the_stats_after_it(installed: Installed) -> None:
    db = f"sqlite+aiosqlite:///{installed.home / 'chat.sqlite3'}"
    chat = installed.run("chat", "--db", db, stdin="/start\n/help\n")
    assert chat.returncode == 0, chat.stderr
    assert "BackCoach:" in chat.stdout and "/help" in chat.stdout
    stats = installed.run("stats", "--db", db)
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.strip()


def test_run_without_platforms_is_the_console_and_ends_with_its_input(installed: Installed) -> None:
    db = f"sqlite+aiosqlite:///{installed.home / 'run.sqlite3'}"
    done = installed.run("run", stdin="/start\n", BACKCOACH_DATABASE_URL=db)
    assert done.returncode == 0, done.stderr
    assert "BackCoach:" in done.stdout


def test_check_config_and_serve_name_what_is_missing(installed: Installed) -> None:
    db = f"sqlite+aiosqlite:///{installed.home / 'serve.sqlite3'}"
    check = installed.run("check-config", BACKCOACH_DATABASE_URL=db)
    assert "telegram" in (check.stdout + check.stderr).lower()
    serve = installed.run("serve", BACKCOACH_DATABASE_URL=db, BACKCOACH_DB_WAIT_SECONDS="5")
    assert serve.returncode != 0
    assert "needs Telegram or Slack configured" in serve.stderr


def test_triage_report_from_the_installed_package(installed: Installed) -> None:
    done = installed.run("triage-report", "--part", "tuning")  # the corpus is package data (content/triage)
    assert done.returncode == 0, done.stderr
    assert "tuning:" in done.stdout and "emergency + chest pain" in done.stdout, done.stdout[:2000]


def test_tiny_benchmarks_print_their_figures(installed: Installed) -> None:
    core = installed.run("bench", "core", "--events", "40", "--users", "4", "--rate", "200", "--cpus", "0")
    assert core.returncode == 0, core.stderr
    assert "events/s" in core.stdout
    reminders = installed.run("bench", "reminders", "--users", "50", "--batch", "20")
    assert reminders.returncode == 0, reminders.stderr
    assert "50 users due" in reminders.stdout
    serve = installed.run("bench", "serve", "--rates", "10", "--seconds", "1", "--users", "3")
    assert serve.returncode == 0, serve.stderr + serve.stdout
    assert "processes=1 db=sqlite" in serve.stdout and "failed=0" in serve.stdout
