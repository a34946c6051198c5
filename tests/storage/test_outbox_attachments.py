"""The export's files do not outlive their send (issue 12): an outbox row keeps a reply's CSV bytes and the
PDF's record data only until the row is settled for good (sent, or given up), and /delete takes a row still
waiting. Through the inbox path the platforms use, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import Chat, RecordingSender
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import OutboxMessage
from bot.types import Inbound, InboundKind, Reply, UserRef
from content.loader import Content
from scheduler import inbox
from scheduler.delivery import MAX_ATTEMPTS
from scheduler.runner import tick
from scheduler.sender import Sent, TransientError
from tests.flow_helpers import skipped_session_and_activity

ANN = UserRef("console", "", "ann", "chat-ann")


class Platform(RecordingSender):
    """Takes every reply (reporting each accepted), or, while `refuse_files`, fails any batch with a file."""

    refuse_files = False

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        if self.refuse_files and any(r.document or r.image for r in replies):
            raise TransientError("503")
        for index, reply in enumerate(replies):
            self.sent.append((user, reply))
            if callable(on_sent):
                on_sent(Sent(index, f"m{len(self.sent)}"))


async def say(engine: Engine, platform: Platform, body: str, event_id: str) -> None:
    kind = InboundKind.COMMAND if body.startswith("/") else InboundKind.TEXT
    await engine.receive(Inbound(ANN, kind, text=body, event_id=event_id))
    await inbox.drain(engine, {"console": platform}, inbox.person_of(ANN), retry_transient=False)


async def tap(engine: Engine, platform: Platform, label: str, event_id: str) -> None:
    action = next(b.action for _, r in reversed(platform.sent) for b in r.buttons if b.label.startswith(label))
    await engine.receive(Inbound(ANN, InboundKind.BUTTON, action=action, event_id=event_id))
    await inbox.drain(engine, {"console": platform}, inbox.person_of(ANN), retry_transient=False)


async def export_rows(db: AsyncEngine) -> list[tuple[int, str, str]]:
    """(user, status, payload as stored) of every outbox row whose replies include /export's CSV reply."""
    async with db.connect() as conn:
        rows = (await conn.execute(select(OutboxMessage.user_id, OutboxMessage.status, OutboxMessage.payload))).all()
    return [(u, s, json.dumps(p)) for u, s, p in rows if "spreadsheet (CSV)" in json.dumps(p)]


async def with_records(engine: Engine, content: Content) -> None:
    chat = Chat(engine, user_id="ann")
    await chat.onboard()
    await skipped_session_and_activity(chat, content, pain=5, minutes=40)
    await chat.say("my leg is tingling")


def files_of(platform: Platform) -> dict[str, bytes]:
    return {r.document.filename: r.document.data for _, r in platform.sent if r.document}


async def test_a_sent_export_keeps_its_words_but_not_its_files(
    engine: Engine, db: AsyncEngine, content: Content
) -> None:
    await with_records(engine, content)
    platform = Platform()
    await say(engine, platform, "/export", "ob-export")
    files = files_of(platform)
    assert files, [r.text for _, r in platform.sent]
    csv = next(data for name, data in files.items() if name.endswith(".csv"))
    assert any(name.endswith(".pdf") for name in files) and b"Pelvic tilt" not in csv  # skipped before the tilt
    [(_, status, stored)] = await export_rows(db)
    assert status == "sent"
    assert base64.b64encode(csv).decode() not in stored and '"spec"' not in stored and '"render"' not in stored
    assert content.safety.rule("neuro_change").label not in stored  # the PDF's symptom table went with it
    assert "spreadsheet (CSV)" in stored and '"document": null' in stored  # the row still says what was sent


async def test_an_export_the_platform_never_takes_loses_its_files_when_given_up(
    engine: Engine, db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    await with_records(engine, content)
    platform = Platform()
    platform.refuse_files = True
    await say(engine, platform, "/export", "ob-export")
    [(_, status, stored)] = await export_rows(db)
    assert status == "pending" and '"spec"' in stored, "waiting to be sent, it still needs its files"
    for _ in range(MAX_ATTEMPTS + 1):
        clock.advance(timedelta(minutes=15))
        await tick(engine, {"console": platform})
    [(_, status, stored)] = await export_rows(db)
    assert status == "failed"
    assert '"spec"' not in stored and '"document": null' in stored
    assert not files_of(platform), "nothing was ever delivered"


async def test_delete_takes_an_export_still_waiting_to_be_sent(
    engine: Engine, db: AsyncEngine, content: Content
) -> None:
    await with_records(engine, content)
    platform = Platform()
    platform.refuse_files = True
    await say(engine, platform, "/export", "ob-export")
    [(ann, status, stored)] = await export_rows(db)
    assert status == "pending" and '"data"' in stored
    await say(engine, platform, "/delete", "ob-delete")
    await tap(engine, platform, "Yes, delete", "ob-confirm")
    assert "everything about you has been deleted" in platform.sent[-1][1].text
    assert await export_rows(db) == []
    async with db.connect() as conn:
        assert (await conn.execute(select(OutboxMessage.id).where(OutboxMessage.user_id == ann))).all() == []
