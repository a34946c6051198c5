"""The Telegram Sender against the fake Bot API: each platform error mapped to the neutral one, and
handled by the real outbox (retry later, back off, or stop sending to someone who blocked us)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from telegram import Bot

from adapters.telegram import texts_of
from adapters.telegram_http import AiohttpRequest
from adapters.telegram_send import TelegramSender
from adapters.testing.fake_telegram import TOKEN, FakeTelegram, Fault
from bot.engine import Engine
from bot.storage import repository as repo
from bot.storage.models import OutboxMessage, User
from bot.types import Attachment, Button, Inbound, InboundKind, Reply, UserRef
from bot.wire import replies_to_json
from content.loader import Content
from scheduler import outbox
from scheduler.sender import Blocked, RetryLater, SendError, TransientError

ANN = UserRef("telegram", "", "4242", "4242")
TIMEOUT = 3.0  # the bot's timeouts: a loaded machine answers a loopback call within it; Fault.slow waits longer


@pytest.fixture
def fake(fake_tg: FakeTelegram) -> FakeTelegram:
    """The shared fake Bot API (tests/conftest.py), under this module's short name."""
    return fake_tg


@pytest.fixture
async def sender(fake: FakeTelegram, content: Content) -> AsyncIterator[TelegramSender]:
    # the adapter's own transport (adapters/telegram_http.py), so the error mapping is checked through it
    request = AiohttpRequest(read_timeout=TIMEOUT, write_timeout=TIMEOUT, connect_timeout=TIMEOUT)
    bot = Bot(TOKEN, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot", request=request)
    async with bot:
        yield TelegramSender(bot, texts_of(content))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.too_many(7), RetryLater),
        (Fault.bad_gateway(), TransientError),
        (Fault.slow(TIMEOUT * 2), TransientError),
        (Fault.blocked(), Blocked),
        (Fault(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}), Blocked),
        (Fault(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"}), SendError),
    ],
    ids=["429", "502", "timeout", "403-blocked", "400-chat-gone", "400-other"],
)
async def test_telegram_errors_become_neutral_ones(
    fake: FakeTelegram, sender: TelegramSender, fault: Fault, expected: type[SendError]
) -> None:
    fake.fail("sendMessage", fault)
    with pytest.raises(SendError) as raised:
        await sender.send(ANN, [Reply("hello")])
    assert type(raised.value) is expected
    if isinstance(raised.value, RetryLater):
        assert raised.value.retry_after == 7
    await sender.send(ANN, [Reply("hello")])  # the fault was one-off: the next send goes through
    assert [c.method for c in fake.calls] == ["getMe", "sendMessage", "sendMessage"]


async def _queue_message(engine: Engine, text: str) -> int:
    """A telegram user (created through the engine) with one due outbox message."""
    now = engine.clock.now()
    await engine.handle(Inbound(ANN, InboundKind.COMMAND, text="/start", event_id="tg:1"))
    async with engine.sessions() as s, s.begin():
        user_id = (await s.execute(select(User.id))).scalar_one()
        payload = {"replies": replies_to_json([Reply(text)])}
        await s.run_sync(repo.enqueue, user_id, "message", "note:1", payload, now, now)
        return (await s.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == "note:1"))).scalar_one()


async def _row(engine: Engine, row_id: int) -> OutboxMessage:
    async with engine.sessions() as s:
        return (await s.execute(select(OutboxMessage).where(OutboxMessage.id == row_id))).scalar_one()


@pytest.mark.parametrize(
    ("fault", "error", "wait", "attempts"),
    [
        (Fault.too_many(7), "429", 7, 0),  # the platform pacing us is not a failed attempt: exactly retry_after
        (Fault.bad_gateway(), "TransientError", None, 1),  # backoff: the outbox's schedule
        (Fault.slow(TIMEOUT * 2), "TransientError", None, 1),
    ],
    ids=["429", "502", "timeout"],
)
async def test_outbox_retries_what_telegram_refused_for_now(
    fake: FakeTelegram,
    sender: TelegramSender,
    engine: Engine,
    fault: Fault,
    error: str,
    wait: int | None,
    attempts: int,
) -> None:
    row_id = await _queue_message(engine, "Time for <your> exercises & a walk_*")
    now = engine.clock.now()
    fake.fail("sendMessage", fault)
    assert await outbox.send_due_messages(engine, {"telegram": sender}, now) == 0
    row = await _row(engine, row_id)
    assert (row.status, row.last_error, row.attempts) == ("pending", error, attempts)
    backoff = timedelta(seconds=wait) if wait is not None else outbox.backoff(row.attempts)
    assert row.not_before == now + backoff > now
    early = row.not_before - timedelta(milliseconds=1)
    assert await outbox.send_due_messages(engine, {"telegram": sender}, early) == 0
    assert await outbox.send_due_messages(engine, {"telegram": sender}, row.not_before) == 1
    assert (await _row(engine, row_id)).status == "sent"
    sends = [c for c in fake.calls if c.method == "sendMessage"]
    assert len(sends) == 2
    assert sends[-1].params["text"] == "Time for &lt;your&gt; exercises &amp; a walk_*"
    assert sends[-1].params["parse_mode"] == "HTML"


async def test_outbox_stops_for_someone_who_blocked_the_bot(
    fake: FakeTelegram, sender: TelegramSender, engine: Engine, content: Content
) -> None:
    row_id = await _queue_message(engine, "Time for your exercises")
    fake.fail("sendMessage", Fault.blocked())
    assert await outbox.send_due_messages(engine, {"telegram": sender}, engine.clock.now()) == 0
    row = await _row(engine, row_id)
    assert (row.status, row.last_error) == ("dropped", "blocked")
    async with engine.sessions() as s:
        assert (await s.execute(select(User.active))).scalar_one() is False
    replies = await engine.handle(Inbound(ANN, InboundKind.COMMAND, text="/start", event_id="tg:2"))
    assert replies  # they came back: welcomed as usual, and reminders may reach them again
    async with engine.sessions() as s:
        assert (await s.execute(select(User.active))).scalar_one() is True


async def test_images_and_documents_go_out_as_photo_and_document(fake: FakeTelegram, sender: TelegramSender) -> None:
    png = b"\x89PNG\r\n\x1a\nfake-chart"
    await sender.send(
        ANN,
        [
            Reply(
                "Your week <so far>", image=Attachment("week.png", "image/png", png), buttons=(Button("OK", "g:ok"),)
            ),
            Reply("Your record", document=Attachment("history.csv", "text/csv", b"date,minutes\n")),
        ],
    )
    photo, document = fake.calls[1:]
    assert photo.method == "sendPhoto" and photo.params["chat_id"] == "4242"
    assert photo.params["caption"] == "Your week &lt;so far&gt;" and photo.params["parse_mode"] == "HTML"
    assert photo.buttons() == [("OK", "g:ok")]
    assert list(photo.files.values()) == [("week.png", png)]
    assert document.method == "sendDocument" and document.params["caption"] == "Your record"
    assert list(document.files.values()) == [("history.csv", b"date,minutes\n")]
