"""Telegram rendering and parsing without a network: escaping, limits, keyboards, update -> Inbound,
and the per-person ordering of concurrent updates (PTB's own update-processor hook)."""

from __future__ import annotations

import asyncio
import html

from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update

from adapters.telegram import PerUserOrder, find_zone
from adapters.telegram_render import (
    CALLBACK_LIMIT,
    CAPTION_LIMIT,
    TEXT_LIMIT,
    Texts,
    callback_data,
    render,
    split_text,
    to_inbound,
)
from adapters.testing.fake_telegram import callback_update, location_update, text_update
from bot.types import Attachment, Button, InboundKind, Reply

TEXTS = Texts(share_location="Or share your location", share_location_button="📍 Share location")


def update(data: dict, update_id: int = 5) -> Update:
    return Update.de_json({"update_id": update_id, **data}, None)


def test_text_is_escaped_for_html_and_symbols_survive() -> None:
    [out] = render(Reply("Ann <3 & _x_ *y* `z` 😀"), TEXTS)
    assert (out.method, out.text) == ("sendMessage", "Ann &lt;3 &amp; _x_ *y* `z` 😀")
    assert isinstance(out.markup, ReplyKeyboardRemove)


def test_urgent_advice_is_marked() -> None:
    [out] = render(Reply("Call 999 now.", urgent=True), TEXTS)
    assert out.text == "⚠️ Call 999 now."


def test_long_text_is_split_under_the_limit_and_keeps_every_character() -> None:
    text = "\n".join(f"• day {i}: <walk> & stretch" for i in range(400)) + "\n" + "&" * 5000
    outs = render(Reply(text, buttons=(Button("OK", "3:ok"),)), TEXTS)
    assert len(outs) > 2
    assert all(len(o.text) <= TEXT_LIMIT for o in outs)
    assert html.unescape("\n".join(o.text for o in outs)).replace("\n", "") == text.replace("\n", "")
    assert [isinstance(o.markup, InlineKeyboardMarkup) for o in outs] == [False] * (len(outs) - 1) + [True]
    assert split_text("") == ["…"]


def test_callback_data_never_exceeds_64_bytes_nor_splits_a_character() -> None:
    assert callback_data("12:tz:America/Argentina/Buenos_Aires") == "12:tz:America/Argentina/Buenos_Aires"
    long = "7:pick:" + "é" * 40
    cut = callback_data(long)
    assert len(cut.encode()) <= CALLBACK_LIMIT and long.startswith(cut)
    [out] = render(Reply("Pick", buttons=(Button("É", long),)), TEXTS)
    assert isinstance(out.markup, InlineKeyboardMarkup)
    assert out.markup.inline_keyboard[0][0].callback_data == cut


def test_buttons_are_laid_out_by_label_length() -> None:
    scale = tuple(Button(str(n), f"4:pain:{n}") for n in range(11))
    [out] = render(Reply("Pain?", buttons=scale), TEXTS)
    assert isinstance(out.markup, InlineKeyboardMarkup)
    assert [len(row) for row in out.markup.inline_keyboard] == [6, 5]
    [out] = render(
        Reply("Plan?", buttons=(Button("Only the ones my medical team recommended", "p"), Button("All of them", "a"))),
        TEXTS,
    )
    assert isinstance(out.markup, InlineKeyboardMarkup)
    assert [len(row) for row in out.markup.inline_keyboard] == [1, 1]


def test_ask_location_adds_a_share_location_keyboard_after_the_inline_one() -> None:
    outs = render(Reply("Which zone?", buttons=(Button("London", "5:tz:Europe/London"),), ask_location=True), TEXTS)
    assert [o.method for o in outs] == ["sendMessage", "sendMessage"]
    assert isinstance(outs[0].markup, InlineKeyboardMarkup)
    assert isinstance(outs[1].markup, ReplyKeyboardMarkup)
    assert outs[1].markup.keyboard[0][0].request_location is True
    assert outs[1].markup.one_time_keyboard is True


def test_media_carry_the_caption_unless_it_is_too_long() -> None:
    chart = Attachment("week.png", "image/png", b"png")
    outs = render(Reply("Your week", image=chart, buttons=(Button("OK", "g:ok"),)), TEXTS)
    assert [(o.method, o.text) for o in outs] == [("sendPhoto", "Your week")]
    assert isinstance(outs[0].markup, InlineKeyboardMarkup) and outs[0].file is chart
    outs = render(Reply("x" * (CAPTION_LIMIT + 1), image=chart), TEXTS)
    assert [(o.method, bool(o.text)) for o in outs] == [("sendMessage", True), ("sendPhoto", False)]


def test_updates_become_neutral_events() -> None:
    def nowhere(latitude: float, longitude: float) -> str | None:
        raise AssertionError("only locations need a zone")

    command = to_inbound(update(text_update(7, "/today@BackCoachBot now"), 41), nowhere)
    assert command is not None
    assert (command.kind, command.text, command.event_id) == (InboundKind.COMMAND, "/today now", "tg:41")
    assert (command.user.platform, command.user.user_id, command.user.chat_id) == ("telegram", "7", "7")
    text = to_inbound(update(text_update(7, "my leg is tingling")), nowhere)
    assert text is not None and (text.kind, text.text) == (InboundKind.TEXT, "my leg is tingling")
    tap = to_inbound(update(callback_update(7, "3:yes", 12)), nowhere)
    assert tap is not None and (tap.kind, tap.action) == (InboundKind.BUTTON, "3:yes")


def test_a_location_becomes_a_zone_offline() -> None:
    place = to_inbound(update(location_update(7, 40.71, -74.0)), find_zone)
    assert place is not None
    assert (place.kind, place.text, place.timezone_hint) == (InboundKind.TEXT, "", "America/New_York")
    assert find_zone(-33.87, 151.21) == "Australia/Sydney"


async def test_updates_run_concurrently_across_people_in_order_per_person() -> None:
    processor = PerUserOrder(8)
    gate = asyncio.Event()
    done: list[str] = []

    async def work(name: str, wait: bool = False) -> None:
        if wait:
            await gate.wait()
        done.append(name)

    tasks = [
        asyncio.create_task(processor.process_update(update(text_update(1, "a"), 1), work("ann-1", wait=True))),
        asyncio.create_task(processor.process_update(update(text_update(1, "b"), 2), work("ann-2"))),
        asyncio.create_task(processor.process_update(update(text_update(2, "c"), 3), work("bob-1"))),
    ]
    async with asyncio.timeout(60):  # bounds a hang only
        await processor.wait_handled(3)
        assert done == ["bob-1"]  # Bob is not held up by Ann's slow update, and Ann's second waits
        gate.set()
        await asyncio.gather(*tasks)
    assert done == ["bob-1", "ann-1", "ann-2"]
