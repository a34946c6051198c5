"""Sending through the Bot API, with Telegram's errors mapped to the outbox's neutral ones.

Pacing is the outbox's job (scheduler/ratelimit.py); this module only sends and says what went wrong.
PTB's AIORateLimiter is deliberately not used: it pauses every request on one 429 (urgent advice
included) and does not space messages per private chat.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from adapters.telegram_render import Outgoing, Texts, render
from bot.types import Reply, UserRef
from scheduler.sender import Blocked, OnSent, RetryLater, SendError, Sent, TransientError

log = logging.getLogger(__name__)

GONE = ("chat not found", "user not found", "bot was kicked", "user is deactivated", "peer_id_invalid")


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
        return SendError("bad request")  # retrying will not fix it; the outbox gives up after its attempts
    if isinstance(exc, NetworkError):  # includes TimedOut and 5xx responses
        return TransientError(type(exc).__name__)
    return SendError(type(exc).__name__)


class TelegramSender:
    """The outbox's Telegram sender. Needs the bot initialised (the adapter's start() does that)."""

    platform = "telegram"

    def __init__(self, bot: Bot, texts: Texts) -> None:
        self.bot = bot
        self.texts = texts

    async def send(self, user: UserRef, replies: list[Reply], on_sent: OnSent | None = None) -> None:
        for index, reply in enumerate(replies):
            message_id: int | None = None
            for item in render(reply, self.texts):
                message_id = await self.call(user.chat_id, item)
            if on_sent is not None:  # the last message of a reply is the one carrying its buttons
                on_sent(Sent(index, str(message_id) if message_id is not None else None))

    async def call(self, chat_id: str, item: Outgoing) -> int | None:
        """One Bot API call, raising a neutral SendError on failure; returns the new message's id."""
        try:
            return await self._call(chat_id, item)
        except TelegramError as exc:
            error = neutral_error(exc)
            log.info("telegram send failed", extra={"method": item.method, "error": type(error).__name__})
            raise error from exc

    async def _call(self, chat_id: str, item: Outgoing) -> int | None:
        parse_mode = ParseMode.HTML if item.text else None
        if item.file is None:
            message = await self.bot.send_message(chat_id, item.text, parse_mode=parse_mode, reply_markup=item.markup)
            return message.message_id
        upload = InputFile(item.file.data, filename=item.file.filename)
        caption = item.text or None
        if item.method == "sendPhoto":
            message = await self.bot.send_photo(
                chat_id, upload, caption=caption, parse_mode=parse_mode, reply_markup=item.markup
            )
        else:
            message = await self.bot.send_document(
                chat_id, upload, caption=caption, parse_mode=parse_mode, reply_markup=item.markup
            )
        return message.message_id
