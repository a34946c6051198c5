"""Sending to Slack: post a Reply (Block Kit + file uploads) and map Slack's errors to the neutral ones.

The outbox's `SlackSender` gets no automatic 429 retry: a `RetryLater` goes back to the outbox, which
reschedules the row after `Retry-After` without blocking other people's messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from adapters.live import LiveMessages, NoLiveMessages, Tap, Taps
from bot.flows.living import compose_indexed
from bot.types import Reply, ReplyKind, UserRef
from scheduler.sender import Blocked, OnSent, RetryLater, SendError, Sent, TransientError

log = logging.getLogger(__name__)

# Errors that mean "this person (or this workspace) can no longer be reached": stop sending.
BLOCKED_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "token_revoked",
        "not_authed",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "team_access_not_granted",
        "app_uninstalled",
        "org_login_required",
        "ekm_access_denied",
    }
)
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
DEFAULT_RETRY_AFTER = 1.0

TokenLookup = Callable[[str], Awaitable[str | None]]


def _header(headers: object, name: str) -> str | None:
    for key, value in dict(headers or {}).items():  # type: ignore[call-overload]
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else str(value)
    return None


def map_error(exc: Exception) -> SendError:
    """Slack's failure -> what the outbox should do about it. The error code is kept; no message text."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        code = str(exc.response.get("error", "") or "")
        if status == 429 or code == "ratelimited":
            try:
                retry_after = float(_header(exc.response.headers, "Retry-After") or DEFAULT_RETRY_AFTER)
            except ValueError:
                retry_after = DEFAULT_RETRY_AFTER
            return RetryLater(retry_after)
        if code in BLOCKED_ERRORS:
            return Blocked(code)
        if status >= 500 or code in TRANSIENT_ERRORS:
            return TransientError(code or f"http {status}")
        return SendError(code or f"http {status}")
    if isinstance(exc, (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)):
        return TransientError(type(exc).__name__)
    return SendError(type(exc).__name__)


async def post_reply(client: AsyncWebClient, channel: str, reply: Reply, token: str | None = None) -> str | None:
    """One new message: text and buttons, or a file with the text as its caption (and the buttons, if any,
    in a message of their own). Returns the posted message's ts (Slack's message id), if a message was posted."""
    extra: dict[str, Any] = {"token": token} if token else {}
    files = [item for item in (reply.image, reply.document) if item is not None]
    ts: str | None = None
    if reply.buttons or (reply.text and not files):
        response = await client.chat_postMessage(channel=channel, **render.message(reply), **extra)
        ts = str(response.get("ts") or "") or None
    caption = render.fallback_text(reply) if reply.text and not reply.buttons else None
    for index, item in enumerate(files):
        await client.files_upload_v2(
            channel=channel,
            content=item.data,
            filename=item.filename,
            title=item.filename,
            initial_comment=caption if index == 0 else None,
            **extra,
        )
    return ts


async def deliver(
    client: AsyncWebClient,
    user: UserRef,
    channel: str,
    replies: list[Reply],
    live: LiveMessages,
    token: str | None = None,
    taps: Taps | None = None,
    on_sent: OnSent | None = None,
) -> None:
    """Post, update and close as the replies' kinds say (urgent ones first), calling `on_sent` for each
    reply Slack took with the ts of the message carrying it; the live question's ts follows and is
    recorded at the end. A failure raises, for the caller to map."""
    extra: dict[str, Any] = {"token": token} if token else {}
    start = await live.get(user)
    now = start
    tap = taps.get(user) if taps is not None else None
    order = sorted(range(len(replies)), key=lambda i: not replies[i].urgent)  # render.order_for_sending
    try:
        for reply, indexes in compose_indexed(replies, order):
            if tap is not None and reply.kind is ReplyKind.CLOSE and reply.target and not reply.text:
                reply = replace(reply, text=tap.source_text)  # the tapped message as it read
            now, ts = await _one(client, channel, reply, start, now, extra, tap)
            if on_sent is not None:
                for index in indexes:
                    on_sent(Sent(index, ts))
    finally:
        if now != start:
            await live.set(user, now)


async def _one(
    client: AsyncWebClient,
    channel: str,
    reply: Reply,
    start: str | None,
    live: str | None,
    extra: dict[str, Any],
    tap: Tap | None,
) -> tuple[str | None, str | None]:
    """One reply; returns the live question's ts after it, and the ts of the message it posted or updated."""
    if reply.kind is ReplyKind.TOAST:
        if tap is not None:
            await tap.say(reply.text)
        return live, None
    if reply.kind is ReplyKind.CLOSE:
        target = reply.target or start
        if target and reply.text:
            await _update(client, channel, target, render.closed(reply), extra)
        return (None if target == live else live), None
    if reply.kind is ReplyKind.EDIT and not reply.urgent:
        target = reply.target or live
        if target and await _update(client, channel, target, render.edited(reply), extra):
            return (target if reply.buttons else (None if target == live else live)), target
    ts = await post_reply(client, channel, reply, extra.get("token"))
    return (ts if reply.buttons and ts else live), ts


async def _update(
    client: AsyncWebClient, channel: str, ts: str, message: dict[str, Any], extra: dict[str, Any]
) -> bool:
    """chat.update; False when the message cannot be edited (gone, too old), so a new one is posted."""
    try:
        await client.chat_update(channel=channel, ts=ts, **message, **extra)
    except SlackApiError as exc:
        if str(exc.response.get("error", "")) in {"message_not_found", "cant_update_message", "edit_window_closed"}:
            return False
        raise
    return True


async def open_dm(client: AsyncWebClient, user_id: str, token: str | None = None) -> str:
    """The app's direct-message channel with this person."""
    extra: dict[str, Any] = {"token": token} if token else {}
    response = await client.conversations_open(users=user_id, **extra)
    return str(response["channel"]["id"])


class SlackSender:
    """The outbox's way to reach Slack users; the workspace's token comes from `tokens` (static or OAuth)."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, tokens: TokenLookup, live: LiveMessages | None = None) -> None:
        self._client = client
        self._tokens = tokens
        self.live: LiveMessages = live or NoLiveMessages()
        self.taps = Taps()  # the taps this process is answering: a toast reaches them only

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    async def send(self, user: UserRef, replies: list[Reply], on_sent: OnSent | None = None) -> None:
        try:
            token = await self._tokens(user.workspace)
        except Exception as exc:  # the installation store is our database: a hiccup there is transient
            raise TransientError(type(exc).__name__) from exc
        if not token:
            raise Blocked("app_uninstalled")
        try:
            channel = user.chat_id or await open_dm(self._client, user.user_id, token)
            await deliver(self._client, user, channel, replies, self.live, token, self.taps, on_sent)
        except Exception as exc:
            error = map_error(exc)
            log.warning(
                "slack send failed", extra={"platform": "slack", "error": type(error).__name__, "code": str(error)}
            )
            raise error from exc
