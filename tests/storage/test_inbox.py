"""The durable inbox on both databases: an event is kept before the platform is answered, processed once
in order per person, its replies written with the state change and sent at once; whatever a crash leaves
(an event not processed, a reply not sent) is finished after restart. And deleted means gone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.testing.chat import RecordingSender
from bot.clock import FakeClock
from bot.engine import Engine
from bot.storage.models import InboxEvent, OutboxMessage, User
from bot.types import Inbound, InboundKind, Reply, UserRef
from content.loader import Content
from scheduler import inbox
from scheduler.runner import tick
from scheduler.sender import Sent

ANN = UserRef("console", "", "ann", "chat-ann")


def text(body: str, event_id: str, who: UserRef = ANN) -> Inbound:
    kind = InboundKind.COMMAND if body.startswith("/") else InboundKind.TEXT
    return Inbound(who, kind, text=body, event_id=event_id)


class Counting(RecordingSender):
    """Records every reply and reports each one accepted, like a real platform sender."""

    async def send(self, user: UserRef, replies: list[Reply], on_sent: object = None) -> None:
        for index, reply in enumerate(replies):
            self.sent.append((user, reply))
            if callable(on_sent):
                on_sent(Sent(index, f"m{len(self.sent)}"))


async def inbox_rows(db: AsyncEngine) -> list[InboxEvent]:
    async with db.connect() as conn:
        return list((await conn.execute(select(InboxEvent).order_by(InboxEvent.id))).all())  # type: ignore[arg-type]


async def outbox_rows(db: AsyncEngine) -> list[tuple[str, str]]:
    async with db.connect() as conn:
        return [tuple(r) for r in (await conn.execute(select(OutboxMessage.kind, OutboxMessage.status))).all()]


async def test_received_then_processed_once_with_its_reply_row_sent(
    engine: Engine, db: AsyncEngine, content: Content
) -> None:
    sender = Counting()
    assert (await engine.receive(text("/start", "e1"))).fresh
    assert await inbox.drain(engine, {"console": sender}, inbox.person_of(ANN)) == 1
    assert "BackCoach" in "\n".join(r.text for _, r in sender.sent)
    assert await outbox_rows(db) == [("reply", "sent")]
    [row] = await inbox_rows(db)
    assert (row.status, row.person, row.payload) == ("done", None, None)  # only the event's key is kept
    again = await engine.receive(text("/start", "e1"))  # the platform delivers it again
    assert not again.pending and not again.fresh
    assert await inbox.drain(engine, {"console": sender}, inbox.person_of(ANN)) == 0


async def test_an_event_a_crash_left_unprocessed_is_processed_after_restart_in_order(
    db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    first = Engine(db, content, clock)
    for n, body in enumerate(["/start", "/help", "/today"]):
        await first.receive(text(body, f"e{n}"))  # durable, acknowledged... and then the process died
    first.close()
    restarted = Engine(db, content, clock)
    sender = Counting()
    stats = await tick(restarted, {"console": sender}, recover_after=timedelta(0))
    restarted.close()
    assert stats.recovered == 3
    texts = [r.text for _, r in sender.sent]
    assert "BackCoach" in texts[0]  # /start's welcome comes first: the order they were received in
    assert {r.status for r in await inbox_rows(db)} == {"done"}
    assert {status for _, status in await outbox_rows(db)} == {"sent"}


async def test_a_reply_committed_but_never_sent_goes_out_once_after_the_lease(
    db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    first = Engine(db, content, clock, lease=timedelta(seconds=30))
    await first.receive(text("/start", "e1"))
    processed = await first.process_next(inbox.person_of(ANN))  # committed: state, processed mark, reply row
    assert processed is not None and processed.ticket is not None
    first.leases.stop()  # ...and the process is killed before sending: nobody renews its lease
    first.close()
    restarted = Engine(db, content, clock, lease=timedelta(seconds=30))
    sender = Counting()
    await tick(restarted, {"console": sender})
    assert sender.sent == []  # still leased to the dead process
    clock.advance(timedelta(seconds=31))
    await tick(restarted, {"console": sender})
    await tick(restarted, {"console": sender})
    restarted.close()
    assert [r.text for _, r in sender.sent] == [r.text for r in processed.replies]
    assert await outbox_rows(db) == [("reply", "sent")]


async def test_a_tap_never_creates_a_person_and_delete_means_gone(
    engine: Engine, db: AsyncEngine, content: Content
) -> None:
    sender = Counting()
    person = inbox.person_of(ANN)
    await engine.receive(text("/start", "e1"))
    await inbox.drain(engine, {"console": sender}, person)
    agree = next(b.action for _, r in sender.sent for b in r.buttons if b.label == content.msg("button.agree"))
    await engine.receive(Inbound(ANN, InboundKind.BUTTON, action=agree, event_id="e1b"))
    await inbox.drain(engine, {"console": sender}, person)
    await engine.receive(text("/delete", "e2"))
    await inbox.drain(engine, {"console": sender}, person)
    yes = next(b.action for _, r in sender.sent for b in r.buttons if b.label.startswith("Yes, delete"))
    tap = Inbound(ANN, InboundKind.BUTTON, action=yes, event_id="e3")
    await engine.receive(tap)
    await inbox.drain(engine, {"console": sender}, person)
    assert "everything about you has been deleted" in sender.sent[-1][1].text
    async with db.connect() as conn:
        assert (await conn.execute(select(User.id))).all() == []
    # the confirming tap redelivered, and an old reminder's button tapped: nobody is created again
    assert not (await engine.receive(tap)).pending
    await engine.receive(Inbound(ANN, InboundKind.BUTTON, action="3:start", event_id="e4"))
    before = len(sender.sent)
    await inbox.drain(engine, {"console": sender}, person)
    assert len(sender.sent) == before
    async with db.connect() as conn:
        assert (await conn.execute(select(User.id))).all() == []
    assert all(r.person is None and r.payload is None for r in await inbox_rows(db))


async def test_an_event_id_with_a_nul_byte_or_of_any_length(engine: Engine, db: AsyncEngine) -> None:
    sender = Counting()
    for event_id in ("nul\x00byte", "x" * 5000, "ünïcødé"):
        assert (await engine.receive(text("/help", event_id))).fresh
        assert not (await engine.receive(text("/help", event_id))).fresh  # recognised
    assert await inbox.drain(engine, {"console": sender}, inbox.person_of(ANN)) == 3
    assert not (await engine.receive(text("/help", "nul\x00byte"))).pending
    replies = await engine.handle(text("/help", "direct\x00nul"))
    assert replies and await engine.handle(text("/help", "direct\x00nul")) == []


async def test_two_people_do_not_wait_for_each_other_and_each_keeps_order(engine: Engine) -> None:
    bob = UserRef("console", "", "bob", "chat-bob")
    sender = Counting()
    for n in range(3):
        await engine.receive(text("/help" if n else "/start", f"a{n}"))
        await engine.receive(text("/help" if n else "/start", f"b{n}", bob))
    assert await inbox.drain(engine, {"console": sender}, inbox.person_of(bob)) == 3
    assert {u.user_id for u, _ in sender.sent} == {"bob"}
    assert await inbox.drain(engine, {"console": sender}, inbox.person_of(ANN)) == 3
    ann = [r.text for u, r in sender.sent if u.user_id == "ann"]
    assert "BackCoach" in ann[0]


async def _erase(engine: Engine, content: Content, sender: Counting) -> Inbound:
    """Ann signs up and asks for /delete; returns her confirming tap, received but not yet processed."""
    person = inbox.person_of(ANN)
    await engine.receive(text("/start", "e1"))
    await inbox.drain(engine, {"console": sender}, person)
    agree = next(b.action for _, r in sender.sent for b in r.buttons if b.label == content.msg("button.agree"))
    await engine.receive(Inbound(ANN, InboundKind.BUTTON, action=agree, event_id="e1b"))
    await engine.receive(text("/delete", "e2"))
    await inbox.drain(engine, {"console": sender}, person)
    yes = next(b.action for _, r in sender.sent for b in r.buttons if b.label.startswith("Yes, delete"))
    tap = Inbound(ANN, InboundKind.BUTTON, action=yes, event_id="e3")
    await engine.receive(tap)
    return tap


async def farewell_rows(db: AsyncEngine) -> list[tuple[int | None, str, dict]]:
    async with db.connect() as conn:
        query = select(OutboxMessage.user_id, OutboxMessage.status, OutboxMessage.payload)
        return [tuple(r) for r in (await conn.execute(query)).all()]  # type: ignore[misc]


async def test_the_reply_to_an_erasure_is_durable_by_chat_id_alone_and_gone_once_sent(
    engine: Engine, db: AsyncEngine, content: Content
) -> None:
    sender = Counting()
    await _erase(engine, content, sender)
    processed = await engine.process_next(inbox.person_of(ANN))  # committed: erased, and the farewell row
    assert processed is not None and processed.ticket is not None
    async with db.connect() as conn:
        assert (await conn.execute(select(User.id))).all() == []
    [(user_id, status, payload)] = await farewell_rows(db)  # all the person's other rows went with them
    assert (user_id, status) == (None, "pending")
    assert payload["to"] == {"platform": "console", "workspace": "", "chat_id": "chat-ann"}  # no user id
    assert set(payload) == {"replies", "to"}
    assert content.msg("delete.done") in str(payload["replies"])
    assert await inbox.deliver_now(engine, sender, processed) == "sent"
    assert sender.sent[-1][0].chat_id == "chat-ann"
    assert content.msg("delete.done") in sender.sent[-1][1].text
    assert await farewell_rows(db) == []  # sent: nothing of the person is left


async def test_the_reply_to_an_erasure_survives_a_crash_and_goes_once(
    db: AsyncEngine, content: Content, clock: FakeClock
) -> None:
    first = Engine(db, content, clock, lease=timedelta(seconds=30))
    sender = Counting()
    await _erase(first, content, sender)
    processed = await first.process_next(inbox.person_of(ANN))  # committed ...
    assert processed is not None
    first.leases.stop()  # ... and killed before the send
    first.close()
    before = len(sender.sent)
    restarted = Engine(db, content, clock, lease=timedelta(seconds=30))
    await tick(restarted, {"console": sender})
    assert len(sender.sent) == before  # still leased to the dead process
    clock.advance(timedelta(seconds=31))
    await tick(restarted, {"console": sender})
    await tick(restarted, {"console": sender})
    restarted.close()
    farewells = [(u, r.text) for u, r in sender.sent[before:]]
    assert len(farewells) == 1 and content.msg("delete.done") in farewells[0][1]
    assert farewells[0][0].chat_id == "chat-ann"
    assert await farewell_rows(db) == []
    async with db.connect() as conn:
        assert (await conn.execute(select(User.id))).all() == []
