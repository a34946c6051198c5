"""A session is a few living messages on Telegram and Slack, counted at the HTTP level.

The real PTB and slack-bolt code talk to the fake servers; tests/native_journeys.py replays what the
person's phone shows. `pytest tests/test_native_messages.py -s` prints the figures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.slack import SlackOptions, build_slack
from adapters.telegram import TelegramAdapter
from adapters.testing.fake_slack import FakeSlack
from adapters.testing.fake_telegram import FakeTelegram, Person
from adapters.testing.slack_client import serve, slack_settings
from bot.engine import Engine
from content.loader import Content
from tests.adapters.native_journeys import Driver, SlackDriver, TelegramDriver, full_session, mixed_journey
from tests.adapters.slack_fixtures import fake_slack  # noqa: F401  (fixture `fake`)
from tests.adapters.test_telegram import config

TG_USER = 4242
TEAM, SLACK_USER = "T1", "U1"


@pytest.fixture
async def telegram(fake_tg: FakeTelegram, engine: Engine) -> AsyncIterator[TelegramDriver]:
    adapter = TelegramAdapter(config(fake_tg), engine)
    await adapter.start()
    try:
        yield TelegramDriver(fake_tg, Person(fake_tg, adapter, TG_USER), engine, adapter.sender)
    finally:
        await adapter.stop()


@pytest.fixture
async def slack(engine: Engine, fake: FakeSlack) -> AsyncIterator[SlackDriver]:
    adapter = build_slack(slack_settings(fake, SLACK_BOT_TOKEN="xoxb-one"), engine, SlackOptions(_env_file=None))
    async for side in serve(adapter, fake):
        yield SlackDriver(side, fake, engine, TEAM, SLACK_USER)


async def onboard_telegram(driver: TelegramDriver, content: Content) -> None:
    await driver.say("/start")
    await driver.tap(content.msg("button.agree"))
    while "Yes" in driver.labels():
        await driver.tap("No")
    await driver.tap("All of them")
    await driver.tap("07:00")
    await driver.share_location(51.5074, -0.1278)  # London, shared from the phone
    assert "Europe/London" in driver.texts(), driver.texts()


async def onboard_slack(driver: SlackDriver, content: Content) -> None:
    await driver.say("hello")
    await driver.tap(content.msg("button.agree"))
    while "Yes" in driver.labels() and "No" in driver.labels() and "Europe/" not in driver.texts():
        await driver.tap("No")
    await driver.tap("All of them")
    await driver.tap("07:00")
    await driver.tap("Yes")  # Slack's own time zone, offered as the hint
    assert "all set" in driver.texts().lower(), driver.texts()


def report(platform: str, what: str, driver: Driver, counts: object) -> None:
    print(f"\n{platform} {what}: {counts}; stale live keyboards: {len(driver.stale_keyboards())}")


async def test_telegram_full_session_counted(telegram: TelegramDriver, content: Content) -> None:
    await onboard_telegram(telegram, content)
    counts = await full_session(telegram)
    report("telegram", "full session", telegram, counts)
    assert counts.messages <= 15 < counts.edits  # a few living messages; the rest are edits in place
    assert not telegram.stale_keyboards()


async def test_slack_full_session_counted(slack: SlackDriver, content: Content) -> None:
    await onboard_slack(slack, content)
    counts = await full_session(slack)
    report("slack", "full session", slack, counts)
    assert counts.messages <= 15 < counts.edits  # a few living messages; the rest are edits in place
    assert not slack.stale_keyboards()


async def test_telegram_mixed_journey_leaves_no_stale_keyboard(telegram: TelegramDriver, content: Content) -> None:
    await onboard_telegram(telegram, content)
    await mixed_journey(telegram)
    report("telegram", "mixed journey", telegram, telegram.counts)
    assert telegram.counts.edits > 0
    assert not telegram.stale_keyboards(), telegram.stale_keyboards()


async def test_slack_mixed_journey_leaves_no_stale_keyboard(slack: SlackDriver, content: Content) -> None:
    await onboard_slack(slack, content)
    await mixed_journey(slack)
    report("slack", "mixed journey", slack, slack.counts)
    assert slack.counts.edits > 0
    assert not slack.stale_keyboards(), slack.stale_keyboards()


async def test_telegram_toast_colours_and_typing(
    telegram: TelegramDriver, fake_tg: FakeTelegram, content: Content
) -> None:
    await onboard_telegram(telegram, content)
    await telegram.say("/settings")
    await telegram.tap(content.msg("settings.days"))
    mark = len(fake_tg.calls)
    await telegram.tap(content.msg("days.weekdays"))
    answers = [c for c in fake_tg.requests(mark) if c.method == "answerCallbackQuery"]
    assert [a.params.get("text") for a in answers] == [content.msg("toast.saved")]  # a setting changed: a toast

    await telegram.say("/today")
    while "Yes" in telegram.labels():
        await telegram.tap("No")
    await telegram.tap("3")
    await telegram.tap("Start")
    markup = telegram.person.fake.shown[max(telegram.shown, key=lambda m: telegram.shown[m].order)][1]
    styles = {b["text"]: b.get("style") for row in markup["inline_keyboard"] for b in row}
    assert styles == {"Done": "success", "Skip": None, "This hurts": "danger"}  # labels say it without colour

    mark = len(fake_tg.calls)
    await telegram.say("/stop")
    await telegram.say("/export")
    methods = fake_tg.methods(mark)
    assert "sendChatAction" in methods and methods.index("sendChatAction") < methods.index("sendDocument")
    assert fake_tg.requests(mark)[methods.index("sendChatAction")].params["action"] == "typing"


def help_lines(shown: str) -> list[str]:
    return [line.strip() for line in shown.splitlines() if line.strip().startswith("•")]


async def test_help_is_a_short_list_on_telegram(telegram: TelegramDriver, content: Content) -> None:
    """Issue 12: /help was one run-on paragraph. Each command is a line of its own, as the person sees it."""
    await telegram.say("/help")
    lines = help_lines(telegram.texts())
    assert len(lines) == content.msg("help.commands").count("•") and len(lines) >= 8
    assert lines[0].startswith("• /today") and all(len(line) < 90 for line in lines)


async def test_help_is_a_short_list_on_slack(slack: SlackDriver, content: Content) -> None:
    await slack.say("/help")
    lines = help_lines(slack.texts())
    assert len(lines) == content.msg("help.commands").count("•") and len(lines) >= 8
    assert lines[0].startswith("• /backcoach today") and all(len(line) < 100 for line in lines)
