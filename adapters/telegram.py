"""Telegram through python-telegram-bot 22: PTB parses updates and sends; our engine owns the conversation.

Long polling when TELEGRAM_WEBHOOK_URL is unset (development, one process per token); otherwise a
small aiohttp webhook that checks Telegram's secret-token header (production, any number of processes).
No ConversationHandler, persistence or JobQueue: state lives in our database (see DESIGN.md).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import traceback
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy import select
from telegram import BotCommand, CallbackQuery, Message, Update
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from adapters.live import StoredLiveMessages
from adapters.telegram_render import PLATFORM, Outgoing, Texts, is_private, to_inbound
from adapters.telegram_send import TelegramSender, Undelivered
from bot.config import telegram_api_root
from bot.engine import Engine
from bot.flows.dispatch import wants_records
from bot.storage import repository as repo
from bot.storage.models import User
from bot.types import Inbound, Reply, UserRef
from bot.wire import replies_to_json
from content.loader import Content
from scheduler.sender import Blocked, RetryLater, SendError, TransientError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
_SECRET_OK = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token
# httpcore's pool assignment costs connections x (connections + queued requests) per request
# (encode/httpcore#1035): a few warm connections carry the bot's sends (30/s at most, each a short round
# trip) at a fraction of the CPU that 64 cost. Updates beyond that wait for a connection, not for Telegram.
SEND_POOL_SIZE = 8


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    api_base_url: str | None = None  # a self-hosted Bot API server's root, e.g. http://localhost:8081
    listen: str = "0.0.0.0"
    port: int = 8443
    request_timeout: float = 10.0
    poll_timeout: float = 30.0  # long-poll seconds per getUpdates
    inline_retry_wait: float = 5.0  # longest 429 an interactive reply sits out before going to the outbox

    def __post_init__(self) -> None:
        if self.webhook_url and not (self.webhook_secret and _SECRET_OK.match(self.webhook_secret)):
            raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -")

    def __repr__(self) -> str:  # never print the token or the secret
        return f"TelegramConfig(webhook={bool(self.webhook_url)}, api_base_url={self.api_base_url!r})"


@cache
def _finder() -> Any:
    from timezonefinder import TimezoneFinder

    return TimezoneFinder()


def find_zone(latitude: float, longitude: float) -> str | None:
    """Offline coordinates -> IANA zone; nothing leaves the process and nothing is stored."""
    return _finder().timezone_at(lng=longitude, lat=latitude)


def texts_of(content: Content) -> Texts:
    return Texts(
        share_location=content.msg("telegram.share_location"),
        share_location_button=content.msg("telegram.share_location_button"),
    )


def command_menu(content: Content) -> list[BotCommand]:
    return [
        BotCommand("today", content.msg("telegram.command.today")),
        BotCommand("symptoms", content.msg("telegram.command.symptoms")),
        BotCommand("activity", content.msg("telegram.command.activity")),
        BotCommand("history", content.msg("telegram.command.history")),
        BotCommand("export", content.msg("telegram.command.export")),
        BotCommand("settings", content.msg("telegram.command.settings")),
        BotCommand("pause", content.msg("telegram.command.pause")),
        BotCommand("resume", content.msg("telegram.command.resume")),
        BotCommand("stop", content.msg("telegram.command.stop")),
        BotCommand("delete", content.msg("telegram.command.delete")),
        BotCommand("help", content.msg("telegram.command.help")),
    ]


class PerUserOrder(BaseUpdateProcessor):
    """Updates run concurrently across people but strictly in arrival order for each person.

    PTB starts one task per update in arrival order; each takes its person's FIFO lock before running,
    so one slow person never holds up the polling loop or anyone else.
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._done: deque[int] = deque(maxlen=4096)
        self._changed = asyncio.Condition()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        try:
            if user is None:
                await coroutine
                return
            lock = self._locks.setdefault(user.id, asyncio.Lock())
            self._waiting[user.id] = self._waiting.get(user.id, 0) + 1
            try:
                async with lock:
                    await coroutine
            finally:
                self._waiting[user.id] -= 1
                if not self._waiting[user.id]:
                    del self._waiting[user.id], self._locks[user.id]
        finally:
            if isinstance(update, Update):
                async with self._changed:
                    self._done.append(update.update_id)
                    self._changed.notify_all()

    async def wait_handled(self, update_id: int) -> None:
        """Until this update has been fully handled (replies sent): lets tests and tools sync up."""
        async with self._changed:
            await self._changed.wait_for(lambda: update_id in self._done)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class TelegramAdapter:
    """A `PlatformAdapter`: Telegram updates in, neutral events through the engine, replies out."""

    platform = PLATFORM

    def __init__(self, config: TelegramConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.texts = texts_of(engine.content)
        self.processor = PerUserOrder()
        self.app: Application = self._build_application()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.app.add_error_handler(self._on_error)
        self._sender = TelegramSender(self.app.bot, self.texts, StoredLiveMessages(engine))
        self._runner: web.AppRunner | None = None
        self.webhook_port: int | None = None

    def _build_application(self) -> Application:
        cfg = self.config
        timeout = cfg.request_timeout
        builder = (
            ApplicationBuilder()
            .token(cfg.token)
            .request(
                HTTPXRequest(
                    connection_pool_size=SEND_POOL_SIZE,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    connect_timeout=timeout,
                    pool_timeout=timeout,
                )
            )
            .get_updates_request(
                HTTPXRequest(
                    connection_pool_size=2, read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout
                )
            )
            .concurrent_updates(self.processor)
            .job_queue(None)
        )
        if cfg.api_base_url:
            root = telegram_api_root(cfg.api_base_url)  # ".../bot" (PTB's own form) or the server's root
            builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
        if cfg.webhook_url:
            builder = builder.updater(None)
        return builder.build()

    @property
    def sender(self) -> TelegramSender:
        return self._sender

    async def start(self) -> None:
        await self.app.initialize()  # getMe: fails fast on a wrong token
        await self.app.bot.set_my_commands(command_menu(self.engine.content))
        await self.app.start()
        if self.config.webhook_url:
            await self._start_webhook()
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(
                timeout=timedelta(seconds=self.config.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        log.info("telegram adapter running", extra={"mode": "webhook" if self.config.webhook_url else "polling"})

    async def stop(self) -> None:
        """Stop receiving first, then let in-flight updates finish (Application.stop awaits them)."""
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def wait_handled(self, update_id: int) -> None:
        await self.processor.wait_handled(update_id)

    # --- inside another web server (`backcoach serve`) ----------------------------------------------

    async def start_hosted(self) -> None:
        """Connect (getMe, command menu) and register the webhook, but listen nowhere: the host's ASGI app
        passes each POST to `handle_webhook`. Several processes may all register the same URL."""
        await self.app.initialize()
        await self.app.bot.set_my_commands(command_menu(self.engine.content))
        if self.config.webhook_url and self.config.webhook_secret:
            await self.app.bot.set_webhook(
                self.config.webhook_url,
                secret_token=self.config.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        log.info("telegram adapter hosted", extra={"mode": "webhook"})

    async def handle_webhook(self, body: bytes, secret_token: str) -> int:
        """One webhook POST, handled before it is answered; returns the HTTP status. A failure (the database
        is down) answers 500 so Telegram delivers the update again; the engine's processed-events table
        drops the repeat if the first attempt did commit. Per-person arrival order is kept as in polling."""
        secret = (self.config.webhook_secret or "").encode()
        if not secret or not hmac.compare_digest(secret_token.encode(), secret):
            log.warning("telegram webhook refused: wrong or missing secret token")
            return 403
        try:
            update = Update.de_json(json.loads(body), self.app.bot)
        except (ValueError, TypeError, KeyError):
            return 400
        try:
            await self.processor.do_process_update(update, self._on_update(update, None))  # type: ignore[arg-type]
        except Exception as exc:
            await self._on_error(update, _ErrorContext(exc))  # type: ignore[arg-type]
            return 500
        return 200

    # --- webhook ----------------------------------------------------------------------------------

    async def _start_webhook(self) -> None:
        cfg = self.config
        assert cfg.webhook_url and cfg.webhook_secret
        server = web.Application()
        server.router.add_post(urlparse(cfg.webhook_url).path or "/", self._on_webhook)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.listen, cfg.port)
        await site.start()
        self.webhook_port = self._runner.addresses[0][1]
        await self.app.bot.set_webhook(
            cfg.webhook_url,
            secret_token=cfg.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """Only Telegram knows the secret; anything else is refused before it is even parsed."""
        secret = (self.config.webhook_secret or "").encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not secret or not hmac.compare_digest(given, secret):
            log.warning("telegram webhook refused: wrong or missing secret token")
            return web.Response(status=403)
        try:
            update = Update.de_json(await request.json(), self.app.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400)
        await self.app.update_queue.put(update)
        return web.Response()

    # --- one update -------------------------------------------------------------------------------

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.my_chat_member is not None:
            await self._on_membership(update)
            return
        if not is_private(update):
            await self._refuse_group(update)
            return
        query = update.callback_query
        inbound = to_inbound(update, self.engine.clock.now(), find_zone)
        if inbound is None:
            if query is not None:
                await self._answer(query, "")
            return
        if wants_records(inbound):  # an export or the history takes a moment: say the bot is on it
            await self._typing(inbound.user.chat_id)
        try:
            replies = await self.engine.handle(inbound)
        except BaseException:
            if query is not None:  # the spinner still stops; Telegram's redelivery is the retry
                await self._answer(query, "")
            raise
        await self._deliver(inbound, replies, query)

    async def _typing(self, chat_id: str) -> None:
        try:
            await self.app.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as exc:  # cosmetic
            log.debug("sendChatAction failed", extra={"error": type(exc).__name__})

    async def _refuse_group(self, update: Update) -> None:
        """BackCoach talks about health: it works in private chats only, and never runs the core here."""
        try:
            if update.callback_query is not None:
                await update.callback_query.answer()
            elif update.effective_chat is not None:
                await self.app.bot.send_message(
                    update.effective_chat.id, self.engine.content.msg("telegram.private_only")
                )
        except TelegramError as exc:
            log.debug("group reply failed", extra={"error": type(exc).__name__})

    async def _on_membership(self, update: Update) -> None:
        """The person blocked the bot (status "kicked" in their private chat): stop sending to them."""
        change = update.my_chat_member
        if change is None:
            return
        if change.chat.type != "private":  # added to a group: say once where it works, then stay quiet
            if change.new_chat_member.status in {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR}:
                await self._refuse_group(update)
            return
        if change.new_chat_member.status == ChatMemberStatus.BANNED:
            ref = UserRef(PLATFORM, "", str(change.from_user.id), str(change.chat.id))
            await self._set_inactive(ref)

    async def _deliver(self, inbound: Inbound, replies: list[Reply], query: CallbackQuery | None = None) -> None:
        """Send in order, at once. Short 429s are sat out; what still fails goes to the outbox. A tap is
        answered with the replies' toast, if any (retried like any send), or silently."""
        answered = False

        async def toast(text: str) -> None:
            nonlocal answered
            if query is not None and not answered:
                answered = True
                await self._answer(query, text)

        rest = replies
        while rest:
            try:
                await self._sender.deliver(inbound.user, rest, self._send_with_retry, toast)
                rest = []
            except Undelivered as stopped:
                if isinstance(stopped.error, Blocked):
                    await self._set_inactive(inbound.user)
                    break
                if isinstance(stopped.error, RetryLater | TransientError):
                    await self._to_outbox(inbound, stopped.rest, stopped.error)
                    break
                log.warning("telegram reply not sent", extra={"error": type(stopped.error).__name__})
                rest = stopped.rest[1:]
        if query is not None and not answered:
            await self._answer(query, "")

    async def _answer(self, query: CallbackQuery, text: str) -> None:
        """answerCallbackQuery stops the button's spinner; a failure is retried once, then let go (the
        person's answer has already been handled)."""
        try:
            await self._send_with_retry(
                str(query.from_user.id), Outgoing("answerCallbackQuery", text, query_id=query.id)
            )
        except SendError as exc:
            log.debug("answerCallbackQuery failed", extra={"error": type(exc).__name__})

    async def _send_with_retry(self, chat_id: str, item: Outgoing) -> Message | bool | None:
        for attempt in range(2):
            try:
                return await self._sender.call(chat_id, item)
            except RetryLater as exc:
                if attempt or exc.retry_after > self.config.inline_retry_wait:
                    raise
                await asyncio.sleep(exc.retry_after)
            except TransientError:
                if attempt:
                    raise
                await asyncio.sleep(0.5)
        return None

    async def _to_outbox(self, inbound: Inbound, rest: list[Reply], exc: SendError) -> None:
        """Replies Telegram would not take now are not lost: the outbox retries them with backoff."""
        now = self.engine.clock.now()
        wait = exc.retry_after if isinstance(exc, RetryLater) else 2.0
        async with self.engine.writer(), self.engine.sessions() as session, session.begin():
            user_id = await _user_id(session, inbound.user)
            if user_id is not None:
                await session.run_sync(
                    repo.enqueue,
                    user_id,
                    "message",
                    f"late:{inbound.event_id}",
                    {"replies": replies_to_json(rest)},
                    now + timedelta(seconds=wait),
                    now,
                )
        log.info("telegram replies queued for retry", extra={"count": len(rest), "error": type(exc).__name__})

    async def _set_inactive(self, ref: UserRef) -> None:
        async with self.engine.writer(), self.engine.sessions() as session, session.begin():
            user_id = await _user_id(session, ref)
            if user_id is not None:
                await session.run_sync(repo.mark_inactive, user_id)
        log.info("telegram user blocked the bot; marked inactive")

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log where it broke, never what was said: exception messages may quote the user's text."""
        error = context.error
        where = traceback.extract_tb(error.__traceback__)[-1] if error and error.__traceback__ else None
        log.error(
            "telegram update failed",
            extra={
                "error": type(error).__name__,
                "where": f"{where.filename}:{where.lineno}" if where else "",
            },
        )


@dataclass(frozen=True)
class _ErrorContext:
    """What `_on_error` reads from PTB's context, for errors raised outside PTB's own dispatch."""

    error: BaseException


async def _user_id(session: Any, ref: UserRef) -> int | None:
    query = select(User.id).where(
        User.platform == ref.platform, User.workspace == ref.workspace, User.platform_user_id == ref.user_id
    )
    return (await session.execute(query)).scalar_one_or_none()


def build_telegram(settings: Settings, engine: Engine) -> TelegramAdapter:
    """The adapter `backcoach run` starts, configured from the environment only."""
    assert settings.telegram_bot_token is not None
    secret = settings.telegram_webhook_secret
    config = TelegramConfig(
        token=settings.telegram_bot_token.get_secret_value(),
        webhook_url=settings.telegram_webhook_url or None,
        webhook_secret=secret.get_secret_value() if secret else None,
        api_base_url=settings.telegram_api_base_url or None,
        listen=os.environ.get("TELEGRAM_WEBHOOK_LISTEN", "0.0.0.0"),
        port=int(os.environ.get("TELEGRAM_WEBHOOK_PORT", "8443")),
    )
    for noisy in ("httpx", "httpcore"):  # their INFO lines print request URLs, which contain the token
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.INFO)  # PTB's DEBUG lines print whole updates and the URL
    return TelegramAdapter(config, engine)
