"""Where the console puts the images and documents it is sent: a terminal cannot show a PDF.

A record is health data, so it is kept like one: a folder of the person's own (mode 0700, never the
shared, world-readable system temp folder), each file readable by its owner only (0600, set when the
file is created, so there is no moment it is readable by others), and all of it removed when the person
erases their data with /delete. Default: `$XDG_STATE_HOME/backcoach/files` (`~/.local/state/...`).

Telegram and Slack never write a file: they upload from memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.types import Attachment

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def default_folder() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "backcoach" / "files"


class ConsoleFiles:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_folder()

    def _ready(self) -> Path:
        self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        if stat.S_IMODE(self.folder.stat().st_mode) != FOLDER_MODE:
            self.folder.chmod(FOLDER_MODE)  # an older or hand-made folder: make it private
        return self.folder

    def save(self, attachment: Attachment) -> Path:
        """Write the attachment; the name is the bot's own file name, never a path it did not choose."""
        path = self._ready() / (Path(attachment.filename).name or "file")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode through O_CREAT: set it
            with os.fdopen(fd, "wb") as f:
                fd = -1
                f.write(attachment.data)
        finally:
            if fd >= 0:
                os.close(fd)
        return path

    def saved(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def erase(self) -> int:
        """/delete: remove every file the console saved. Returns how many went."""
        gone = 0
        for path in self.saved():
            path.unlink(missing_ok=True)
            gone += 1
        return gone
