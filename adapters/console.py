"""A chat in the terminal: buttons become numbered choices; works interactively or with piped stdin.

It has a simulated clock (`--now`, `/advance 2h`) so timers, reminders and rest days can be shown
without waiting; due timers and messages are delivered through the same outbox code the bot uses.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from bot.engine import Engine
from bot.types import Attachment, Inbound, InboundKind, Reply, ReplyKind, UserRef
from scheduler.runner import tick

CONSOLE_USER = UserRef(platform="console", workspace="", user_id="local", chat_id="local")
_DURATION = re.compile(r"^(\d+)\s*(s|sec|m|min|h|hour|hours|d|day|days)$")
_UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "m": "minutes",
    "min": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
}


def parse_duration(text: str) -> timedelta | None:
    match = _DURATION.match(text.strip().lower())
    if not match:
        return None
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def render(reply: Reply) -> str:
    lines = [("⚠️  " if reply.urgent else "") + reply.text]
    for index, button in enumerate(reply.buttons, start=1):
        lines.append(f"   {index}) {button.label}")
    if reply.image:
        lines.append(f"   [image saved: {save_attachment(reply.image)}]")
    if reply.document:
        lines.append(f"   [file saved: {save_attachment(reply.document)}]")
    return "\n".join(lines)


def files_dir() -> Path:
    """Where the console puts images and documents: <system temp dir>/backcoach-files."""
    return Path(tempfile.gettempdir()) / "backcoach-files"


def save_attachment(attachment: Attachment) -> Path:
    """A terminal cannot show a picture: write it to a file and print its path."""
    folder = files_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (Path(attachment.filename).name or "file")  # never a path the bot did not choose
    path.write_bytes(attachment.data)
    return path


class ConsoleSender:
    """The console's side of the outbox: print what the bot sends proactively."""

    platform = "console"

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self.last_buttons: list[tuple[str, str]] = []

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        for reply in replies:
            if reply.kind is ReplyKind.CLOSE:  # a transcript only grows: an old question needs no closing
                continue
            self._write(render(reply))
            if reply.buttons:
                self.last_buttons = [(b.label, b.action) for b in reply.buttons]


class ConsoleChat:
    def __init__(self, engine: Engine, out: TextIO = sys.stdout, user: UserRef = CONSOLE_USER) -> None:
        self.engine = engine
        self.out = out
        self.user = user
        self.sender = ConsoleSender(self._print)
        self._counter = 0
        self._busy = asyncio.Lock()

    def _print(self, text: str) -> None:
        self.out.write(f"BackCoach: {text}\n\n")
        self.out.flush()

    def to_inbound(self, line: str) -> Inbound:
        """A button's label or its number taps that button; /commands are commands; the rest is text."""
        text = line.strip()
        self._counter += 1
        buttons = self.sender.last_buttons
        for label, action in buttons:  # a label first: on a 0-10 scale "3" means the button "3"
            if text.lower() == label.lower():
                return Inbound(self.user, InboundKind.BUTTON, action=action)
        numeric = any(label[:1].isdigit() for label, _ in buttons)  # pain 0-10, "10 min", "07:00"...
        if text.isdigit() and 1 <= int(text) <= len(buttons) and not numeric:
            # A number typed at a numeric question is the value ("11" -> "0 to 10, please"; "5" -> 5 minutes).
            return Inbound(self.user, InboundKind.BUTTON, action=buttons[int(text) - 1][1])
        kind = InboundKind.COMMAND if text.startswith("/") else InboundKind.TEXT
        return Inbound(self.user, kind, text=text)

    async def deliver_due(self) -> None:
        """The scheduler's own tick (due reminders, timers, messages) at the simulated clock's time."""
        await tick(self.engine, {"console": self.sender})

    async def say(self, line: str) -> None:
        text = line.strip()
        if text.lower().startswith("/advance"):
            delta = parse_duration(text[len("/advance") :])
            advance = getattr(self.engine.clock, "advance", None)
            if delta is None or advance is None:
                self._print("Use /advance with a duration like 30s, 10m, 2h or 1d (only with the simulated clock).")
                return
            advance(delta)
            self._print(f"(time is now {self.engine.clock.now():%Y-%m-%d %H:%M} UTC)")
            await self.deliver_due()
            return
        replies = await self.engine.handle(self.to_inbound(text))
        await self.sender.send(self.user, replies)
        await self.deliver_due()

    async def run(self, lines: TextIO = sys.stdin) -> None:
        interactive = lines.isatty()
        await self.deliver_due()
        if interactive:
            self.out.write("Type a message, a number to tap a button, /help for commands, Ctrl-D to quit.\n\n")
            await self.say("/start")
        loop = asyncio.get_running_loop()
        ticker = asyncio.create_task(self._tick()) if interactive else None
        try:
            await self._read_loop(lines, interactive, loop)
        finally:
            if ticker:
                ticker.cancel()

    async def _tick(self) -> None:
        """Interactive only: deliver hold timers and reminders as they fall due."""
        while True:
            await asyncio.sleep(1)
            async with self._busy:
                await self.deliver_due()

    async def _read_loop(self, lines: TextIO, interactive: bool, loop: asyncio.AbstractEventLoop) -> None:
        incoming = _read_lines(lines, loop)
        while True:
            if interactive:
                self.out.write("you> ")
                self.out.flush()
            line = await incoming.get()
            if not line:
                break
            if not interactive:
                self.out.write(f"you> {line.rstrip()}\n")
            if line.strip().lower() in {"/quit", "/exit"}:
                break
            if not line.strip():
                continue  # like a chat app, an empty line sends nothing
            async with self._busy:
                await self.say(line)


def _read_lines(lines: TextIO, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
    """Lines from a daemon thread: a blocked `readline` must never hold up shutdown (SIGTERM while the
    terminal waits for input), which a read in the loop's default executor did."""
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            line = lines.readline()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                return
            if not line:
                return

    threading.Thread(target=pump, name="console-input", daemon=True).start()
    return queue
