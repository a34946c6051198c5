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

import asyncio
import html
import logging
import re
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_modal, slack_store
from adapters import slack_render as render
from adapters.base import DATABASE_ERRORS, PROCESS_RETRIES, RECEIVE_RETRY_MAX, AtOnce, ConversationAdapter
from adapters.live import StoredLiveMessages, Tap
from adapters.slack_home import (
    HOME_ACTION_PREFIX,
    hint_wanted,
    home_summary,
    home_view,
    settings_values,
    wants_timezone_hint,
)
from adapters.slack_send import SlackSender, open_dm
from bot.config import Settings
from bot.engine import Engine
from bot.flows import settings as settings_flow
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
        self._session: aiohttp.ClientSession | None = None
        _register(app, self)

    def _share_session(self) -> None:
        """One aiohttp session for every Web API call (Bolt's per-request clients copy it): without one, the
        SDK opens a session, a TCP connection and its teardown for each call. Made on the running loop."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.app.client.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        for client in (self.app.client, self._sender.client):
            client.session = self._session

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

        self._share_session()
        return AsyncSlackRequestHandler(self.app)

    async def start(self) -> None:
        self._share_session()
        if self._app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            await self._socket.connect_async()
            log.info("slack started", extra={"platform": PLATFORM, "mode": "socket"})
            return
        self._runner = web.AppRunner(self.web_app(), access_log=None)  # a log line per request, and its CPU
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
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        source: str = "",
        source_text: str = "",
        form: dict[str, str] | None = None,
        after: Coroutine[Any, Any, None] | None = None,
    ) -> None:
        """Into the inbox before the ack (a database error raises: Bolt answers 500 and Slack retries), then
        the work after it: `before`, the time-zone hint, the engine. `source` is the tapped message's ts,
        `source_text` its text (a tap's toast and close need them while it is answered here)."""
        inbound = Inbound(ref, kind, text=text, action=action, event_id=event_id, source=source, form=form or {})
        later = None
        if before is None and after is None:  # received and processed in one transaction; delivered after the ack
            later = await self.take(inbound, defer=_hint_pending if hint else None)
            if later is not None and later.pending:  # an older event waits, or the hint is to be looked up first
                await later.finish()
                later = None
            elif later is not None and later.taken.processed is None:  # a redelivery
                await later.finish()
                return
        if later is None and not await self.receive(inbound):
            for work in (before, after):
                if work is not None:
                    work.close()
            return
        tap: Tap | None = None
        if kind is InboundKind.BUTTON and ref.chat_id:

            async def toast(words: str) -> None:
                if words:
                    await client.chat_postEphemeral(channel=ref.chat_id, user=ref.user_id, text=render.escape(words))

            tap = Tap(toast, source_text=source_text)
        self.dispatch(self._work(client, inbound, hint and later is None, before, tap, after, later))

    async def _keep_hint(self, client: AsyncWebClient, inbound: Inbound) -> None:
        """Slack's time zone onto the received event, before it is processed. A database error here is
        retried as processing is, and never stops the processing: left to the runner's recovery instead, the
        person would wait seconds longer and be asked for a zone Slack had told us."""
        tz: str | None = None
        looked_up = False
        delay = 0.1
        for attempt in range(PROCESS_RETRIES + 1):
            try:
                if not looked_up:
                    tz = await self.timezone_hint(client, inbound.user.workspace, inbound.user.user_id)
                    looked_up = True
                if tz:
                    await self.engine.add_hint(inbound, tz)
                return
            except DATABASE_ERRORS as exc:
                log.warning("time-zone hint not kept yet", extra={"platform": PLATFORM, "error": type(exc).__name__})
                if self._stopping or attempt == PROCESS_RETRIES:
                    return  # processed without it: the zone question then lists zones instead
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECEIVE_RETRY_MAX)

    async def _work(
        self,
        client: AsyncWebClient,
        inbound: Inbound,
        hint: bool,
        before: Coroutine[Any, Any, None] | None,
        tap: Tap | None = None,
        after: Coroutine[Any, Any, None] | None = None,
        later: AtOnce | None = None,
    ) -> None:
        """After the ack: `before`, the time-zone hint, the engine, the replies; or, for an event already
        processed with its receipt (`later`), only its replies."""
        if before is not None:
            await before
        if hint:
            await self._keep_hint(client, inbound)
        if tap is not None:
            self._sender.taps.open(inbound.user, tap)
        try:
            await (later.finish() if later is not None else self.process(inbound))
        finally:
            if tap is not None:
                self._sender.taps.close(inbound.user, tap)
        if after is not None:
            await after


def _hint_pending(row: Any) -> bool:
    """`take`'s defer: an event that may start onboarding waits for Slack's time zone (users.info, after
    the ack), as `wants_timezone_hint` decides from the stored row."""
    return row is None or hint_wanted(row.profile or {}, row.conversation or {})


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

    @app.action(re.compile(f"^{HOME_ACTION_PREFIX}(today|pause|settings)$"))
    async def on_home_button(ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await _home_tapped(adapter, body, context, client)  # into the inbox (or the modal opened) before the ack
        await ack()

    @app.view(slack_modal.CALLBACK_ID)
    async def on_settings_saved(
        ack: Any, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        form = slack_modal.form_of(view)
        errors = settings_flow.form_errors(form, adapter.engine.content)
        if errors:  # shown under the fields; the modal stays open
            await ack(response_action="errors", errors=errors)
            return
        await _submitted(adapter, body, view, context, client, form)  # into the inbox before the ack
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
    message = body.get("message") or {}
    chat = str(channel or adapter.known_dm(workspace, user_id))
    ref = UserRef(PLATFORM, workspace, user_id, chat)
    await adapter.accept(
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
    ref = UserRef(PLATFORM, workspace, user_id, adapter.known_dm(workspace, user_id))
    await adapter.accept(
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
    await adapter.accept(
        client,
        UserRef(PLATFORM, workspace, user_id, adapter.known_dm(workspace, user_id)),
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
    await adapter.accept(
        client,
        UserRef(PLATFORM, workspace, user_id, adapter.known_dm(workspace, user_id)),
        InboundKind.FORM,
        form=form,
        event_id=f"view:{view.get('id')}:{view.get('hash')}",
        after=_publish_home(adapter, client, workspace, user_id),  # the Home tab shows the new settings
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
    _quiet_sdk_debug_logs()  # again: Bolt has just given each of its loggers the root's level
    return SlackAdapter(engine, app, sender, options, app_token=app_token)
