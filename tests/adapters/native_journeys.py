"""What a person sees on Telegram and Slack, counted from the fake servers' request logs.

Each platform's messages are replayed as the phone app would show them: a message is created by a send
and changed by an edit; a keyboard is live until an edit removes it. The same journeys run on both
platforms: a full 6-exercise session, and a journey that mixes taps, typed answers, timers and commands.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from adapters.testing.fake_slack import FakeSlack
from adapters.testing.fake_telegram import Call, FakeTelegram, Person, callback_update
from adapters.testing.slack_client import SlackSide
from bot.engine import Engine
from scheduler import outbox

TG_SENDS = {"sendMessage", "sendPhoto", "sendDocument"}
TG_EDITS = {"editMessageText", "editMessageReplyMarkup", "editMessageCaption"}


@dataclass
class Shown:
    """One message as the person sees it now."""

    text: str
    buttons: list[tuple[str, str]]  # (label, payload); empty once the keyboard is gone
    order: int  # when it was last touched: the newest live keyboard is the current question
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Counts:
    messages: int = 0
    edits: int = 0
    toasts: int = 0

    def __str__(self) -> str:
        return f"{self.messages} messages, {self.edits} edits, {self.toasts} toasts"


class Driver(Protocol):
    counts: Counts

    async def say(self, text: str) -> None: ...
    async def tap(self, label: str) -> None: ...
    async def advance(self, delta: timedelta) -> None: ...
    def labels(self) -> list[str]: ...
    def texts(self) -> str: ...
    def stale_keyboards(self) -> list[Shown]: ...


def _stale(shown: dict[Any, Shown]) -> list[Shown]:
    """Live keyboards other than the newest one (the current question)."""
    live = sorted((m for m in shown.values() if m.buttons), key=lambda m: m.order)
    return live[:-1]


class TelegramDriver:
    def __init__(self, fake: FakeTelegram, person: Person, engine: Engine, sender: Any) -> None:
        self.fake, self.person, self.engine, self.sender = fake, person, engine, sender
        self.shown: dict[int, Shown] = {}
        self.counts = Counts()
        self._seen = 0
        self._last: list[Call] = []
        self._order = 0
        self._catch_up()

    def _catch_up(self) -> list[Call]:
        calls = self.fake.requests(self._seen)
        self._seen = len(self.fake.calls)
        for call in calls:
            self._order += 1
            markup = call.params.get("reply_markup") or {}
            buttons = [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]
            text = str(call.params.get("text") or call.params.get("caption") or "")
            if call.method in TG_SENDS and call.message_id is not None:
                self.counts.messages += 1
                self.shown[call.message_id] = Shown(text, buttons, self._order)
            elif call.method in TG_EDITS:
                self.counts.edits += 1
                mid = int(call.params["message_id"])
                old = self.shown.get(mid, Shown("", [], 0))
                self.shown[mid] = Shown(text if call.method == "editMessageText" else old.text, buttons, self._order)
            elif call.method == "answerCallbackQuery" and call.params.get("text"):
                self.counts.toasts += 1
        self._last = calls
        return calls

    async def say(self, text: str) -> None:
        await self.person.say(text)
        self._catch_up()

    async def share_location(self, latitude: float, longitude: float) -> None:
        await self.person.share_location(latitude, longitude)
        self._catch_up()

    def _current(self) -> tuple[int, Shown] | None:
        live = [(mid, m) for mid, m in self.shown.items() if m.buttons]
        return max(live, key=lambda x: x[1].order) if live else None

    async def tap(self, label: str) -> None:
        current = self._current()
        assert current is not None, f"no keyboard to tap {label!r} on: {self.texts()}"
        mid, message = current
        for text, data in message.buttons:
            if text.lower().startswith(label.lower()):
                await self.person.send(callback_update(self.person.user_id, data, mid, query_id=f"q{time.time_ns()}"))
                self._catch_up()
                return
        raise AssertionError(f"no button {label!r} in {[t for t, _ in message.buttons]}")

    async def advance(self, delta: timedelta) -> None:
        self.engine.clock.advance(delta)  # type: ignore[attr-defined]
        now = self.engine.clock.now()
        await outbox.run_due_events(self.engine, now)
        await outbox.send_due_messages(self.engine, {"telegram": self.sender}, now)
        self._catch_up()

    def labels(self) -> list[str]:
        current = self._current()
        return [t for t, _ in current[1].buttons] if current else []

    def texts(self) -> str:
        return "\n".join(str(c.params.get("text") or c.params.get("caption") or "") for c in self._last)

    def stale_keyboards(self) -> list[Shown]:
        return _stale(self.shown)


class SlackDriver:
    def __init__(self, side: SlackSide, fake: FakeSlack, engine: Engine, team: str, user: str) -> None:
        self.side, self.fake, self.engine, self.team, self.user = side, fake, engine, team, user
        self.channel = f"D{user}"
        self._closes: set[int] = set()
        self.shown: dict[str, Shown] = {}
        self.counts = Counts()
        self._seen = 0
        self._last: list[Any] = []
        self._order = 0
        self._catch_up()

    def _catch_up(self) -> None:
        calls = self.fake.calls[self._seen :]
        self._seen = len(self.fake.calls)
        for call in calls:
            self._order += 1
            blocks = call.args.get("blocks") or []
            buttons = [
                (e["text"]["text"], e["value"]) for b in blocks if b.get("type") == "actions" for e in b["elements"]
            ]
            if call.method == "chat.postMessage" and call.response.get("ok"):
                self.counts.messages += 1
                self.shown[call.response["ts"]] = Shown(call.args.get("text", ""), buttons, self._order, call.args)
            elif call.method == "chat.update" and call.response.get("ok"):
                self.counts.edits += 1
                old = self.shown.get(str(call.args["ts"]))
                if old is not None and old.text == call.args.get("text") and not buttons:
                    self._closes.add(id(call))  # a question closed: nothing new to read
                self.shown[str(call.args["ts"])] = Shown(call.args.get("text", ""), buttons, self._order, call.args)
            elif call.method == "files.completeUploadExternal":
                self.counts.messages += 1
        self._last = calls

    async def say(self, text: str) -> None:
        if text.startswith("/"):
            await self.side.command(self.team, self.user, text[1:])
        else:
            await self.side.dm(self.team, self.user, text)
        self._catch_up()

    def _current(self) -> tuple[str, Shown] | None:
        live = [(ts, m) for ts, m in self.shown.items() if m.buttons]
        return max(live, key=lambda x: x[1].order) if live else None

    async def tap(self, label: str) -> None:
        current = self._current()
        assert current is not None, f"no keyboard to tap {label!r} on: {self.texts()}"
        ts, message = current
        for block in message.extra.get("blocks", []):
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element["text"]["text"].lower().startswith(label.lower()):
                    await self._post_action(ts, message, block, element)
                    self._catch_up()
                    return
        raise AssertionError(f"no button {label!r} in {[t for t, _ in message.buttons]}")

    async def _post_action(self, ts: str, message: Shown, block: dict[str, Any], element: dict[str, Any]) -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": self.user, "team_id": self.team},
            "team": {"id": self.team, "domain": "x"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": f"trig{time.time_ns()}",
            "container": {"type": "message", "message_ts": ts, "channel_id": self.channel, "is_ephemeral": False},
            "channel": {"id": self.channel, "name": "directmessage"},
            "message": {"type": "message", "ts": ts, "text": message.text, "blocks": message.extra["blocks"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": block["block_id"],
                    "text": element["text"],
                    "value": element["value"],
                    "action_ts": f"{int(time.time())}.{time.time_ns() % 1_000_000:06d}",
                }
            ],
        }
        response = await self.side.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )
        assert response.status == 200, response

    async def advance(self, delta: timedelta) -> None:
        self.engine.clock.advance(delta)  # type: ignore[attr-defined]
        now = self.engine.clock.now()
        await outbox.run_due_events(self.engine, now)
        await outbox.send_due_messages(self.engine, {"slack": self.side.adapter.sender}, now)
        self._catch_up()

    def labels(self) -> list[str]:
        current = self._current()
        return [t for t, _ in current[1].buttons] if current else []

    def texts(self) -> str:
        return "\n".join(
            str(c.args.get("text", ""))
            for c in self._last
            if c.method in {"chat.postMessage", "chat.update"} and id(c) not in self._closes
        )

    def stale_keyboards(self) -> list[Shown]:
        return _stale(self.shown)


async def run_exercises(driver: Driver, *, typed: bool = False, interrupt: str | None = None) -> None:
    """From the first exercise to the pain-after question: Start, Done, and the hold timers.

    `typed` answers "done" by typing on every other step; `interrupt` sends a command once, mid-session."""
    steps = 0
    for _ in range(200):
        labels, text = driver.labels(), driver.texts()
        if "How is your back pain now" in text or "How is your back pain now" in " ".join(labels):
            return
        if "I'll message you in" in text:
            await driver.advance(timedelta(seconds=41))  # the hold timer, via the outbox and the sender
        elif "Start" in labels and "Exercise" in text:
            await driver.tap("Start")
        elif "Ready" in labels:  # the second side
            await driver.tap("Ready")
        elif "Done" in labels:
            steps += 1
            if interrupt and steps == 3:
                await driver.say(interrupt)
                interrupt = None
            elif typed and steps % 2:
                await driver.say("done")
            else:
                await driver.tap("Done")
        else:
            return


async def full_session(driver: Driver) -> Counts:
    """One whole session for an onboarded person, from "Start a session" to "Session complete"."""
    before = Counts(driver.counts.messages, driver.counts.edits, driver.counts.toasts)
    await driver.tap("Start a session")
    while "Yes" in driver.labels():  # the pre-session check
        await driver.tap("No")
    await driver.tap("3")
    assert "Exercise 1 of 6" in driver.texts(), driver.texts()
    await run_exercises(driver)
    assert "How is your back pain now" in driver.texts(), driver.texts()
    await driver.tap("2")
    await driver.tap("Fine")  # how the session felt
    await driver.tap("That's all")
    await driver.tap("Log activity")
    await driver.tap("20 min")
    await driver.tap("5")
    assert "Session complete: 6 done, 0 skipped" in driver.texts(), driver.texts()
    after = driver.counts
    return Counts(after.messages - before.messages, after.edits - before.edits, after.toasts - before.toasts)


async def mixed_journey(driver: Driver) -> None:
    """Taps, typed answers, timers and commands: a session started by a command, answered both ways,
    interrupted by /help, then another command (/settings) while a question is open, then /today."""
    await driver.say("/today")
    first = True
    while "Yes" in driver.labels():
        if first:
            await driver.say("no")  # a typed answer to a question with buttons
            first = False
        else:
            await driver.tap("No")
    await driver.say("3")  # the pain scale, typed
    await run_exercises(driver, typed=True, interrupt="/help")
    await driver.tap("1")
    await driver.say("fine")  # how the session felt, typed
    await driver.say("/settings")  # another command while "which exercises helped" is open (Slack: a modal)
    await driver.say("/today")  # Telegram: a new session (settings were a chat); Slack: the open question again
    await driver.tap("No" if "No" in driver.labels() else "That's all")
