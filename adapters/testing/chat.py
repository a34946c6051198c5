"""A test backend in the spirit of errbot's: a whole conversation reads like a chat transcript."""

from __future__ import annotations

import itertools
from datetime import timedelta

from bot.engine import Engine
from bot.types import Inbound, InboundKind, Reply, UserRef
from scheduler import outbox

_ids = itertools.count(1)


class RecordingSender:
    platform = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[UserRef, Reply]] = []

    async def send(self, user: UserRef, replies: list[Reply]) -> None:
        self.sent.extend((user, r) for r in replies)


class Chat:
    def __init__(self, engine: Engine, user_id: str = "u1", platform: str = "console", workspace: str = "") -> None:
        self.engine = engine
        self.user = UserRef(platform, workspace, user_id, f"chat-{user_id}")
        self.last: list[Reply] = []
        self.sender = RecordingSender()

    async def send(self, inbound: Inbound) -> list[Reply]:
        self.last = await self.engine.handle(inbound)
        return self.last

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

    async def advance(self, delta: timedelta) -> list[Reply]:
        """Move the clock and deliver whatever fell due, returning what was sent proactively."""
        self.engine.clock.advance(delta)  # type: ignore[attr-defined]
        before = len(self.sender.sent)
        now = self.engine.clock.now()
        await outbox.run_due_events(self.engine, now)
        await outbox.send_due_messages(self.engine, {self.user.platform: self.sender}, now)
        return [r for _, r in self.sender.sent[before:]]

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
