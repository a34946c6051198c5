"""A test backend in the spirit of errbot's: a whole conversation reads like a chat transcript."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TypeVar

from bot.clock import FakeClock
from bot.effects import Effect
from bot.engine import Engine
from bot.flows import dispatch
from bot.flows.registry import Need
from bot.state import History, UserView
from bot.types import Inbound, InboundKind, Reply, ReplyKind, UserRef
from content.loader import Content
from scheduler import outbox

E = TypeVar("E")

_ids = itertools.count(1)


class RecordingSender:
    platform = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[UserRef, Reply]] = []

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        self.sent.extend((user, r) for r in replies if r.kind is not ReplyKind.CLOSE)


class Transcript:
    """What a person does (say, tap) and sees (texts, labels); `send` decides where the event goes."""

    user: UserRef
    last: list[Reply]

    async def send(self, inbound: Inbound) -> list[Reply]:
        raise NotImplementedError

    async def say(self, text: str, event_id: str | None = None) -> list[Reply]:
        kind = InboundKind.COMMAND if text.startswith("/") else InboundKind.TEXT
        return await self.send(Inbound(self.user, kind, text=text, event_id=event_id or f"e{next(_ids)}"))

    async def tap(self, label: str, replies: list[Reply] | None = None, event_id: str | None = None) -> list[Reply]:
        """Tap the button with this label (case-insensitive prefix) on the given (default: last) replies."""
        return await self.send(
            Inbound(
                self.user, InboundKind.BUTTON, action=self.action(label, replies), event_id=event_id or f"e{next(_ids)}"
            )
        )

    def action(self, label: str, replies: list[Reply] | None = None) -> str:
        for reply in reversed(replies if replies is not None else self.last):
            for button in reply.buttons:
                if button.label.lower().startswith(label.lower()):
                    return button.action
        raise AssertionError(f"no button {label!r} in {self.texts(replies)}")

    def labels(self, replies: list[Reply] | None = None) -> list[str]:
        return [b.label for r in (replies if replies is not None else self.last) for b in r.buttons]

    def texts(self, replies: list[Reply] | None = None) -> str:
        return "\n".join(r.text for r in (replies if replies is not None else self.last))

    async def consent_and_choose_all(self) -> None:
        """/start, consent, "No" to every screening question, all exercises: the reminder question is next."""
        await self.say("/start")
        await self.tap("I understand")
        for _ in range(10):
            if "Yes" not in self.labels():
                break
            await self.tap("No")
        await self.tap("All of them")

    async def onboard(self, *, time: str = "07:00", zone: str = "London") -> None:
        await self.consent_and_choose_all()
        await self.tap(time)
        await self.tap(zone)
        assert "all set" in self.texts().lower(), self.texts()


class Chat(Transcript):
    """Through `Engine.handle`: the real transaction on a real database, as an adapter would call it."""

    def __init__(self, engine: Engine, user_id: str = "u1", platform: str = "console", workspace: str = "") -> None:
        self.engine = engine
        self.user = UserRef(platform, workspace, user_id, f"chat-{user_id}")
        self.last: list[Reply] = []
        self.sender = RecordingSender()

    async def send(self, inbound: Inbound) -> list[Reply]:
        """The replies a transcript shows: closing an old question changes no text, so it is left out."""
        self.last = [r for r in await self.engine.handle(inbound) if r.kind is not ReplyKind.CLOSE]
        return self.last

    async def advance(self, delta: timedelta) -> list[Reply]:
        """Move the clock and deliver whatever fell due, returning what was sent proactively."""
        self.engine.clock.advance(delta)  # type: ignore[attr-defined]
        before = len(self.sender.sent)
        now = self.engine.clock.now()
        await outbox.run_due_events(self.engine, now)
        await outbox.send_due_messages(self.engine, {self.user.platform: self.sender}, now)
        return [r for _, r in self.sender.sent[before:]]


class PureChat(Transcript):
    """Through `dispatch.handle` alone: no database, no engine. For the flows' logic, where storage is not
    the point; the view, the effects and the schedule re-planning are what the engine would have saved."""

    def __init__(self, content: Content, clock: FakeClock, history: History | None = None, user_id: str = "u1") -> None:
        self.content = content
        self.clock = clock
        self.user = UserRef("console", "", user_id, f"chat-{user_id}")
        self.view = UserView(user_id=1, ref=self.user)
        self.history = history or History()
        self.effects: list[Effect] = []
        self.last: list[Reply] = []

    async def send(self, inbound: Inbound) -> list[Reply]:
        now = self.clock.now()
        before = self.view.schedule.model_copy()
        declared = dispatch.needs(self.view, inbound) is not Need.NOTHING  # as the engine loads: only if declared
        view = self.view.model_copy(update={"loaded_history": self.history if declared else None})
        outcome = dispatch.handle(view, inbound, now, self.content)
        Engine.replan(before, outcome.view, now)
        self.view = outcome.view.model_copy(update={"loaded_history": None})
        self.effects.extend(outcome.effects)
        self.last = [r for r in outcome.replies if r.kind is not ReplyKind.CLOSE]
        return self.last

    def effects_of(self, kind: type[E]) -> list[E]:
        return [e for e in self.effects if isinstance(e, kind)]
