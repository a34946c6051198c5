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
from telegram import BotCommand, CallbackQuery, Update
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ContextTypes, TypeHandler

from adapters.base import ConversationAdapter
from adapters.live import StoredLiveMessages, Tap
from adapters.telegram_http import AiohttpRequest
from adapters.telegram_render import PLATFORM, Outgoing, Texts, is_private, to_inbound
from adapters.telegram_send import TelegramSender
from bot.config import telegram_api_root
from bot.engine import Engine
from bot.flows.dispatch import wants_records
from bot.types import UserRef
from content.loader import Content
from scheduler.sender import RetryLater, SendError, TransientError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # an update is a few kilobytes; anything larger is refused while it is read
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
_SECRET_OK = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token
# A few warm connections carry the bot's sends (30/s at most, each a short round trip); updates beyond that
# wait for a connection, not for Telegram. (Under httpx the pool's per-request walk over its connections,
# encode/httpcore#1035, made a large pool expensive; adapters/telegram_http.py replaced it with aiohttp.)
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


def parse_update(body: bytes | Any, bot: Any) -> Update | None:
    """An update from a webhook body, or None when it is not one (malformed JSON, `[]`, `"x"`,
    `{"message": 5}`): answered 400 without a traceback, and nothing of it logged."""
    try:
        data = json.loads(body) if isinstance(body, bytes | bytearray | str) else body
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return None
        return Update.de_json(data, bot)
    except Exception:
        return None


def forged_chat(update: Update) -> bool:
    """In a private chat the chat's id is the person's id: an update that says otherwise could only be
    forged (it would point someone else's conversation at another chat), so it is ignored."""
    chat, user = update.effective_chat, update.effective_user
    return chat is not None and user is not None and chat.type == "private" and chat.id != user.id


class TelegramAdapter(ConversationAdapter):
    """A `PlatformAdapter`: Telegram updates in, neutral events through the engine, replies out."""

    platform = PLATFORM

    def __init__(self, config: TelegramConfig, engine: Engine) -> None:
        super().__init__(engine)
        self.config = config
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
                AiohttpRequest(
                    connection_pool_size=SEND_POOL_SIZE,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    connect_timeout=timeout,
                    pool_timeout=timeout,
                )
            )
            .get_updates_request(
                AiohttpRequest(
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
        self._stopping = True
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.app.running:
            await self.app.stop()
        await self.drain()  # events admitted to the background under overload (the rest stay in the inbox)
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

    def secret_ok(self, secret_token: str) -> bool:
        secret = (self.config.webhook_secret or "").encode()
        ok = bool(secret) and hmac.compare_digest(secret_token.encode(), secret)
        if not ok:
            log.warning("telegram webhook refused: wrong or missing secret token")
        return ok

    async def handle_webhook(self, body: bytes, secret_token: str) -> int:
        """One webhook POST; returns the HTTP status. The update is answered once it is durable (in the
        inbox) and, normally, handled and replied to. Only a failure to make it durable answers 500, so
        Telegram delivers it again; a failure after that is the runner's recovery to finish."""
        if not self.secret_ok(secret_token):
            return 403
        update = parse_update(body, self.app.bot)
        if update is None:
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
        server = web.Application(client_max_size=MAX_BODY)
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
        """`backcoach run`'s own webhook: a body over the limit is refused while it is read (aiohttp's
        client_max_size), before the secret is even looked at; then as `handle_webhook`."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413)
        status = await self.handle_webhook(body, request.headers.get(SECRET_HEADER, ""))
        return web.Response(status=status)

    # --- one update -------------------------------------------------------------------------------

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.my_chat_member is not None:
            await self._on_membership(update)
            return
        if not is_private(update):
            await self._refuse_group(update)
            return
        if forged_chat(update):
            log.warning("telegram update refused: chat and sender differ in a private chat")
            return
        query = update.callback_query
        inbound = to_inbound(update, find_zone)
        if inbound is None:
            if query is not None:
                await self._answer(query, "")
            return
        if wants_records(inbound):  # an export or the history takes a moment: say the bot is on it
            await self._typing(inbound.user.chat_id)
        # Durable before the work; in polling mode a database error is retried until it is, since getUpdates
        # confirms the update whatever we do. A tap is answered with the replies' toast while it is being
        # processed here (the sender finds it in `taps`), or silently once the work is done or has failed.
        tap = Tap(lambda text: self._answer(query, text)) if query is not None else None
        if tap is not None:
            self._sender.taps.open(inbound.user, tap)
        try:
            # at once (one transaction receives and processes), or after the answer under overload
            await self.converse(inbound, persist=self.app.updater is not None)
        finally:
            if tap is not None:
                self._sender.taps.close(inbound.user, tap)
                await tap.say("")

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

    async def _answer(self, query: CallbackQuery | None, text: str) -> None:
        """answerCallbackQuery stops the button's spinner; a transient failure is tried once more, then let
        go (the person's answer has already been handled)."""
        if query is None:
            return
        item = Outgoing("answerCallbackQuery", text, query_id=query.id)
        for attempt in range(2):
            try:
                await self._sender.call(str(query.from_user.id), item)
                return
            except (RetryLater, TransientError) as exc:
                if attempt:
                    log.debug("answerCallbackQuery failed", extra={"error": type(exc).__name__})
                    return
                await asyncio.sleep(min(exc.retry_after, 1.0) if isinstance(exc, RetryLater) else 0.2)
            except SendError as exc:
                log.debug("answerCallbackQuery failed", extra={"error": type(exc).__name__})
                return

    async def _set_inactive(self, ref: UserRef) -> None:
        await self.engine.mark_blocked(ref)
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
