"""Sending to Slack: post a Reply (Block Kit + file uploads) and map Slack's errors to the neutral ones.

The outbox's `SlackSender` gets no automatic 429 retry: a `RetryLater` goes back to the outbox, which
reschedules the row after `Retry-After` without blocking other people's messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from bot.types import Reply, UserRef
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
    """One Reply: a message (text + buttons), then its image or document as an uploaded file. Returns the
    message's ts (Slack's message id), if a message was posted."""
    extra: dict[str, Any] = {"token": token} if token else {}
    ts: str | None = None
    if reply.text or reply.buttons:
        response = await client.chat_postMessage(channel=channel, **render.message(reply), **extra)
        ts = str(response.get("ts") or "") or None
    for item in (reply.image, reply.document):
        if item is not None:
            await client.files_upload_v2(
                channel=channel, content=item.data, filename=item.filename, title=item.filename, **extra
            )
    return ts


async def open_dm(client: AsyncWebClient, user_id: str, token: str | None = None) -> str:
    """The app's direct-message channel with this person."""
    extra: dict[str, Any] = {"token": token} if token else {}
    response = await client.conversations_open(users=user_id, **extra)
    return str(response["channel"]["id"])


class SlackSender:
    """The outbox's way to reach Slack users; the workspace's token comes from `tokens` (static or OAuth)."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, tokens: TokenLookup) -> None:
        self._client = client
        self._tokens = tokens

    async def send(self, user: UserRef, replies: list[Reply], on_sent: OnSent | None = None) -> None:
        try:
            token = await self._tokens(user.workspace)
        except Exception as exc:  # the installation store is our database: a hiccup there is transient
            raise TransientError(type(exc).__name__) from exc
        if not token:
            raise Blocked("app_uninstalled")
        try:
            channel = user.chat_id or await open_dm(self._client, user.user_id, token)
            order = sorted(range(len(replies)), key=lambda i: not replies[i].urgent)  # render.order_for_sending
            for index in order:
                ts = await post_reply(self._client, channel, replies[index], token)
                if on_sent is not None:
                    on_sent(Sent(index, ts))
        except Exception as exc:
            error = map_error(exc)
            log.warning(
                "slack send failed", extra={"platform": "slack", "error": type(error).__name__, "code": str(error)}
            )
            raise error from exc
