"""Sending through the Bot API, with Telegram's errors mapped to the outbox's neutral ones.

Pacing is the outbox's job (scheduler/ratelimit.py); this module only sends and says what went wrong.
PTB's AIORateLimiter is deliberately not used: it pauses every request on one 429 (urgent advice
included) and does not space messages per private chat.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from adapters.live import LiveMessages, NoLiveMessages, Taps
from adapters.telegram_render import Outgoing, Texts, close, edit, escape, location_keyboard, render
from bot.flows.living import compose_indexed
from bot.types import Reply, ReplyKind, UserRef
from scheduler.sender import Blocked, OnSent, RetryLater, SendError, Sent, TransientError

log = logging.getLogger(__name__)

GONE = ("chat not found", "user not found", "bot was kicked", "user is deactivated", "peer_id_invalid")
UNCHANGED = "message is not modified"  # an edit that changes nothing: already as wanted
UNEDITABLE = ("message to edit not found", "message can't be edited", "message_id_invalid")


def seconds_of(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int or a timedelta depending on PTB_TIMEDELTA; accept both."""
    with warnings.catch_warnings():  # the property warns about its future type; both types are handled
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def neutral_error(exc: TelegramError) -> SendError:
    """Map one Telegram error to what the outbox should do about it (retry later, back off, stop)."""
    if isinstance(exc, RetryAfter):
        return RetryLater(seconds_of(exc))
    if isinstance(exc, Forbidden):
        return Blocked("blocked")
    if isinstance(exc, BadRequest):  # a BadRequest is a NetworkError in PTB: check it first
        if any(marker in exc.message.lower() for marker in GONE):
            return Blocked("chat gone")
        if UNCHANGED in exc.message.lower():
            return Unchanged("unchanged")
        if any(marker in exc.message.lower() for marker in UNEDITABLE):
            return Uneditable("uneditable")
        return SendError("bad request")  # retrying will not fix it; the outbox gives up after its attempts
    if isinstance(exc, NetworkError):  # includes TimedOut and 5xx responses
        return TransientError(type(exc).__name__)
    return SendError(type(exc).__name__)


class Unchanged(SendError):
    """An edit to what the message already shows: nothing to do."""


class Uneditable(SendError):
    """The message is gone or too old to edit (48 hours): send a new one instead."""


class TelegramSender:
    """The outbox's Telegram sender (and the adapter's, for interactive replies). Needs the bot initialised
    (the adapter's start() does that)."""

    platform = "telegram"

    def __init__(self, bot: Bot, texts: Texts, live: LiveMessages | None = None, taps: Taps | None = None) -> None:
        self.bot = bot
        self.texts = texts
        self.live: LiveMessages = live or NoLiveMessages()
        self.taps = taps or Taps()

    async def send(self, user: UserRef, replies: list[Reply], on_sent: OnSent | None = None) -> None:
        """Send, edit and close as the replies' kinds say (one path, interactive or from the outbox), calling
        `on_sent` for each reply the platform took, with the id of the message that carries it; the live
        question's id follows from those ids and is recorded at the end. A toast reaches the tap this process
        is answering (`taps`); from the outbox, long after the tap, it is dropped."""
        answering = self._answer_tap(user, replies)
        start = await self.live.get(user)
        live = start
        try:
            for reply, indexes in compose_indexed(replies):
                live, message_id = await self._one(user, reply, start, live)
                if on_sent is not None:
                    for index in indexes:
                        on_sent(Sent(index, message_id))
        finally:
            if live != start:
                await self.live.set(user, live)
            if answering is not None:
                await answering

    def _answer_tap(self, user: UserRef, replies: list[Reply]) -> asyncio.Task[None] | None:
        """The tap this process is answering gets its answer (the replies' toast, or none) alongside the
        edits, not after them: the button's spinner stops while the question changes."""
        tap = self.taps.get(user)
        if tap is None or tap.answered:
            return None
        toast = next((r.text for r in replies if r.kind is ReplyKind.TOAST), "")
        return asyncio.create_task(_quietly(tap.say(toast)))

    async def _one(
        self, user: UserRef, reply: Reply, start: str | None, live: str | None
    ) -> tuple[str | None, str | None]:
        """One reply; returns the live question's message id after it, and the id of the message it made or
        edited (None for a toast or a close)."""
        chat_id = user.chat_id
        if reply.kind is ReplyKind.TOAST:
            tap = self.taps.get(user)
            if tap is not None:
                await tap.say(reply.text)
            return live, None
        if reply.kind is ReplyKind.CLOSE:
            target = reply.target or start
            if target and target.isdigit():
                try:
                    await self.call(chat_id, close(reply, int(target)))
                except (Unchanged, Uneditable):
                    pass
            return (None if target == live else live), None
        if reply.kind is ReplyKind.EDIT and not reply.urgent:
            target = reply.target or live
            item = edit(reply, int(target)) if target and target.isdigit() else None
            if item is not None and target is not None:
                try:
                    await self.call(chat_id, item)
                    live = target if reply.buttons else (None if target == live else live)
                except Unchanged:
                    live = target if reply.buttons else live
                except Uneditable:
                    item = None  # sent as a new message below
                if item is not None:
                    if reply.ask_location:  # a reply keyboard cannot be edited in: it comes as a message
                        share = self.texts.share_location
                        await self.call(chat_id, Outgoing("sendMessage", escape(share), location_keyboard(self.texts)))
                    return live, target
        message_id: str | None = None
        for item in render(reply, self.texts):
            sent = await self.call(chat_id, item)
            if isinstance(sent, Message):  # the last message of a reply is the one carrying its buttons
                message_id = str(sent.message_id)
                if item.asks:
                    live = message_id
        return live, message_id

    async def call(self, chat_id: str, item: Outgoing) -> Message | bool | None:
        """One Bot API call, raising a neutral SendError on failure."""
        try:
            return await self._call(chat_id, item)
        except TelegramError as exc:
            error = neutral_error(exc)
            if not isinstance(error, Unchanged):
                log.info("telegram send failed", extra={"method": item.method, "error": type(error).__name__})
            raise error from exc

    async def _call(self, chat_id: str, item: Outgoing) -> Message | bool | None:
        parse_mode = ParseMode.HTML if item.text else None
        if item.method == "answerCallbackQuery":
            assert item.query_id is not None
            return await self.bot.answer_callback_query(item.query_id, text=item.text or None)
        inline = item.markup if isinstance(item.markup, InlineKeyboardMarkup) else None
        if item.method == "editMessageText":
            return await self.bot.edit_message_text(
                item.text, chat_id, item.message_id, parse_mode=ParseMode.HTML, reply_markup=inline
            )
        if item.method == "editMessageReplyMarkup":
            return await self.bot.edit_message_reply_markup(chat_id, item.message_id, reply_markup=None)
        if item.file is None:
            return await self.bot.send_message(chat_id, item.text, parse_mode=parse_mode, reply_markup=item.markup)
        upload = InputFile(item.file.data, filename=item.file.filename)
        caption = item.text or None
        if item.method == "sendPhoto":
            return await self.bot.send_photo(
                chat_id, upload, caption=caption, parse_mode=parse_mode, reply_markup=item.markup
            )
        return await self.bot.send_document(
            chat_id, upload, caption=caption, parse_mode=parse_mode, reply_markup=item.markup
        )


async def _quietly(answer: Coroutine[Any, Any, None]) -> None:
    """A tap's answer is cosmetic: its failure must not fail the replies (they are what the row holds)."""
    try:
        await answer
    except Exception as exc:
        log.debug("tap answer failed", extra={"error": type(exc).__name__})
