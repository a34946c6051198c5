"""Slack through slack-bolt's AsyncApp: DMs, Block Kit buttons, `/backcoach`, the App Home tab, OAuth.

Thin by design: events become `Inbound`, the engine decides, replies go back as Block Kit. Every listener
writes the event to the inbox and acks (Slack wants an answer within 3 s, whatever the work or the Web
API's speed, and retries otherwise; a retry is dropped by the inbox, keyed on Slack's event id); the work,
Web API calls included (users.info, chat.update), runs after the ack in a tracked task (adapters/base.py).

Modes, chosen by environment: Socket Mode when SLACK_APP_TOKEN is set (development), otherwise HTTP
(SLACK_SIGNING_SECRET; Bolt verifies every request). Single workspace with SLACK_BOT_TOKEN, or many
workspaces with SLACK_CLIENT_ID + SLACK_CLIENT_SECRET (OAuth; installations kept in our database).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Coroutine
from typing import Any

from aiohttp import web
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from adapters import slack_store
from adapters.base import ConversationAdapter
from adapters.slack_home import home_summary, home_view, wants_timezone_hint
from adapters.slack_send import SlackSender, open_dm
from bot.config import Settings
from bot.engine import Engine
from bot.logging_setup import quiet_libraries
from bot.types import Inbound, InboundKind, UserRef

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


class SlackAdapter(ConversationAdapter):
    """The PlatformAdapter for Slack."""

    platform = PLATFORM
    retry_transient_inline = False  # a Slack 5xx goes straight to the outbox's backoff

    def __init__(
        self, engine: Engine, app: AsyncApp, sender: SlackSender, options: SlackOptions, app_token: str | None = None
    ) -> None:
        super().__init__(engine)
        self.app = app
        self.options = options
        self._sender = sender
        self._app_token = app_token
        self._dm: dict[tuple[str, str], str] = {}  # (workspace, user) -> DM channel, learnt from events
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
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
        """Bolt's Starlette request handler (`backcoach serve`): listeners put the event in the inbox and ack,
        the work follows after the answer, as under Bolt's own server."""
        from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

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
        self._stopping = True
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.drain()

    def dispatch(self, work: Coroutine[Any, Any, None]) -> None:
        """After the ack: the work runs in a tracked task."""
        self.spawn(work)

    # -- conversation --------------------------------------------------------------------------------

    def known_dm(self, workspace: str, user_id: str) -> str:
        """The DM channel if an event has told us (no Web API call before the ack); "" otherwise, and the
        sender opens the DM when it posts."""
        return self._dm.get((workspace, user_id), "")

    async def dm_channel(self, client: AsyncWebClient, workspace: str, user_id: str) -> str:
        key = (workspace, user_id)
        if key not in self._dm:
            if len(self._dm) > DM_CACHE_MAX:
                self._dm.clear()  # a cache only: conversations.open answers again
            self._dm[key] = await open_dm(client, user_id)
        return self._dm[key]

    def learn_dm(self, workspace: str, user_id: str, channel: str) -> None:
        if len(self._dm) > DM_CACHE_MAX:
            self._dm.clear()
        self._dm[(workspace, user_id)] = channel

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

    async def accept(
        self,
        client: AsyncWebClient,
        ref: UserRef,
        kind: InboundKind,
        *,
        text: str = "",
        action: str = "",
        event_id: str | None = None,
        hint: bool = False,
        before: Coroutine[Any, Any, None] | None = None,
    ) -> None:
        """Into the inbox before the ack (a database error raises: Bolt answers 500 and Slack retries), then
        the work after it: `before` (e.g. taking the tapped buttons away), the time-zone hint, the engine."""
        inbound = Inbound(ref, kind, text=text, action=action, event_id=event_id)
        pending = await self.receive(inbound)
        if not pending:
            if before is not None:
                before.close()
            return
        self.dispatch(self._work(client, inbound, hint, before))

    async def _work(
        self, client: AsyncWebClient, inbound: Inbound, hint: bool, before: Coroutine[Any, Any, None] | None
    ) -> None:
        if before is not None:
            await before
        if hint:
            tz = await self.timezone_hint(client, inbound.user.workspace, inbound.user.user_id)
            if tz:
                await self.engine.add_hint(inbound, tz)
        await self.process(inbound)


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
        adapter.learn_dm(ref.workspace, ref.user_id, ref.chat_id)
        event_id = body.get("event_id")
        await adapter.accept(client, ref, kind, text=text, event_id=str(event_id) if event_id else None, hint=True)

    @app.action(re.compile(f"^{render.ACTION_ID_PREFIX}\\d+$"))
    async def on_button(ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await _tapped(adapter, body, context, client)
        await ack()

    @app.command(COMMAND)
    async def on_command(ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await _commanded(adapter, body, context, client)
        await ack()

    @app.event("app_home_opened")
    async def on_home(
        event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        if event.get("tab") == "home":
            adapter.dispatch(_publish_home(adapter, client, _team(body, context), str(event["user"])))


async def _tapped(
    adapter: SlackAdapter, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    action = body["actions"][0]
    user_id = str(body["user"]["id"])
    workspace = _team(body, context)
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    chat = str(channel or adapter.known_dm(workspace, user_id))
    ref = UserRef(PLATFORM, workspace, user_id, chat)
    await adapter.accept(
        client,
        ref,
        InboundKind.BUTTON,
        action=str(action.get("value") or ""),
        event_id=f"action:{user_id}:{action.get('action_ts')}",
        before=_answered(client, body, action, channel),
    )


async def _answered(client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any], channel: Any) -> None:
    """The tapped message loses its buttons, so it cannot be answered twice (cosmetic: the core refuses a
    second tap anyway, so a failure here never holds up the answer)."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    if not (channel and container.get("message_ts")):
        return
    label = ((action.get("text") or {}).get("text")) or ""
    try:
        await client.chat_update(
            channel=channel,
            ts=container["message_ts"],
            text=message.get("text") or label,
            blocks=render.answered(message.get("blocks") or [], label),
        )
    except Exception:
        log.warning("chat.update failed", extra={"platform": PLATFORM})


async def _commanded(
    adapter: SlackAdapter, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    user_id = str(body["user_id"])
    workspace = _team(body, context)
    ref = UserRef(PLATFORM, workspace, user_id, adapter.known_dm(workspace, user_id))
    await adapter.accept(
        client,
        ref,
        InboundKind.COMMAND,
        text=command_text(str(body.get("text") or "")),
        event_id=f"command:{body.get('trigger_id')}",
        hint=True,
    )


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
    """slack_bolt and slack_sdk log whole payloads (message text) at DEBUG, and Bolt a refused request's
    body at INFO: never let either reach our logs (bot/logging_setup.py)."""
    quiet_libraries()


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

        sender = SlackSender(outbox_client, static_token)
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
        app = AsyncApp(**common, oauth_settings=oauth)
        app.enable_token_revocation_listeners()

        async def stored_token(workspace: str) -> str | None:
            bot = await store.async_find_bot(enterprise_id=None, team_id=workspace)
            return bot.bot_token if bot else None

        sender = SlackSender(outbox_client, stored_token)
    _quiet_sdk_debug_logs()  # again: Bolt has just given each of its loggers the root's level
    return SlackAdapter(engine, app, sender, options, app_token=app_token)
