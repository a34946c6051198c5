"""A small Bot API on 127.0.0.1 for the real python-telegram-bot code to talk to.

It records every request (method + decoded parameters), serves queued updates through getUpdates
(long polling honoured, offsets respected, re-delivery possible), and can be scripted to fail:
429 with retry_after, 502 from a proxy, a slow answer (for timeouts), or 403 "bot was blocked".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from content.loader import Content

TOKEN = "123456:TEST-not-a-real-token"
BOT = {
    "id": 123456,
    "is_bot": True,
    "first_name": "BackCoach",
    "username": "BackCoachBot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
JSON_FIELDS = {"reply_markup", "commands", "allowed_updates", "link_preview_options", "scope"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    message_id: int | None = None  # the id the fake gave the message it created
    lost: bool = False  # the caller hung up (was killed) before the answer: it never learnt of this call
    answered: bool = False  # the fake took it and answered "ok" (what a person would see)

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of an inline keyboard on this call, row by row."""
        rows = (self.params.get("reply_markup") or {}).get("inline_keyboard", [])
        return [(b["text"], b["callback_data"]) for row in rows for b in row]


@dataclass(frozen=True)
class Fault:
    status: int = 200
    body: Any = None  # dict -> JSON, str -> text/html
    delay: float = 0.0  # seconds before answering (then a normal answer if status is 200)

    @staticmethod
    def too_many(retry_after: int) -> Fault:
        description = f"Too Many Requests: retry after {retry_after}"
        return Fault(
            429,
            {"ok": False, "error_code": 429, "description": description, "parameters": {"retry_after": retry_after}},
        )

    @staticmethod
    def bad_gateway() -> Fault:
        return Fault(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")

    @staticmethod
    def slow(seconds: float) -> Fault:
        return Fault(delay=seconds)

    @staticmethod
    def blocked() -> Fault:
        return Fault(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})


SENDS = {"sendMessage", "sendPhoto", "sendDocument"}


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's limits the way it counts them: at most `overall` messages in any `window` seconds (a sliding
    window, not a bucket), and `per_chat` per chat in that window. Over either: 429 with `retry_after`."""

    overall: int = 30
    per_chat: int = 1
    window: float = 1.0
    retry_after: int = 1


class FakeTelegram:
    def __init__(self, limits: FloodLimits | None = None) -> None:
        self.limits = limits
        self.too_many = 0  # 429s the limits provoked
        self.accepted_at: list[float] = []  # monotonic time of each message the limits let through
        self._accepted: deque[float] = deque()  # when each message inside the current window was accepted
        self._chat_accepted: dict[str, deque[float]] = defaultdict(deque)
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.faults: dict[str, list[Fault]] = {}
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self.shown: dict[int, tuple[str, Any]] = {}  # message id -> (text, reply_markup), as the phone shows it
        self._arrived = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        self._stopping.set()
        self._arrived.set()
        if self._runner:
            await self._runner.cleanup()

    # --- scripting ----------------------------------------------------------------------------

    def fail(self, method: str, fault: Fault, times: int = 1) -> None:
        self.faults.setdefault(method, []).extend([fault] * times)

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id (kept if the dict has one: a re-delivery)."""
        update.setdefault("update_id", next(self._update_ids))
        self.updates.append(update)
        self._arrived.set()
        return update["update_id"]

    def delivered(self, method: str = "sendMessage") -> list[Call]:
        """Calls of `method` the fake answered to a caller that was still there to hear it."""
        return [c for c in self.calls if c.method == method and c.answered and not c.lost]

    def requests(self, since: int = 0, *, polling: bool = False) -> list[Call]:
        """Calls from index `since`, without getUpdates noise unless asked."""
        return [c for c in self.calls[since:] if polling or c.method != "getUpdates"]

    def methods(self, since: int = 0) -> list[str]:
        return [c.method for c in self.requests(since)]

    # --- the API ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params, files = await _decode(request)
        call = Call(method, params, files)
        if method != "getUpdates":
            self.calls.append(call)
        queued = self.faults.get(method)
        if queued:
            fault = queued.pop(0)
            if fault.delay:  # a slow answer; cut short when the fake stops (so stopping never waits on it)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), fault.delay)
                if request.transport is None or request.transport.is_closing():
                    call.lost = True  # nobody is waiting: as if the platform never took it
                    return web.Response(status=499)
            if fault.status != 200:
                if isinstance(fault.body, dict):
                    return web.json_response(fault.body, status=fault.status)
                return web.Response(text=fault.body or "", status=fault.status, content_type="text/html")
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        if method in SENDS and self.limits is not None and not self._within_limits(str(params.get("chat_id"))):
            self.too_many += 1
            return web.json_response(Fault.too_many(self.limits.retry_after).body, status=429)
        refused = self._refuse_edit(method, params)
        if refused:
            return web.json_response({"ok": False, "error_code": 400, "description": refused}, status=400)
        result = self._answer(method, params)
        if isinstance(result, dict) and "message_id" in result:
            call.message_id = result["message_id"]
        call.answered = True
        return _ok(result)

    def _within_limits(self, chat: str) -> bool:
        """Count this message against the sliding windows; False (and not counted) if it would go over."""
        assert self.limits is not None
        now = time.monotonic()
        chat_window = self._chat_accepted[chat]
        for window in (self._accepted, chat_window):
            while window and window[0] <= now - self.limits.window:
                window.popleft()
        if len(self._accepted) >= self.limits.overall or len(chat_window) >= self.limits.per_chat:
            return False
        self._accepted.append(now)
        chat_window.append(now)
        self.accepted_at.append(now)
        return True

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                pass
        ready = list(self.updates)
        if ready:
            self.calls.append(Call("getUpdates", params))  # recorded only when it delivered something
        return ready

    def _refuse_edit(self, method: str, params: dict[str, Any]) -> str | None:
        """The Bot API's answers to an edit of a message it does not have, or one that changes nothing."""
        if method not in {"editMessageText", "editMessageReplyMarkup"}:
            return None
        mid = int(params.get("message_id") or 0)
        if mid not in self.shown:
            return "Bad Request: message to edit not found"
        text, markup = self.shown[mid]
        new_text = params.get("text", text) if method == "editMessageText" else text
        if (new_text, params.get("reply_markup")) == (text, markup):
            return "Bad Request: message is not modified: specified new message content and reply markup are the same"
        return None

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT
        if method in {"sendMessage", "sendPhoto", "sendDocument", "editMessageReplyMarkup", "editMessageText"}:
            chat_id = int(params["chat_id"])
            mid = int(params.get("message_id") or next(self._message_ids))
            message: dict[str, Any] = {
                "message_id": mid,
                "date": 1772434800,
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                "from": BOT,
            }
            old_text = self.shown.get(mid, ("", None))[0]
            text = params.get("text", old_text) if method != "editMessageReplyMarkup" else old_text
            self.shown[mid] = (text if method != "sendPhoto" else params.get("caption", ""), params.get("reply_markup"))
            if method in {"sendMessage", "editMessageText", "editMessageReplyMarkup"}:
                message["text"] = text
            elif method == "sendPhoto":
                message["photo"] = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 10, "height": 10}]
            elif method == "sendDocument":
                message["document"] = {"file_id": "doc-1", "file_unique_id": "d1"}
            return message
        return True  # answerCallbackQuery, setMyCommands, setWebhook, deleteWebhook, ...


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def _decode(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """PTB posts form fields (multipart when a file is attached); JSON-typed fields are JSON strings."""
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if not request.can_read_body:
        return params, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = (value.filename, value.file.read())
        elif key in JSON_FIELDS:
            params[key] = json.loads(value)
        else:
            params[key] = value
    return params, files


# --- update builders ----------------------------------------------------------------------------


def person(user_id: int, first_name: str = "Ann") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}


def private_chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "Ann"}


def text_update(user_id: int, text: str, *, chat: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 9000,
        "date": 1772434800,
        "chat": chat or private_chat(user_id),
        "from": person(user_id),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": message}


def location_update(user_id: int, latitude: float, longitude: float) -> dict[str, Any]:
    return {
        "message": {
            "message_id": 9001,
            "date": 1772434800,
            "chat": private_chat(user_id),
            "from": person(user_id),
            "location": {"latitude": latitude, "longitude": longitude},
        }
    }


def callback_update(user_id: int, data: str, message_id: int, query_id: str = "q") -> dict[str, Any]:
    return {
        "callback_query": {
            "id": f"{query_id}-{message_id}-{data}"[:60],
            "from": person(user_id),
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": 1772434800,
                "chat": private_chat(user_id),
                "from": BOT,
                "text": "…",
            },
        }
    }


class Person:
    """One Telegram user driving the bot with updates, as the phone app would send them.

    `send` waits until the adapter has fully handled the update (replies sent), then returns the
    requests the bot made meanwhile, getUpdates aside.
    """

    def __init__(self, fake: FakeTelegram, adapter: Any, user_id: int) -> None:
        self.fake, self.adapter, self.user_id = fake, adapter, user_id
        self.last: list[Call] = []

    async def send(self, update: dict[str, Any]) -> list[Call]:
        mark = len(self.fake.calls)
        update_id = self.fake.push(update)
        async with asyncio.timeout(20):  # bounds a hang; not a speed assertion
            await self.adapter.wait_handled(update_id)
        self.last = self.fake.requests(mark)
        return self.last

    async def say(self, text: str) -> list[Call]:
        return await self.send(text_update(self.user_id, text))

    async def share_location(self, latitude: float, longitude: float) -> list[Call]:
        return await self.send(location_update(self.user_id, latitude, longitude))

    def button(self, label: str, calls: list[Call] | None = None) -> tuple[str, int]:
        """(callback_data, message_id) of the newest button whose label starts with `label`."""
        for call in reversed(calls if calls is not None else self.last):
            for text, data in call.buttons():
                if text.lower().startswith(label.lower()):
                    assert call.message_id is not None
                    return data, call.message_id
        raise AssertionError(f"no button {label!r} in {self.texts()}")

    async def tap(self, label: str) -> list[Call]:
        data, message_id = self.button(label)
        return await self.send(callback_update(self.user_id, data, message_id))

    def sent(self) -> list[Call]:
        """What the person sees change: new messages, and messages edited into something new."""
        return [c for c in self.last if c.method in {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}]

    def texts(self) -> str:
        return "\n".join(str(c.params.get("text", "")) for c in self.sent())

    def labels(self) -> list[str]:
        return [t for c in self.last for t, _ in c.buttons()]


async def onboard(person: Person, content: Content) -> None:
    """Consent, "No" to every screening question, all exercises, reminders at 07:00 London."""
    await person.say("/start")
    await person.tap(content.msg("button.agree"))
    while "Yes" in person.labels():
        await person.tap("No")
    await person.tap("All of them")
    await person.tap("07:00")
    await person.tap("London")
    assert "all set" in person.texts().lower()
