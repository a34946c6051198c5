"""Sending through the Bot API, with Telegram's errors mapped to the outbox's neutral ones.

Pacing is the outbox's job (scheduler/ratelimit.py); this module only sends and says what went wrong.
PTB's AIORateLimiter is deliberately not used: it pauses every request on one 429 (urgent advice
included) and does not space messages per private chat.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from adapters.live import LiveMessages, NoLiveMessages
from adapters.telegram_render import Outgoing, Texts, close, edit, escape, location_keyboard, render
from bot.flows.living import compose
from bot.types import Reply, ReplyKind, UserRef
from scheduler.sender import Blocked, RetryLater, SendError, TransientError

log = logging.getLogger(__name__)

GONE = ("chat not found", "user not found", "bot was kicked", "user is deactivated", "peer_id_invalid")
UNCHANGED = "message is not modified"  # an edit that changes nothing: already as wanted
UNEDITABLE = ("message to edit not found", "message can't be edited", "message_id_invalid")

Call = Callable[[str, Outgoing], Awaitable[Message | bool | None]]
Toast = Callable[[str], Awaitable[None]]


class Undelivered(Exception):
    """A batch stopped at `rest[0]`: `error` says why; the caller decides (outbox, skip, mark blocked)."""

    def __init__(self, rest: list[Reply], error: SendError) -> None:
        super().__init__(type(error).__name__)
        self.rest = rest
        self.error = error


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

    def __init__(self, bot: Bot, texts: Texts, live: LiveMessages | None = None) -> None:
        self.bot = bot
        self.texts = texts
        self.live: LiveMessages = live or NoLiveMessages()

    async def send(self, user: UserRef, replies: list[Reply]) -> None:
        try:
            await self.deliver(user, replies, self.call)
        except Undelivered as stopped:
            raise stopped.error from stopped

    async def deliver(self, user: UserRef, replies: list[Reply], call: Call, toast: Toast | None = None) -> None:
        """Send, edit and close as the replies' kinds say, then record which message is the live question.
        A toast goes to `toast` (the tap being answered); from the outbox, long after the tap, it is dropped."""
        start = await self.live.get(user)
        live = start
        batch = compose(replies)
        try:
            for index, reply in enumerate(batch):
                try:
                    live = await self._one(user.chat_id, reply, start, live, call, toast)
                except SendError as exc:
                    raise Undelivered(batch[index:], exc) from exc
        finally:
            if live != start:
                await self.live.set(user, live)

    async def _one(
        self, chat_id: str, reply: Reply, start: str | None, live: str | None, call: Call, toast: Toast | None
    ) -> str | None:
        """One reply; returns the live question's message id after it."""
        if reply.kind is ReplyKind.TOAST:
            if toast is not None:
                await toast(reply.text)
            return live
        if reply.kind is ReplyKind.CLOSE:
            target = reply.target or start
            if target and target.isdigit():
                try:
                    await call(chat_id, close(reply, int(target)))
                except (Unchanged, Uneditable):
                    pass
            return None if target == live else live
        if reply.kind is ReplyKind.EDIT and not reply.urgent:
            target = reply.target or live
            item = edit(reply, int(target)) if target and target.isdigit() else None
            if item is not None:
                try:
                    await call(chat_id, item)
                    live = target if reply.buttons else (None if target == live else live)
                except Unchanged:
                    live = target if reply.buttons else live
                except Uneditable:
                    item = None  # sent as a new message below
                if item is not None:
                    if reply.ask_location:  # a reply keyboard cannot be edited in: it comes as a message
                        share = self.texts.share_location
                        await call(chat_id, Outgoing("sendMessage", escape(share), location_keyboard(self.texts)))
                    return live
        for item in render(reply, self.texts):
            sent = await call(chat_id, item)
            if item.asks and isinstance(sent, Message):
                live = str(sent.message_id)
        return live

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
