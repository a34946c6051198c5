"""A chat in the terminal: buttons become numbered choices; works interactively or with piped stdin.

It has a simulated clock (`--now`, `/advance 2h`) so timers, reminders and rest days can be shown
without waiting; due timers and messages are delivered through the same outbox code the bot uses.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TextIO

from adapters.console_files import ConsoleFiles
from adapters.console_time import describe, describe_duration, parse_duration
from bot.engine import Engine
from bot.flows.common import zone_named
from bot.schedule.planning import late_reminder, missed_fires
from bot.state import Schedule
from bot.storage import repository as repo
from bot.types import Inbound, InboundKind, Reply, ReplyKind, UserRef
from scheduler.runner import DEFAULT_GRACE, tick

CONSOLE_USER = UserRef(platform="console", workspace="", user_id="local", chat_id="local")
ADVANCE_HELP = (
    "Use /advance with a duration like 30s, 10m, 2h, 23h50m, 1d2h or 4d (at most a year; only with the "
    "simulated clock)."
)


def render(reply: Reply, files: ConsoleFiles | None = None) -> str:
    lines = [("⚠️  " if reply.urgent else "") + reply.text]
    for index, button in enumerate(reply.buttons, start=1):
        lines.append(f"   {index}) {button.label}")
    store = files or ConsoleFiles()
    if reply.image:
        lines.append(f"   [image saved: {store.save(reply.image)}]")
    if reply.document:
        lines.append(f"   [file saved: {store.save(reply.document)}]")
    return "\n".join(lines)


class ConsoleSender:
    """The console's side of the outbox: print what the bot sends proactively."""

    platform = "console"

    def __init__(self, write: Callable[[str], None], files: ConsoleFiles | None = None) -> None:
        self._write = write
        self.files = files or ConsoleFiles()
        self.last_buttons: list[tuple[str, str]] = []

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        for reply in replies:
            if reply.kind is ReplyKind.CLOSE:  # a transcript only grows: an old question needs no closing
                continue
            self._write(render(reply, self.files))
            if reply.buttons:
                self.last_buttons = [(b.label, b.action) for b in reply.buttons]


class ConsoleChat:
    def __init__(
        self,
        engine: Engine,
        out: TextIO = sys.stdout,
        user: UserRef = CONSOLE_USER,
        *,
        files: ConsoleFiles | None = None,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        self.engine = engine
        self.out = out
        self.user = user
        self.grace = grace
        self.sender = ConsoleSender(self._print, files)
        self._counter = 0
        self._busy = asyncio.Lock()

    def note(self, text: str) -> None:
        """A line from the console itself (not the bot), such as the simulated clock's start."""
        self.out.write(f"{text}\n\n")
        self.out.flush()

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
        await tick(self.engine, {"console": self.sender}, grace=self.grace)

    async def schedule(self) -> tuple[Schedule, str | None, str | None] | None:
        """The person's reminder schedule and quiet hours, or None before they have written."""
        row = await self.engine.transaction(lambda db: repo.find_user(db, self.user))
        if row is None:
            return None
        view = repo.to_view(row, self.user, None)
        return view.schedule, view.profile.quiet_start, view.profile.quiet_end

    async def zone_name(self) -> str:
        found = await self.schedule()
        return zone_named(found[0].timezone if found else None).key

    async def advance(self, text: str) -> None:
        """`/advance 1d2h`: jump the simulated clock, say the new local time and which reminders the jump
        skipped (a reminder more than the grace period late is not sent, as after real downtime)."""
        delta = parse_duration(text)
        advance = getattr(self.engine.clock, "advance", None)
        if delta is None or advance is None:
            self._print(ADVANCE_HELP)
            return
        found = await self.schedule()
        advance(delta)
        now = self.engine.clock.now()
        zone = zone_named(found[0].timezone if found else None)
        self._print(f"(time is now {describe(now, zone)})")
        await self.deliver_due()
        if found:
            skipped = skipped_reminders(*found, now, self.grace)
            if skipped:
                days = ", ".join(f"{at.astimezone(zone):%a %d %b %H:%M}" for at in skipped)
                self._print(
                    f"(reminders skipped, more than {describe_duration(self.grace)} late as after downtime: {days})"
                )

    async def say(self, line: str) -> None:
        text = line.strip()
        if text.lower().startswith("/advance"):
            await self.advance(text[len("/advance") :])
            return
        replies = await self.engine.handle(self.to_inbound(text))
        await self.sender.send(self.user, replies)
        if self.sender.files.saved() and await self.schedule() is None:
            self.sender.files.erase()  # /delete erased the person: their saved records go too
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


def skipped_reminders(
    schedule: Schedule,
    quiet_start: str | None,
    quiet_end: str | None,
    now: datetime,
    grace: timedelta,
) -> list[datetime]:
    """The reminders a jump to `now` passed (the schedule as planned before it) that the scheduler will not
    send: every one due in that span except the latest, when it is at most `grace` late (that one is sent
    late, once), as after real downtime (scheduler/reminders.py decides the same, bot/schedule/planning.py)."""
    if not schedule.reminders_on or schedule.hold_reason:
        return []
    fires = missed_fires(schedule, now, quiet_start=quiet_start, quiet_end=quiet_end)
    late = late_reminder(fires, now, grace)
    return [at for at in fires if at != late]


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
