"""Exported files are health data: the console keeps them owner-only in a folder of the person's own (never
the shared temp folder), and /delete removes them with everything else."""

from __future__ import annotations

import re
import stat
import tempfile
from pathlib import Path

import pytest

from adapters.console_files import ConsoleFiles, default_folder
from bot.types import Attachment
from content.loader import Content
from tests.adapters.test_console import run_console


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_folder_is_the_persons_own_not_the_shared_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert Path(tempfile.gettempdir()) not in default_folder().parents
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_folder() == tmp_path / "state" / "backcoach" / "files"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_folder() == tmp_path / "home" / ".local" / "state" / "backcoach" / "files"


def test_saved_files_are_owner_only_even_over_an_old_world_readable_copy(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    old = folder / "record.csv"
    old.write_bytes(b"old")
    old.chmod(0o644)
    files = ConsoleFiles(folder)
    path = files.save(Attachment("../../record.csv", "text/csv", b"new"))
    assert path == old and path.read_bytes() == b"new"  # the bot's own file name, never a path it was handed
    assert _mode(folder) == 0o700 and _mode(path) == 0o600
    assert files.erase() == 1 and files.saved() == []


def test_console_export_is_owner_only_and_gone_after_delete(tmp_path: Path, content: Content) -> None:
    db = tmp_path / "console.sqlite3"
    setup = ["/start", "1", *["no"] * len(content.safety.onboarding_screening), "All of them", "No reminders", "UTC"]
    out = run_console([*setup, "/activity", "40", "5", "/export"], db)
    saved = [Path(p) for p in re.findall(r"\[file saved: (.+)\]", out)]
    assert [p.suffix for p in saved] == [".csv", ".pdf"]
    folder = tmp_path / "files"
    assert all(p.parent == folder and _mode(p) == 0o600 for p in saved) and _mode(folder) == 0o700
    out = run_console(["/delete", "Yes, delete everything"], db)
    assert "deleted" in out.lower()
    assert not any(p.exists() for p in saved) and list(folder.iterdir()) == []
