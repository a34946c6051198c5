"""Slack through slack-bolt's AsyncApp: DMs, Block Kit buttons, `/backcoach`, the App Home tab, OAuth.

Thin by design: events become `Inbound`, the engine decides, replies go back as Block Kit. Every listener
acks at once and hands the work to a tracked task (Slack wants an answer within 3 s and retries
otherwise; a retry is dropped by the engine's processed-events table, keyed on Slack's event id).

Modes, chosen by environment: Socket Mode when SLACK_APP_TOKEN is set (development), otherwise HTTP
(SLACK_SIGNING_SECRET; Bolt verifies every request). Single workspace with SLACK_BOT_TOKEN, or many
workspaces with SLACK_CLIENT_ID + SLACK_CLIENT_SECRET (OAuth; installations kept in our database).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from aiohttp import web
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from adapters import slack_modal, slack_store
from adapters import slack_render as render
from adapters.live import StoredLiveMessages
from adapters.slack_home import HOME_ACTION_PREFIX, home_summary, home_view, settings_values, wants_timezone_hint
from adapters.slack_send import SlackSender, Undelivered, deliver, map_error, open_dm
from bot.config import Settings
from bot.engine import Engine
from bot.flows import settings as settings_flow
from bot.storage import repository as repo
from bot.storage.models import User
from bot.types import Inbound, InboundKind, Reply, ReplyKind, UserRef
from bot.wire import replies_to_json

log = logging.getLogger(__name__)

PLATFORM = "slack"
COMMAND = "/backcoach"
BOT_SCOPES = ("chat:write", "commands", "files:write", "im:history", "im:write", "users:read")
DM_CACHE_MAX = 100_000
INTERACTIVE_RETRIES = 2  # 429s while answering someone who is waiting: retry in place (Retry-After)


class SlackOptions(BaseSettings):
    """Slack settings beyond the shared ones: OAuth credentials and the HTTP listener."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    client_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    redirect_uri: str | None = Field(default=None, validation_alias="SLACK_REDIRECT_URI")
    host: str = Field(default="0.0.0.0", validation_alias="SLACK_HTTP_HOST")
    port: int = Field(default=3000, validation_alias="SLACK_HTTP_PORT")
    path: str = Field(default="/slack/events", validation_alias="SLACK_EVENTS_PATH")


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def unescape(text: str) -> str:
    """Slack sends &, < and > in message text as entities; the core wants what the person typed."""
    return html.unescape(text) if "&" in text else text


def command_text(text: str) -> str:
    """`/backcoach pause 2 days` -> `/pause 2 days`; a bare `/backcoach` asks for help."""
    words = text.strip()
    if not words:
        return "/help"
    return words if words.startswith("/") else f"/{words}"


class SlackAdapter:
    """The PlatformAdapter for Slack."""

    platform = PLATFORM

    def __init__(
        self, engine: Engine, app: AsyncApp, sender: SlackSender, options: SlackOptions, app_token: str | None = None
    ) -> None:
        self.engine = engine
        self.app = app
        self.options = options
        self._sender = sender
        self._app_token = app_token
        self._tasks: set[asyncio.Task[None]] = set()
        self._dm: dict[tuple[str, str], str] = {}  # (workspace, user) -> DM channel, learnt from events
        self._turns: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}  # per-person lock and its users
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
        self.inline = False  # True under `backcoach serve`: see dispatch()
        _register(app, self)

    @property
    def sender(self) -> SlackSender:
        return self._sender

    # -- running -----------------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        """Bolt's aiohttp app: POST events/interactivity/commands; GET install and OAuth redirect."""
        return self.app.server(port=self.options.port, path=self.options.path, host=self.options.host).web_app

    @property
    def socket_mode(self) -> bool:
        return self._app_token is not None

    def asgi_handler(self) -> Any:
        """Bolt's Starlette request handler, listeners run inline (`backcoach serve`: a failure answers 500)."""
        from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

        self.inline = True
        return AsyncSlackRequestHandler(self.app)

    async def start(self) -> None:
        if self._app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            await self._socket.connect_async()
            log.info("slack started", extra={"platform": PLATFORM, "mode": "socket"})
            return
        self._runner = web.AppRunner(self.web_app())
        await self._runner.setup()
        await web.TCPSite(self._runner, self.options.host, self.options.port).start()
        log.info("slack started", extra={"platform": PLATFORM, "mode": "http", "port": self.options.port})

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.drain()

    async def drain(self) -> None:
        """Wait for in-flight events (used by stop, and by tests to know the work is done)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def dispatch(self, work: Coroutine[Any, Any, None]) -> None:
        """Spawn the work (Bolt's own server: ack now, work after), or, when `inline` (`backcoach serve`),
        do it before answering so a failure (the database is down) answers 500 and Slack retries."""
        if self.inline:
            await work
        else:
            self.spawn(work)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:  # logged without the message; the person can simply try again
            log.exception("slack event failed", extra={"platform": PLATFORM})

    # -- conversation --------------------------------------------------------------------------------

    async def dm_channel(self, client: AsyncWebClient, workspace: str, user_id: str) -> str:
        key = (workspace, user_id)
        if key not in self._dm:
            if len(self._dm) > DM_CACHE_MAX:
                self._dm.clear()  # a cache only: conversations.open answers again
            self._dm[key] = await open_dm(client, user_id)
        return self._dm[key]

    @asynccontextmanager
    async def turn(self, key: tuple[str, str]) -> AsyncIterator[None]:
        """One person's events are answered one after another, in arrival order (asyncio.Lock is FIFO),
        so the replies to two quick taps never interleave. The lock is dropped when nobody holds or wants it."""
        lock, users = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[key]
            if users == 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, users - 1)

    async def timezone_hint(self, client: AsyncWebClient, workspace: str, user_id: str) -> str | None:
        """Slack's `tz` for this person, fetched only when the event may start onboarding."""
        if not await wants_timezone_hint(self.engine, workspace, user_id):
            return None
        try:
            info = await client.users_info(user=user_id)
        except Exception:
            log.warning("users.info failed", extra={"platform": PLATFORM})
            return None
        tz = (info.get("user") or {}).get("tz")
        return tz if isinstance(tz, str) and tz else None

    async def converse(
        self,
        client: AsyncWebClient,
        ref: UserRef,
        kind: InboundKind,
        *,
        text: str = "",
        action: str = "",
        event_id: str | None = None,
        hint: bool = False,
        source: str = "",
        source_text: str = "",
        form: dict[str, str] | None = None,
    ) -> None:
        """One event through the engine, its replies posted, updated or closed at once (the outbox takes
        what Slack would not). `source` is the tapped message's ts, `source_text` its text."""
        async with self.turn((ref.workspace, ref.user_id)):
            tz = await self.timezone_hint(client, ref.workspace, ref.user_id) if hint else None
            inbound = Inbound(
                ref,
                kind,
                text=text,
                action=action,
                event_id=event_id,
                timezone_hint=tz,
                source=source,
                form=form or {},
            )
            replies = [
                replace(r, text=source_text) if r.kind is ReplyKind.CLOSE and r.target == source and not r.text else r
                for r in render.order_for_sending(await self.engine.handle(inbound))
            ]

            async def toast(words: str) -> None:
                await client.chat_postEphemeral(channel=ref.chat_id, user=ref.user_id, text=render.escape(words))

            try:
                await deliver(client, ref, ref.chat_id, replies, self._sender.live, toast=toast)
            except Undelivered as stopped:
                await self.defer(ref, stopped.rest, event_id)
                log.warning(
                    "slack reply deferred to the outbox",
                    extra={"platform": PLATFORM, "error": type(map_error(stopped.error)).__name__},
                )

    async def defer(self, ref: UserRef, replies: list[Reply], event_id: str | None) -> None:
        """Replies Slack would not take right now (rate limit, outage) go to the outbox, which retries them:
        the state change is already committed, so dropping them would leave the person without an answer."""
        now = self.engine.clock.now()
        key = f"slack-reply:{ref.workspace}:{event_id or uuid.uuid4().hex}"[:128]
        async with self.engine.writer(), self.engine.sessions() as session, session.begin():
            user_id = (
                await session.execute(
                    select(User.id).where(
                        User.platform == PLATFORM, User.workspace == ref.workspace, User.platform_user_id == ref.user_id
                    )
                )
            ).scalar_one()
            payload = {"replies": replies_to_json(replies)}
            await session.run_sync(repo.enqueue, user_id, "message", key, payload, now, now)


def _team(body: dict[str, Any], context: AsyncBoltContext) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    return str(team or context.team_id or "")


def _register(app: AsyncApp, adapter: SlackAdapter) -> None:
    """Bolt listeners: each acks at once (Bolt acks events itself) and spawns the real work."""

    @app.event("message")
    async def on_message(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, deletions, joins, bot messages and other channels are not part of the conversation
        text = unescape(str(event.get("text") or ""))
        kind = InboundKind.COMMAND if text.startswith("/") else InboundKind.TEXT
        ref = UserRef(PLATFORM, _team(body, context), str(event["user"]), str(event["channel"]))
        adapter._dm[(ref.workspace, ref.user_id)] = ref.chat_id
        await adapter.dispatch(adapter.converse(client, ref, kind, text=text, event_id=body.get("event_id"), hint=True))

    @app.action(re.compile(f"^{render.ACTION_ID_PREFIX}\\d+$"))
    async def on_button(ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await ack()
        await adapter.dispatch(_tapped(adapter, body, context, client))

    @app.action(re.compile(f"^{HOME_ACTION_PREFIX}(today|pause|settings)$"))
    async def on_home_button(ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await ack()
        await adapter.dispatch(_home_tapped(adapter, body, context, client))

    @app.view(slack_modal.CALLBACK_ID)
    async def on_settings_saved(
        ack: Any, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        form = slack_modal.form_of(view)
        errors = settings_flow.form_errors(form, adapter.engine.content)
        if errors:  # shown under the fields; the modal stays open
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await adapter.dispatch(_submitted(adapter, body, view, context, client, form))

    @app.command(COMMAND)
    async def on_command(ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await ack()
        await adapter.dispatch(_commanded(adapter, body, context, client))

    @app.event("app_home_opened")
    async def on_home(
        event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        if event.get("tab") == "home":
            await adapter.dispatch(_publish_home(adapter, client, _team(body, context), str(event["user"])))


async def _tapped(
    adapter: SlackAdapter, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    action = body["actions"][0]
    user_id = str(body["user"]["id"])
    workspace = _team(body, context)
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message = body.get("message") or {}
    chat = channel or await adapter.dm_channel(client, workspace, user_id)
    ref = UserRef(PLATFORM, workspace, user_id, str(chat))
    await adapter.converse(
        client,
        ref,
        InboundKind.BUTTON,
        action=str(action.get("value") or ""),
        event_id=f"action:{user_id}:{action.get('action_ts')}",
        source=str(container.get("message_ts") or ""),
        source_text=unescape(str(message.get("text") or "")),
    )


async def _commanded(
    adapter: SlackAdapter, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    user_id = str(body["user_id"])
    workspace = _team(body, context)
    channel = str(body.get("channel_id") or "")
    if channel and not channel.startswith("D"):  # typed in a channel: the answer is private, in the DM
        try:
            pointer = adapter.engine.content.msg("slack.channel_pointer")
            await client.chat_postEphemeral(channel=channel, user=user_id, text=pointer)
        except Exception:  # the bot may not be in that channel; the DM still answers
            log.info("ephemeral pointer not posted", extra={"platform": PLATFORM})
    words = command_text(str(body.get("text") or ""))
    if words.split()[0].lower() == "/settings" and await _open_settings(adapter, client, workspace, user_id, body):
        return
    chat = await adapter.dm_channel(client, workspace, user_id)
    ref = UserRef(PLATFORM, workspace, user_id, chat)
    await adapter.converse(
        client,
        ref,
        InboundKind.COMMAND,
        text=command_text(str(body.get("text") or "")),
        event_id=f"command:{body.get('trigger_id')}",
        hint=True,
    )


async def _open_settings(
    adapter: SlackAdapter, client: AsyncWebClient, workspace: str, user_id: str, body: dict[str, Any]
) -> bool:
    """The settings modal, filled in; False (the DM's settings questions instead) before onboarding."""
    values = await settings_values(adapter.engine, workspace, user_id)
    trigger = body.get("trigger_id")
    if values is None or not trigger:
        return False
    await client.views_open(trigger_id=trigger, view=slack_modal.settings_modal(values, adapter.engine.content))
    return True


async def _home_tapped(
    adapter: SlackAdapter, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    """App Home's buttons: start now and pause run in the DM like their commands; settings opens the modal."""
    what = str(body["actions"][0]["action_id"]).removeprefix(HOME_ACTION_PREFIX)
    user_id = str(body["user"]["id"])
    workspace = _team(body, context)
    if what == "settings" and await _open_settings(adapter, client, workspace, user_id, body):
        return
    chat = await adapter.dm_channel(client, workspace, user_id)
    await adapter.converse(
        client,
        UserRef(PLATFORM, workspace, user_id, chat),
        InboundKind.BUTTON,
        action=f"g:g.{what}",
        event_id=f"home:{user_id}:{body['actions'][0].get('action_ts')}",
        hint=True,
    )


async def _submitted(
    adapter: SlackAdapter,
    body: dict[str, Any],
    view: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    form: dict[str, str],
) -> None:
    user_id = str(body["user"]["id"])
    workspace = _team(body, context)
    chat = await adapter.dm_channel(client, workspace, user_id)
    await adapter.converse(
        client,
        UserRef(PLATFORM, workspace, user_id, chat),
        InboundKind.FORM,
        form=form,
        event_id=f"view:{view.get('id')}:{view.get('hash')}",
    )
    await _publish_home(adapter, client, workspace, user_id)


async def _publish_home(adapter: SlackAdapter, client: AsyncWebClient, workspace: str, user_id: str) -> None:
    summary = await home_summary(adapter.engine, workspace, user_id)
    await client.views_publish(user_id=user_id, view=home_view(summary, adapter.engine.content))


def _web_client(token: str | None, base_url: str | None, *, retry_429: bool) -> AsyncWebClient:
    kwargs: dict[str, Any] = {"token": token}
    if base_url:
        kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    client = AsyncWebClient(**kwargs)
    if retry_429:
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=INTERACTIVE_RETRIES))
    return client


def _quiet_sdk_debug_logs() -> None:
    """slack_bolt and slack_sdk log whole payloads (message text) at DEBUG: never let that reach our logs."""
    for name in ("slack_bolt", "slack_sdk"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def build_slack(settings: Settings, engine: Engine, options: SlackOptions | None = None) -> SlackAdapter:
    """The Slack adapter for `backcoach run`: token mode with SLACK_BOT_TOKEN, OAuth mode otherwise."""
    options = options or SlackOptions()
    _quiet_sdk_debug_logs()
    bot_token = _secret(settings.slack_bot_token)
    app_token = _secret(settings.slack_app_token)
    signing_secret = _secret(settings.slack_signing_secret) or ""
    if not app_token and not signing_secret:
        raise ValueError("Slack needs SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)")
    client = _web_client(bot_token, settings.slack_api_url, retry_429=True)
    outbox_client = _web_client(None, settings.slack_api_url, retry_429=False)
    common: dict[str, Any] = {
        "name": "backcoach",
        "signing_secret": signing_secret,
        "client": client,
        "process_before_response": True,  # listeners only ack and spawn, so this answers at once
        "request_verification_enabled": not app_token,  # Socket Mode requests carry no signature
    }
    if bot_token:
        app = AsyncApp(**common)

        async def static_token(_workspace: str) -> str | None:
            return bot_token

        sender = SlackSender(outbox_client, static_token, StoredLiveMessages(engine))
    else:
        if not options.client_id or not options.client_secret:
            raise ValueError("Slack needs SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for OAuth")
        store = slack_store.installation_store(options.client_id, engine.db)
        oauth = AsyncOAuthSettings(
            client_id=options.client_id,
            client_secret=options.client_secret.get_secret_value(),
            scopes=list(BOT_SCOPES),
            redirect_uri=options.redirect_uri,
            installation_store=store,
            state_store=slack_store.state_store(engine.db),
        )
        # Bolt's default authorize calls auth.test on every event; cached, it is asked once per token.
        authorize = AsyncInstallationStoreAuthorize(
            installation_store=store,
            client_id=options.client_id,
            client_secret=options.client_secret.get_secret_value(),
            logger=logging.getLogger("slack_bolt.authorize"),
            bot_only=True,
            cache_enabled=True,
            client=client,
        )
        app = AsyncApp(  # Bolt takes an AsyncAuthorize here too, though its hint names only the callable form
            **common,
            oauth_settings=oauth,
            authorize=authorize,  # type: ignore[arg-type]
            installation_store_bot_only=True,
        )
        app.enable_token_revocation_listeners()

        async def stored_token(workspace: str) -> str | None:
            bot = await store.async_find_bot(enterprise_id=None, team_id=workspace)
            return bot.bot_token if bot else None

        sender = SlackSender(outbox_client, stored_token, StoredLiveMessages(engine))
    return SlackAdapter(engine, app, sender, options, app_token=app_token)
