"""A small Slack Web API on 127.0.0.1 for the real slack_sdk client to talk to.

It records every request (method, token, arguments) and can be told to fail the next call of a method
(429 with Retry-After, `account_inactive`, a 500 ...). Only what BackCoach uses is implemented.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Call:
    method: str
    token: str | None
    args: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)
    lost: bool = False  # the caller hung up (was killed) before the answer: as if Slack never took it

    @property
    def answered(self) -> bool:
        """Slack took it and said ok to a caller still there to hear it (what a person would see)."""
        return bool(self.response.get("ok")) and not self.lost


@dataclass
class Failure:
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeSlack:
    """Workspaces are told apart by bot token: `tokens` maps a token to its team id."""

    tokens: dict[str, str] = field(default_factory=lambda: {"xoxb-one": "T1"})
    timezones: dict[str, str] = field(default_factory=dict)  # user id -> tz for users.info
    calls: list[Call] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    gate: asyncio.Event | None = None  # while set and not yet released, the `gated` methods wait (a slow Slack)
    gated: frozenset[str] = frozenset({"chat.postMessage"})
    delay: float = 0.0  # seconds every chat.postMessage takes before its answer (sends really in flight)
    posting: asyncio.Event = field(default_factory=asyncio.Event)  # set once a chat.postMessage has arrived
    _failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None

    # -- test API ------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("/api/"))

    def fail_next(self, method: str, *, status: int = 200, error: str = "", retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._failures[method].append(Failure(status, error, headers))

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def in_flight(self) -> list[Call]:
        """chat.postMessage calls that arrived and are not answered yet."""
        return [c for c in self.of("chat.postMessage") if not c.response and not c.lost]

    def posted_texts(self) -> list[str]:
        return [c.args.get("text", "") for c in self.of("chat.postMessage")]

    # -- server --------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    @staticmethod
    async def _args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        for key in ("blocks", "view", "files"):  # form-encoded JSON arguments
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else args.pop("token", None)
        call = Call(method, token, args)
        self.calls.append(call)
        held = False
        try:
            if method == "chat.postMessage":
                self.posting.set()
                if self.delay:
                    held = True
                    await asyncio.sleep(self.delay)
            if method in self.gated and self.gate is not None:
                held = True
                await self.gate.wait()
        except asyncio.CancelledError:  # aiohttp gave up the handler: its caller hung up
            call.lost = True
            raise
        if held and (request.transport is None or request.transport.is_closing()):
            call.lost = True  # nobody is waiting any more
            return web.Response(status=499)
        if self._failures[method]:
            failure = self._failures[method].popleft()
            body = {"ok": False, "error": failure.error or "ratelimited"}
            return web.json_response(body, status=failure.status, headers=failure.headers)
        if method != "oauth.v2.access" and token not in self.tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        call.response = {"ok": True, **self._answer(method, token, args)}
        return web.json_response(call.response)

    def _answer(self, method: str, token: str | None, args: dict[str, Any]) -> dict[str, Any]:
        team = self.tokens.get(token or "", "")
        if method == "auth.test":
            return {
                "url": "https://example.slack.com/",
                "team": team,
                "team_id": team,
                "user": "backcoach",
                "user_id": f"UBOT{team}",
                "bot_id": f"BBOT{team}",
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            return {
                "channel": args.get("channel"),
                "ts": f"1700000000.{next(self._ts):06d}",
                "message": {"text": args.get("text"), "blocks": args.get("blocks", [])},
            }
        if method == "chat.update":
            return {"channel": args.get("channel"), "ts": args.get("ts")}
        if method == "users.info":
            user = str(args.get("user"))
            return {"user": {"id": user, "tz": self.timezones.get(user, "Europe/London")}}
        if method == "conversations.open":
            return {"channel": {"id": f"D{args.get('users')}"}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            assert self._server is not None
            return {"upload_url": str(self._server.make_url(f"/upload/{file_id}")), "file_id": file_id}
        if method == "files.completeUploadExternal":
            return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in args.get("files", [])]}
        if method == "oauth.v2.access":
            new_token = f"xoxb-installed-{args.get('code')}"
            self.tokens[new_token] = "T3"
            return {
                "access_token": new_token,
                "token_type": "bot",
                "scope": "chat:write,im:history",
                "bot_user_id": "UBOTT3",
                "app_id": "A1",
                "team": {"id": "T3", "name": "Three"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "U9"},
            }
        return {}  # views.publish and the rest: ok

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads.append(await request.read())
        return web.Response(text=f"OK - {len(self.uploads[-1])}")
