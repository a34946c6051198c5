"""Telegram end to end at the HTTP level: the real python-telegram-bot (polling and webhook) talks to
adapters/testing/fake_telegram.py on 127.0.0.1, the real engine runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.telegram import SECRET_HEADER, TelegramAdapter, TelegramConfig
from adapters.telegram_render import escape
from adapters.testing.fake_telegram import (
    TOKEN,
    Call,
    FakeTelegram,
    Fault,
    Person,
    callback_update,
    onboard,
    private_chat,
    text_update,
)
from bot.engine import Engine
from bot.storage.models import ExerciseSession, ProcessedEvent, User
from bot.types import Reply, UserRef
from content.loader import Content
from scheduler import outbox

USER = 4242
CHAT = str(USER)


def answer_last(sent: list[Any]) -> list[Any]:
    """A tap is answered alongside its edits (adapters/telegram_send.py), so where answerCallbackQuery lands
    among them is up to the connections: the replies keep their order, the answer is put last to compare."""
    return [c for c in sent if c.method != "answerCallbackQuery"] + [
        c for c in sent if c.method == "answerCallbackQuery"
    ]


def config(fake: FakeTelegram, **overrides: Any) -> TelegramConfig:
    values: dict[str, Any] = {
        "token": TOKEN,
        "api_base_url": fake.url,
        "request_timeout": 1.0,
        "poll_timeout": 0.5,
        "inline_retry_wait": 1.0,
    }
    values.update(overrides)
    return TelegramConfig(**values)


@pytest.fixture
def fake(fake_tg: FakeTelegram) -> FakeTelegram:
    """The shared fake Bot API (tests/conftest.py), under this module's short name."""
    return fake_tg


@pytest.fixture
async def tg(fake: FakeTelegram, engine: Engine) -> AsyncIterator[TelegramAdapter]:
    adapter = TelegramAdapter(config(fake), engine)
    await adapter.start()
    yield adapter
    await adapter.stop()


@pytest.fixture
def person(fake: FakeTelegram, tg: TelegramAdapter) -> Person:
    return Person(fake, tg, USER)


async def user_row(engine: Engine, user_id: int = USER) -> User | None:
    async with engine.sessions() as s:
        query = select(User).where(User.platform == "telegram", User.platform_user_id == str(user_id))
        return (await s.execute(query)).scalar_one_or_none()


def assert_message(call: Call, text: str | None = None, buttons: list[tuple[str, str]] | None = None) -> None:
    assert call.method == "sendMessage"
    assert call.params["chat_id"] == CHAT
    assert call.params["parse_mode"] == "HTML"
    if text is not None:
        assert call.params["text"] == escape(text)
    if buttons is not None:
        assert call.buttons() == buttons


async def deliver_due(engine: Engine, fake: FakeTelegram, tg: TelegramAdapter, delta: timedelta) -> list[Call]:
    """Move the clock and run the outbox as the scheduler tick would, through the adapter's Sender."""
    engine.clock.advance(delta)  # type: ignore[attr-defined]
    mark = len(fake.calls)
    now = engine.clock.now()
    await outbox.run_due_events(engine, now)
    await outbox.send_due_messages(engine, {"telegram": tg.sender}, now)
    return fake.requests(mark)


async def test_start_registers_menu_and_polls(fake: FakeTelegram, tg: TelegramAdapter, content: Content) -> None:
    assert [c.method for c in fake.calls[:3]] == ["getMe", "setMyCommands", "deleteWebhook"]
    commands = fake.calls[1].params["commands"]
    assert [c["command"] for c in commands] == [
        "today",
        "symptoms",
        "activity",
        "history",
        "export",
        "settings",
        "pause",
        "resume",
        "stop",
        "delete",
        "help",
    ]
    assert commands[0]["description"] == content.msg("telegram.command.today")


async def test_onboarding_and_session_driven_by_updates(
    fake: FakeTelegram, tg: TelegramAdapter, person: Person, engine: Engine, content: Content
) -> None:
    sent = await person.say("/start@BackCoachBot ref-flyer")  # a deep link, with the bot's @name
    assert [c.method for c in sent] == ["sendMessage"]  # the welcome and the consent question: one message
    assert sent[0].params["text"].startswith(escape(content.msg("onboarding.welcome")))
    assert_message(
        sent[0], buttons=[(content.msg("button.agree"), "1:agree"), (content.msg("button.not_now"), "1:decline")]
    )
    consent_id = sent[0].message_id
    assert consent_id is not None

    sent = answer_last(await person.tap(content.msg("button.agree")))  # the same message becomes the first question
    assert [c.method for c in sent] == ["editMessageText", "answerCallbackQuery"]
    assert sent[0].params["message_id"] == str(consent_id)
    assert sent[0].params["text"].startswith(f"✓ <i>{escape(content.msg('button.agree'))}</i>")
    assert escape(content.safety.onboarding_screening[0].text) in sent[0].params["text"]
    assert sent[0].buttons() == [("Yes", "2:yes"), ("No", "2:no")]
    assert sent[1].params["callback_query_id"].endswith("1:agree") and "text" not in sent[1].params

    for index in range(1, len(content.safety.onboarding_screening)):
        sent = await person.tap("No")
        assert sent[0].method == "editMessageText" and sent[0].params["message_id"] == str(consent_id)
        assert escape(content.safety.onboarding_screening[index].text) in sent[0].params["text"]
        assert sent[0].buttons() == [("Yes", f"{index + 2}:yes"), ("No", f"{index + 2}:no")]
    await person.tap("No")
    await person.tap("All of them")
    sent = answer_last(await person.tap("07:00"))
    assert [c.method for c in sent] == ["editMessageText", "sendMessage", "answerCallbackQuery"]
    assert escape(content.msg("zone.ask")) in sent[0].params["text"]
    assert all(data.split(":", 2)[1] == "tz" for _, data in sent[0].buttons())
    assert sent[1].params["reply_markup"]["keyboard"] == [
        [{"text": content.msg("telegram.share_location_button"), "request_location": True}]
    ]

    sent = await person.share_location(52.52, 13.405)  # Berlin: a zone, worked out offline
    assert [c.method for c in sent] == ["sendMessage", "editMessageReplyMarkup"]  # the zone question's buttons go
    assert "Europe/Berlin" in sent[0].params["text"]
    user = await user_row(engine)
    assert user is not None and user.timezone == "Europe/Berlin" and user.reminder_time == "07:00"
    stored = json.dumps([user.profile, user.conversation])
    assert "52.5" not in stored and "13.4" not in stored  # the location itself is not kept

    await person.tap("Start a session")
    while "Yes" in person.labels():  # the pre-session check
        await person.tap("No")
    await person.tap("3")
    for _ in range(200):
        labels, text = person.labels(), person.texts()
        if "I'll message you in" in text:
            person.last = await deliver_due(engine, fake, tg, timedelta(seconds=41))
            assert person.sent(), "the hold timer must reach the user through the Sender"
        elif "Start" in labels and "Exercise" in text:
            await person.tap("Start")
        elif "Ready" in labels:
            await person.tap("Ready")
        elif "Done" in labels:
            await person.tap("Done")
        else:
            break
    assert "How is your back pain now" in person.texts()
    await person.tap("2")
    await person.tap("Fine")
    await person.tap("That's all")
    await person.tap("Log activity")
    await person.tap("20 min")
    await person.tap("5")
    assert "Session complete: 6 done, 0 skipped" in person.texts()
    async with engine.sessions() as s:
        row = (await s.execute(select(ExerciseSession))).scalar_one()
        assert (row.status, row.pain_before, row.pain_after) == ("completed", 3, 2)


async def test_red_flag_in_free_text_mid_session_is_answered_first(
    person: Person, engine: Engine, content: Content
) -> None:
    await onboard(person, content)
    await person.tap("Start a session")
    while "Yes" in person.labels():
        await person.tap("No")
    await person.tap("3")
    assert "Exercise 1 of" in person.texts()
    sent = await person.say("the pain shoots down my leg")
    assert sent[0].method == "sendMessage"
    assert sent[0].params["text"] == escape("⚠️ " + content.safety.rule("radiating").advice)
    assert not any(c.buttons() for c in sent)  # nothing to tap, no exercise buttons after it
    async with engine.sessions() as s:
        assert (await s.execute(select(ExerciseSession.status))).scalar_one() == "safety"


async def test_same_update_twice_is_handled_once(fake: FakeTelegram, person: Person, engine: Engine) -> None:
    update = text_update(USER, "/start")
    first = await person.send(update)
    assert [c.method for c in first] == ["sendMessage"]
    again = await person.send(dict(update))  # same update_id, as Telegram re-delivers
    assert again == []
    tap = callback_update(USER, person.button("I understand", first)[0], first[0].message_id or 0)
    await person.send(tap)
    assert "2:yes" in [d for _, d in person.last[0].buttons()]
    again = await person.send(dict(tap))
    assert not [c for c in again if c.method in {"sendMessage", "editMessageText"}]
    async with engine.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one() == 2
    user = await user_row(engine)
    assert user is not None and user.conversation["step"] == "screen" and user.conversation["ctx"]["screen"] == 0


async def test_forged_or_stale_callback_changes_nothing(person: Person, engine: Engine, content: Content) -> None:
    sent = await person.say("/start")
    consent = sent[0]
    before = await user_row(engine)
    assert before is not None
    for forged in ("99:agree", "agree", "1:", ":::", "x" * 64):
        calls = await person.send(callback_update(USER, forged, consent.message_id or 0, query_id=forged[:8]))
        toast = next(c for c in calls if c.method == "answerCallbackQuery")
        assert toast.params["text"] == content.msg("error.stale_button")  # said on the tap itself
        assert next(c for c in calls if c.method == "sendMessage").buttons()  # and the question asked again
        after = await user_row(engine)
        assert after is not None and after.profile == before.profile
        assert after.conversation["step"] == "consent"
    await person.tap(content.msg("button.agree"))
    moved = await person.send(callback_update(USER, "1:agree", consent.message_id or 0, query_id="old"))
    toast = next(c for c in moved if c.method == "answerCallbackQuery")
    assert toast.params["text"] == content.msg("error.stale_button")  # an old keyboard's button
    user = await user_row(engine)
    assert user is not None and user.conversation["step"] == "screen" and user.conversation["ctx"]["screen"] == 0


async def test_names_and_symbols_never_break_html(person: Person, content: Content) -> None:
    sent = await person.say("/<b>&_*😀")
    expected = escape(content.msg("error.unknown_command", command="/<b>&_*😀"))
    assert sent[0].params["text"].startswith(expected)
    assert "&lt;b&gt;&amp;_*😀" in expected


async def test_group_chat_is_told_private_only(
    fake: FakeTelegram, person: Person, engine: Engine, content: Content
) -> None:
    group = {"id": -100123, "type": "group", "title": "Back club"}
    sent = await person.send(text_update(USER, "/start", chat=group))
    assert [(c.method, c.params["chat_id"]) for c in sent] == [("sendMessage", "-100123")]
    assert sent[0].params["text"] == content.msg("telegram.private_only")
    bot_user = {"id": 123456, "is_bot": True, "first_name": "BackCoach", "username": "BackCoachBot"}
    added = {
        "chat": group,
        "from": {"id": USER, "is_bot": False, "first_name": "Ann"},
        "date": 1772434800,
        "old_chat_member": {"status": "left", "user": bot_user},
        "new_chat_member": {"status": "member", "user": bot_user},
    }
    sent = await person.send({"my_chat_member": added})
    assert [(c.method, c.params["chat_id"], c.params["text"]) for c in sent] == [
        ("sendMessage", "-100123", content.msg("telegram.private_only"))
    ]
    assert await user_row(engine) is None  # the core never ran


async def test_blocked_while_replying_marks_inactive_and_start_welcomes_back(
    fake: FakeTelegram, person: Person, engine: Engine, content: Content
) -> None:
    await onboard(person, content)
    fake.fail("sendMessage", Fault.blocked())
    await person.say("/history")
    user = await user_row(engine)
    assert user is not None and user.active is False
    sent = await person.send({"message": {**text_update(USER, "/start")["message"], "chat": private_chat(USER)}})
    assert sent[0].params["text"].startswith(escape(content.msg("start.welcome_back")))
    user = await user_row(engine)
    assert user is not None and user.active is True


async def test_a_short_429_is_sat_out_and_a_long_one_goes_to_the_outbox(
    fake: FakeTelegram, person: Person, engine: Engine, tg: TelegramAdapter, content: Content
) -> None:
    fake.fail("sendMessage", Fault.too_many(1))
    sent = await person.say("/start")
    assert [c.method for c in sent] == ["sendMessage", "sendMessage"]  # 429, then the reply
    assert sent[0].params == sent[1].params
    fake.fail("editMessageText", Fault.too_many(30))
    sent = answer_last(await person.tap(content.msg("button.agree")))
    assert [c.method for c in sent] == ["editMessageText", "answerCallbackQuery"]
    assert await deliver_due(engine, fake, tg, timedelta(seconds=29)) == []
    late = await deliver_due(engine, fake, tg, timedelta(seconds=2))
    assert [c.method for c in late] == ["editMessageText"]  # the outbox edits the same message later
    assert late[0].params["message_id"] == str(sent[0].params["message_id"])
    assert escape(content.safety.onboarding_screening[0].text) in late[0].params["text"]
    assert late[0].buttons() == [("Yes", "2:yes"), ("No", "2:no")]


async def test_webhook_checks_the_secret_token(fake: FakeTelegram, engine: Engine, content: Content) -> None:
    url = "https://bot.example.test/telegram/hook"
    adapter = TelegramAdapter(
        config(fake, webhook_url=url, webhook_secret="s3cret_token-1", listen="127.0.0.1", port=0), engine
    )
    await adapter.start()
    try:
        hook = next(c for c in fake.calls if c.method == "setWebhook")
        assert hook.params["url"] == url and hook.params["secret_token"] == "s3cret_token-1"
        assert hook.params["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
        endpoint = f"http://127.0.0.1:{adapter.webhook_port}/telegram/hook"
        update = {"update_id": 77, **text_update(USER, "/start")}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: "s3cret_token-"}):
                async with http.post(endpoint, json=update, headers=headers) as response:
                    assert response.status == 403
            assert not [c for c in fake.calls if c.method == "sendMessage"]
            assert await user_row(engine) is None
            async with http.post(endpoint, json=update, headers={SECRET_HEADER: "s3cret_token-1"}) as response:
                assert response.status == 200
            async with asyncio.timeout(20):
                await adapter.wait_handled(77)
        sent = [c for c in fake.calls if c.method == "sendMessage"]
        assert sent[0].params["text"].startswith(escape(content.msg("onboarding.welcome")))
    finally:
        await adapter.stop()


def test_webhook_mode_refuses_to_run_without_a_secret() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramConfig(token=TOKEN, webhook_url="https://bot.example.test/hook")
    with pytest.raises(ValueError):
        TelegramConfig(token=TOKEN, webhook_url="https://bot.example.test/hook", webhook_secret="has space")
    assert TOKEN not in repr(TelegramConfig(token=TOKEN))


async def test_a_transient_error_on_a_reply_is_retried_once_at_once(fake: FakeTelegram, person: Person) -> None:
    fake.fail("sendMessage", Fault.bad_gateway())
    sent = await person.say("/start")
    assert [c.method for c in sent] == ["sendMessage"] * 2
    assert sent[0].params == sent[1].params


async def test_blocking_the_bot_in_the_app_marks_inactive(fake: FakeTelegram, person: Person, engine: Engine) -> None:
    await person.say("/start")
    bot_user = {"id": 123456, "is_bot": True, "first_name": "BackCoach", "username": "BackCoachBot"}
    change = {
        "chat": private_chat(USER),
        "from": {"id": USER, "is_bot": False, "first_name": "Ann"},
        "date": 1772434800,
        "old_chat_member": {"status": "member", "user": bot_user},
        "new_chat_member": {"status": "kicked", "user": bot_user, "until_date": 0},
    }
    assert await person.send({"my_chat_member": change}) == []
    user = await user_row(engine)
    assert user is not None and user.active is False


async def test_backcoach_run_finds_the_adapter_from_the_environment(
    fake: FakeTelegram, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters import configured_adapters
    from bot.config import Settings

    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "TELEGRAM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.url)
    [adapter] = configured_adapters(Settings(_env_file=None), engine)  # type: ignore[call-arg]
    assert isinstance(adapter, TelegramAdapter) and adapter.platform == "telegram"
    await adapter.start()
    try:
        assert [c.method for c in fake.calls[:3]] == ["getMe", "setMyCommands", "deleteWebhook"]
        await adapter.sender.send(UserRef("telegram", "", "9", "9"), [Reply("hi")])
        assert fake.calls[-1].method == "sendMessage" and fake.calls[-1].params["chat_id"] == "9"
    finally:
        await adapter.stop()
