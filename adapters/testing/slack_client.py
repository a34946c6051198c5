"""Plays Slack's side towards our Bolt app: correctly signed Events API, interactivity and slash-command
requests over HTTP on 127.0.0.1, plus helpers to find what the bot posted (via adapters/testing/fake_slack.py)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier

from adapters.slack import SlackAdapter
from adapters.testing.fake_slack import Call, FakeSlack
from bot.config import Settings

SECRET = "test-signing-secret"
_ids = itertools.count(1)


def slack_settings(fake: FakeSlack, **extra: str) -> Settings:
    values: dict[str, Any] = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url, **extra}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def serve(adapter: SlackAdapter, fake: FakeSlack) -> AsyncIterator[SlackSide]:
    """Bolt's own aiohttp app (as `backcoach run` serves it) on 127.0.0.1, and Slack's side of it."""
    server = TestServer(adapter.web_app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield SlackSide(str(server.make_url("/slack/events")), adapter, fake)
    finally:
        await adapter.stop()
        await server.close()


@dataclass
class Response:
    status: int
    text: str


class SlackSide:
    def __init__(self, url: str, adapter: SlackAdapter, fake: FakeSlack, secret: str = SECRET) -> None:
        self.url = url
        self.adapter = adapter
        self.fake = fake
        self.verifier = SignatureVerifier(secret)
        self.mark = 0  # index into fake.calls where the current exchange began

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        wait: bool = True,
    ) -> Response:
        """POST one request as Slack would (signature over `v0:<ts>:<body>`), then wait for the work."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or self.verifier.generate_signature(timestamp=ts, body=body) or "",
            **(headers or {}),
        }
        self.mark = len(self.fake.calls)
        async with aiohttp.ClientSession() as session, session.post(self.url, data=body, headers=sent) as resp:
            result = Response(resp.status, await resp.text())
        if wait:
            await self.adapter.drain()
        return result

    # -- request bodies ---------------------------------------------------------------------------------

    @staticmethod
    def event_body(team: str, event: dict[str, Any], event_id: str | None = None) -> str:
        return json.dumps(
            {
                "token": "legacy",
                "team_id": team,
                "api_app_id": "A1",
                "type": "event_callback",
                "event": event,
                "event_id": event_id or f"Ev{next(_ids):08d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": team, "user_id": f"UBOT{team}", "is_bot": True}],
            }
        )

    async def event(
        self, team: str, event: dict[str, Any], event_id: str | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        return await self.post(self.event_body(team, event, event_id), "application/json", headers=headers)

    async def dm(
        self, team: str, user: str, text: str, event_id: str | None = None, wait: bool = True, **extra: Any
    ) -> Response:
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": f"D{user}",
            "user": user,
            "text": text,
            "ts": f"{time.time():.6f}",
            **extra,
        }
        return await self.post(self.event_body(team, event, event_id), "application/json", wait=wait)

    async def command(self, team: str, user: str, text: str, channel: str = "C1") -> Response:
        body = urlencode(
            {
                "token": "legacy",
                "team_id": team,
                "channel_id": channel,
                "user_id": user,
                "command": "/backcoach",
                "text": text,
                "api_app_id": "A1",
                "trigger_id": f"trig{next(_ids)}",
                "response_url": "http://127.0.0.1:9/ignored",
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def home(self, team: str, user: str) -> Response:
        return await self.event(team, {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"})

    # -- buttons -----------------------------------------------------------------------------------------

    def messages(self, since: int | None = None, channel: str | None = None) -> list[Call]:
        """Messages posted, and messages updated into something new (a living question), in order."""
        start = self.mark if since is None else since
        texts: dict[str, str] = {}  # ts -> text, to tell a closed question (same text, no buttons) from news
        found: list[Call] = []
        for index, c in enumerate(self.fake.calls):
            if c.method not in {"chat.postMessage", "chat.update"} or not c.response.get("ok"):
                if (
                    index >= start
                    and c.method == "chat.postMessage"
                    and (channel is None or c.args.get("channel") == channel)
                ):
                    found.append(c)  # a failed post still counts as tried
                continue
            ts = str(c.response.get("ts") or c.args.get("ts"))
            closed = c.method == "chat.update" and texts.get(ts) == c.args.get("text") and not _buttons(c)
            texts[ts] = str(c.args.get("text"))
            if index >= start and not closed and (channel is None or c.args.get("channel") == channel):
                found.append(c)
        return found

    def last_texts(self) -> str:
        return "\n".join(c.args.get("text", "") for c in self.messages())

    def last_labels(self) -> list[str]:
        return [b["text"]["text"] for c in self.messages() for b in _buttons(c)]

    def current_versions(self, channel: str) -> list[Call]:
        """Each message as Slack shows it now (its newest post or update), oldest change first: real Slack
        offers only the buttons of a message's current version, never those of a version edited away."""
        newest: dict[str, Call] = {}
        for c in self.fake.calls:
            if c.method in {"chat.postMessage", "chat.update"} and c.response.get("ok"):
                if c.args.get("channel") == channel:
                    ts = str(c.response.get("ts") or c.args.get("ts"))
                    newest.pop(ts, None)  # re-inserted last: dicts keep insertion order
                    newest[ts] = c
        return list(newest.values())

    def find_button(self, label: str, channel: str) -> tuple[Call, dict[str, Any], dict[str, Any]]:
        for call in reversed(self.current_versions(channel)):
            for block in call.args.get("blocks", []):
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element["text"]["text"].lower().startswith(label.lower()):
                        return call, block, element
        raise AssertionError(f"no button {label!r} in {channel}")

    async def tap(self, team: str, user: str, label: str, wait: bool = True) -> Response:
        """Tap the newest button with this label in the person's DM, as Slack's block_actions payload."""
        channel = f"D{user}"
        call, block, element = self.find_button(label, channel)
        ts = call.response.get("ts") or call.args["ts"]
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": team},
            "team": {"id": team, "domain": "x"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": f"trig{next(_ids)}",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "directmessage"},
            "message": {"type": "message", "ts": ts, "text": call.args.get("text"), "blocks": call.args["blocks"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": block["block_id"],
                    "text": element["text"],
                    "value": element["value"],
                    "action_ts": f"{int(time.time())}.{next(_ids):06d}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", wait=wait)


def _buttons(call: Call) -> list[dict[str, Any]]:
    return [e for b in call.args.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]
