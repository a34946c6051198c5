"""`backcoach bench floor`: BackCoach against the bare frameworks it stands on, side by side.

Each run starts one bot in its own process (so its CPU time is its own) against a fresh local fake platform
in this process: BackCoach as `backcoach run` runs it, a bare python-telegram-bot echo bot (sequential, and
with `concurrent_updates(64)`), a bare slack-bolt echo app. The same people drive every bot of a pair with the
same stream: BackCoach's run records each person's updates (onboarding, then a session, tapping the buttons it
was sent) and the peers replay exactly those updates, each person sending the next once the last was handled.
A peer sends one message per update (an echo); BackCoach sends whatever its conversation needs.

Pairs are interleaved (A, B, B', A, B, B' ...) and each figure's ratio is the median of the pairs' ratios:
other work on the machine moves absolute times, not much the ratios. A figure, not a test: nothing asserts.

    backcoach bench floor [--pairs 5] [--people 16] [--steps 24] [--only telegram|slack]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from adapters.testing.fake_slack import FakeSlack
from adapters.testing.fake_telegram import TOKEN, FakeTelegram, callback_update, text_update

SLACK_SECRET = "floor-bench-signing-secret"
SLACK_TOKEN = "xoxb-one"
TEAM = "T1"
REPLY_METHODS = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}
PATIENCE = 60.0  # seconds a single update may take before the run is declared stuck (a hang, not a speed limit)


# --- the stream: what each person does --------------------------------------------------------------------


@dataclass
class Seen:
    """What a person has on screen: the texts of the bot's latest messages and their buttons."""

    text: str = ""
    buttons: list[tuple[str, Any]] = field(default_factory=list)  # (label, whatever tapping needs)

    def find(self, label: str) -> Any | None:
        for text, handle in reversed(self.buttons):
            if text.lower().startswith(label.lower()):
                return handle
        return None


def next_move(step: int, seen: Seen, zone: str) -> tuple[str, str] | None:
    """Onboarding, then a session: ("say", text) or ("tap", label); None when this person is done.
    Repeats ("No" to each screening question, "Done" to each step) follow what the bot actually asked."""
    if step == 0:
        return ("say", "/start")
    if seen.find("I understand"):
        return ("tap", "I understand")
    if seen.find("No") and seen.find("Yes") and "time zone" not in seen.text.lower():
        return ("tap", "No")
    for label in ("All of them", "07:00", zone, "Start a session"):
        if label and seen.find(label):
            return ("tap", label)
    if seen.find("Yes"):  # Slack: "is <zone> your time zone?"
        return ("tap", "Yes")
    if "I'll message you in" in seen.text:  # a hold timer: the stream stops here (no waiting)
        return None
    for label in ("3", "Start", "Done"):
        if seen.find(label):
            return ("tap", label)
    return None


# --- the bot under test, in its own process ----------------------------------------------------------------


class Worker:
    """One bot process. It prints `h <key>` when it has handled an update and answers `cpu` on stdin with its
    process CPU time, so the figures count the bot's own CPU and nothing of the fake's or the driver's."""

    def __init__(self, kind: str, env: dict[str, str], workdir: Path) -> None:
        self.kind, self.env, self.workdir = kind, env, workdir
        self.proc: asyncio.subprocess.Process | None = None
        self._handled: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._cpu: asyncio.Queue[float] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.log = workdir / f"{kind}.log"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.bench.floor",
            "--worker",
            self.kind,
            env={**os.environ, **self.env},
            cwd=self.workdir,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log.open("ab"),
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("h "):
                self._handled[line[2:]].set()
            elif line.startswith("cpu "):
                self._cpu.put_nowait(float(line[4:]))

    async def handled(self, key: str) -> None:
        async with asyncio.timeout(PATIENCE):
            await self._handled[key].wait()
        del self._handled[key]

    async def cpu(self) -> float:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"cpu\n")
        await self.proc.stdin.drain()
        async with asyncio.timeout(PATIENCE):
            return await self._cpu.get()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # one write per line: atomic on a pipe, from any thread


def _answer_cpu_requests() -> None:
    for line in sys.stdin:
        if line.strip() == "cpu":
            _say(f"cpu {time.process_time()!r}")


def worker_main(kind: str) -> None:
    """Inside the bot's process: hook "handled" reporting in, then run the bot until SIGTERM."""
    threading.Thread(target=_answer_cpu_requests, daemon=True).start()
    if kind == "backcoach-telegram" or kind == "backcoach-slack":
        _hook_backcoach()
        from bot import app
        from bot.config import Settings
        from bot.logging_setup import configure_logging

        settings = Settings()
        configure_logging(settings.log_level)
        asyncio.run(app.run(settings))
    elif kind.startswith("ptb-"):
        _run_ptb_echo(concurrent=kind == "ptb-concurrent")
    elif kind == "bolt":
        asyncio.run(_run_bolt_echo())
    else:
        raise SystemExit(f"unknown worker {kind}")


def _hook_backcoach() -> None:
    """Report each update once BackCoach has fully handled it (its replies sent), as its tests wait for it."""
    from adapters.slack import SlackAdapter
    from adapters.telegram import PerUserOrder

    process = PerUserOrder.do_process_update

    async def reported(self: PerUserOrder, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await process(self, update, coroutine)
        finally:
            _say(f"h tg:{getattr(update, 'update_id', '')}")

    PerUserOrder.do_process_update = reported  # type: ignore[method-assign]
    work = SlackAdapter._work  # after the ack: the hint, the engine and the replies

    async def worked(self: SlackAdapter, client: Any, inbound: Any, hint: bool, before: Any, *rest: Any) -> None:
        try:
            await work(self, client, inbound, hint, before, *rest)
        finally:
            _say(f"h {inbound.event_id}")

    SlackAdapter._work = worked  # type: ignore[method-assign,assignment]


def _run_ptb_echo(*, concurrent: bool) -> None:
    """The bare python-telegram-bot echo bot of PTB's own examples: one sendMessage per update."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "")
        _say(f"h tg:{update.update_id}")

    async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, query.data or "")
        _say(f"h tg:{update.update_id}")

    root = os.environ["TELEGRAM_API_BASE_URL"].rstrip("/")
    builder = ApplicationBuilder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(f"{root}/bot")
    if concurrent:
        builder = builder.concurrent_updates(64)
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(tapped))
    app.run_polling(allowed_updates=["message", "callback_query"])


async def _run_bolt_echo() -> None:
    """The bare slack-bolt echo app: Bolt's own aiohttp server, one chat.postMessage per event."""
    from aiohttp import web
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = AsyncApp(signing_secret=os.environ["SLACK_SIGNING_SECRET"], client=client)

    @app.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any], say: Any) -> None:
        await say(str(event.get("text") or ""))
        _say(f"h {body.get('event_id')}")

    @app.action(re.compile(".*"))
    async def on_action(ack: Any, body: dict[str, Any], say: Any) -> None:
        await ack()
        action = body["actions"][0]
        await say(str(action.get("value") or ""))
        _say(f"h action:{body['user']['id']}:{action.get('action_ts')}")

    port = int(os.environ["SLACK_HTTP_PORT"])
    runner = web.AppRunner(app.server(port=port, path="/slack/events", host="127.0.0.1").web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


# --- the platforms, played here -----------------------------------------------------------------------------


class TimedTelegram(FakeTelegram):
    """The fake Bot API, also keeping each chat's calls and when each update got its first reply."""

    def __init__(self) -> None:
        super().__init__()
        self.by_chat: dict[int, list[Any]] = defaultdict(list)
        self.pushed_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.polling = asyncio.Event()

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if "chat_id" in params:
            chat = int(params["chat_id"])
            self.by_chat[chat].append(self.calls[-1])
            began = self.pushed_at.pop(chat, None) if method in REPLY_METHODS else None
            if began is not None:
                self.latencies.append(time.perf_counter() - began)
        return super()._answer(method, params)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.polling.set()
        return await super()._get_updates(params)

    def seen(self, chat: int, since: int) -> Seen:
        calls = self.by_chat[chat][since:]
        text = "\n".join(str(c.params.get("text", "")) for c in calls)
        return Seen(text, [(label, (data, c.message_id)) for c in calls for label, data in c.buttons()])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int, worker: Worker) -> None:
    async with asyncio.timeout(PATIENCE):
        while True:
            if worker.proc is not None and worker.proc.returncode is not None:
                raise RuntimeError(f"{worker.kind} exited:\n{worker.tail()}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.05)


@dataclass
class RunResult:
    cpu_per_update: float
    updates: int
    latencies: list[float]
    streams: dict[int, list[Any]]


Stream = dict[int, list[Any]]  # person -> what they sent, in order


def _base_env(workdir: Path) -> dict[str, str]:
    """Ours only: no BACKCOACH_/TELEGRAM_/SLACK_ variable of the caller's leaks into a worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKCOACH_", "TELEGRAM_", "SLACK_"))}
    env["BACKCOACH_DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / f'floor-{time.monotonic_ns()}.sqlite3'}"
    root = str(Path(__file__).resolve().parents[2])  # a source checkout; harmless for an installed wheel
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


async def telegram_run(kind: str, people: int, steps: int, workdir: Path, replay: Stream | None) -> RunResult:
    fake = TimedTelegram()
    await fake.start()
    env = {**_base_env(workdir), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.url}
    worker = Worker(kind, env, workdir)
    try:
        await worker.start()
        async with asyncio.timeout(PATIENCE):
            await fake.polling.wait()
        await asyncio.sleep(0.3)  # let start-up settle (set_my_commands, the first long poll)
        streams: Stream = {}

        async def person(chat: int) -> int:
            sent: list[Any] = []
            streams[chat] = sent
            mark = 0
            script = iter(replay[chat]) if replay is not None else None
            for step in itertools.count():
                if script is not None:
                    update = next(script, None)
                    if update is None:
                        break
                    update = copy.deepcopy(update)
                else:
                    if step >= steps:
                        break
                    move = next_move(step, fake.seen(chat, mark), "London") if step else ("say", "/start")
                    if move is None:
                        break
                    if move[0] == "say":
                        update = text_update(chat, move[1])
                    else:
                        data, message_id = fake.seen(chat, mark).find(move[1]) or ("", 0)
                        update = callback_update(chat, data, message_id)
                sent.append(copy.deepcopy(update))
                mark = len(fake.by_chat[chat])
                fake.pushed_at[chat] = time.perf_counter()
                update_id = fake.push(update)
                await worker.handled(f"tg:{update_id}")
            return len(sent)

        before = await worker.cpu()
        counts = await asyncio.gather(*(person(100_000 + n) for n in range(people)))
        after = await worker.cpu()
        updates = sum(counts)
        return RunResult((after - before) / max(updates, 1), updates, list(fake.latencies), streams)
    except Exception as exc:
        raise RuntimeError(f"{kind} failed ({exc!r}); its log ends:\n{worker.tail()}") from exc
    finally:
        await worker.stop()
        await fake.stop()


# --- Slack ---------------------------------------------------------------------------------------------------


class TimedSlack(FakeSlack):
    def seen(self, channel: str, since: int) -> Seen:
        """What the person sees: new messages and the living message edited in place (chat.update)."""
        methods = ("chat.postMessage", "chat.update")
        calls = [c for c in self.calls[since:] if c.args.get("channel") == channel and c.method in methods]
        text = "\n".join(str(c.args.get("text", "")) for c in calls)
        buttons = [
            (e["text"]["text"], (c, block, e))
            for c in calls
            for block in c.args.get("blocks", []) or []
            if block.get("type") == "actions"
            for e in block["elements"]
        ]
        return Seen(text, buttons)


_ids = itertools.count(1)


def _sign(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def dm_body(user: str, text: str) -> tuple[str, str, str]:
    """(body, content type, the key the bot reports when done) for a direct message, as Slack posts it."""
    event_id = f"Ev{next(_ids):08d}"
    event = {"type": "message", "channel_type": "im", "channel": f"D{user}", "user": user, "text": text}
    event["ts"] = f"{time.time():.6f}"
    body = {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A1",
        "type": "event_callback",
        "event": event,
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": f"UBOT{TEAM}", "is_bot": True}],
    }
    return json.dumps(body), "application/json", event_id


def tap_body(
    user: str, message: dict[str, Any], block: dict[str, Any], element: dict[str, Any]
) -> tuple[str, str, str]:
    """A block_actions payload for tapping `element` of the message Slack shows with timestamp message["ts"]."""
    action_ts = f"{int(time.time())}.{next(_ids):06d}"
    channel = f"D{user}"
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM, "domain": "x"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": f"trig{next(_ids)}",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "directmessage"},
        "message": {"type": "message", **message},
        "actions": [
            {
                "type": "button",
                "action_id": element["action_id"],
                "block_id": block["block_id"],
                "text": element["text"],
                "value": element["value"],
                "action_ts": action_ts,
            }
        ],
    }
    key = f"action:{user}:{action_ts}"
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", key


async def slack_run(kind: str, people: int, steps: int, workdir: Path, replay: Stream | None) -> RunResult:
    fake = TimedSlack(tokens={SLACK_TOKEN: TEAM})
    await fake.start()
    port = free_port()
    env = {
        **_base_env(workdir),
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_API_URL": fake.api_url,
        "SLACK_HTTP_HOST": "127.0.0.1",
        "SLACK_HTTP_PORT": str(port),
    }
    worker = Worker(kind, env, workdir)
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        await worker.start()
        await wait_listening(port, worker)
        await asyncio.sleep(0.3)
        streams: Stream = {}
        acks: list[float] = []  # request -> Slack's answer (the ack), which Slack wants within 3 s
        async with aiohttp.ClientSession() as http:

            async def post(body: str, content_type: str) -> None:
                headers = {"Content-Type": content_type, **_sign(body)}
                began = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                acks.append(time.perf_counter() - began)

            async def person(n: int) -> int:
                user, sent = f"U{n}", list[Any]()
                streams[n] = sent
                script = iter(replay[n]) if replay is not None else None
                mark = 0
                for step in itertools.count():
                    if script is not None:
                        move = next(script, None)
                        if move is None:
                            break
                    else:
                        if step >= steps:
                            break
                        move = ("say", "hello") if not step else next_move(step, fake.seen(f"D{user}", mark), "")
                        if move is None:
                            break
                        if move[0] == "tap":
                            found = fake.seen(f"D{user}", mark).find(move[1])
                            if found is None:
                                break
                            call, block, element = found
                            message = {"ts": call.response["ts"], "text": call.args.get("text"), "blocks": []}
                            move = ("tap", message, block, element)
                    sent.append(move)
                    if move[0] == "say":
                        body, content_type, key = dm_body(user, str(move[1]))
                    else:
                        body, content_type, key = tap_body(user, *move[1:])
                    mark = len(fake.calls)
                    await post(body, content_type)
                    await worker.handled(key)
                return len(sent)

            before = await worker.cpu()
            counts = await asyncio.gather(*(person(n) for n in range(people)))
            after = await worker.cpu()
        updates = sum(counts)
        return RunResult((after - before) / max(updates, 1), updates, acks, streams)
    except Exception as exc:
        raise RuntimeError(f"{kind} failed ({exc!r}); its log ends:\n{worker.tail()}") from exc
    finally:
        await worker.stop()
        await fake.close()


# --- figures -------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


@dataclass
class Pairs:
    ours: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)

    def add(self, ours: float, peer: float) -> None:
        self.ours.append(ours)
        self.peer.append(peer)

    def ratio(self) -> float:
        return statistics.median(o / p for o, p in zip(self.ours, self.peer, strict=True) if p)


async def run(pairs: int, people: int, steps: int, only: str | None, out: Callable[[str], None]) -> None:
    out(f"floor benchmark: {pairs} interleaved pairs, {people} people each, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="backcoach-floor-") as tmp:
        workdir = Path(tmp)
        if only in (None, "telegram"):
            seq, conc = Pairs(), Pairs()
            p50, p99 = Pairs(), Pairs()
            replies: list[float] = []
            for index in range(pairs):
                ours = await telegram_run("backcoach-telegram", people, steps, workdir, None)
                bare = await telegram_run("ptb-sequential", people, steps, workdir, ours.streams)
                wide = await telegram_run("ptb-concurrent", people, steps, workdir, ours.streams)
                seq.add(ours.cpu_per_update, bare.cpu_per_update)
                conc.add(ours.cpu_per_update, wide.cpu_per_update)
                p50.add(percentile(ours.latencies, 50), percentile(bare.latencies, 50))
                p99.add(percentile(ours.latencies, 99), percentile(bare.latencies, 99))
                replies.append(ours.updates)
                out(
                    f"  pair {index + 1}: {ours.updates} updates; CPU/update"
                    f" BackCoach {ours.cpu_per_update * 1e3:.2f} ms, PTB sequential {bare.cpu_per_update * 1e3:.2f} ms,"
                    f" PTB concurrent {wide.cpu_per_update * 1e3:.2f} ms;"
                    f" first reply p50/p99 BackCoach {p50.ours[-1] * 1e3:.0f}/{p99.ours[-1] * 1e3:.0f} ms,"
                    f" PTB {p50.peer[-1] * 1e3:.0f}/{p99.peer[-1] * 1e3:.0f} ms"
                )
            med = statistics.median
            out("telegram (polling), the same stream per pair:")
            out(
                f"  CPU per inbound update: BackCoach {med(seq.ours) * 1e3:.2f} ms; bare PTB echo sequential"
                f" {med(seq.peer) * 1e3:.2f} ms -> ratio {seq.ratio():.2f}x (goal <= 1.5x);"
                f" with concurrent_updates(64) {med(conc.peer) * 1e3:.2f} ms -> ratio {conc.ratio():.2f}x"
            )
            out(
                f"  update -> first reply p50 / p99:"
                f" BackCoach {med(p50.ours) * 1e3:.0f} / {med(p99.ours) * 1e3:.0f} ms;"
                f" bare PTB sequential {med(p50.peer) * 1e3:.0f} / {med(p99.peer) * 1e3:.0f} ms -> ratio"
                f" {p50.ratio():.2f}x / {p99.ratio():.2f}x (goal p50 < 50 ms, p99 < 150 ms)"
            )
        if only in (None, "slack"):
            slack, ack50, ack99 = Pairs(), Pairs(), Pairs()
            for index in range(pairs):
                ours = await slack_run("backcoach-slack", people, steps, workdir, None)
                bare = await slack_run("bolt", people, steps, workdir, ours.streams)
                slack.add(ours.cpu_per_update, bare.cpu_per_update)
                ack50.add(percentile(ours.latencies, 50), percentile(bare.latencies, 50))
                ack99.add(percentile(ours.latencies, 99), percentile(bare.latencies, 99))
                out(
                    f"  pair {index + 1}: {ours.updates} events;"
                    f" CPU/event BackCoach {ours.cpu_per_update * 1e3:.2f} ms,"
                    f" bare slack-bolt {bare.cpu_per_update * 1e3:.2f} ms;"
                    f" ack p50/p99 BackCoach {ack50.ours[-1] * 1e3:.0f}/{ack99.ours[-1] * 1e3:.0f} ms,"
                    f" slack-bolt {ack50.peer[-1] * 1e3:.0f}/{ack99.peer[-1] * 1e3:.0f} ms"
                )
            out("slack (HTTP events and interactivity), the same stream per pair:")
            out(
                f"  CPU per event: BackCoach {statistics.median(slack.ours) * 1e3:.2f} ms; bare slack-bolt echo"
                f" {statistics.median(slack.peer) * 1e3:.2f} ms -> ratio {slack.ratio():.2f}x (goal <= 1.5x)"
            )
            out(
                f"  request -> ack p50 / p99: BackCoach {statistics.median(ack50.ours) * 1e3:.0f} /"
                f" {statistics.median(ack99.ours) * 1e3:.0f} ms; bare slack-bolt"
                f" {statistics.median(ack50.peer) * 1e3:.0f} / {statistics.median(ack99.peer) * 1e3:.0f} ms"
                " (Slack's limit 3 s; aim p99 < 300 ms)"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench floor", description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5, help="interleaved A/B pairs (the ratio is their median)")
    parser.add_argument("--people", type=int, default=16, help="people driving the bot at once")
    parser.add_argument("--steps", type=int, default=24, help="most updates one person sends per run")
    parser.add_argument("--only", choices=["telegram", "slack"])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return
    asyncio.run(run(args.pairs, args.people, args.steps, args.only, lambda line: print(line, flush=True)))


if __name__ == "__main__":
    main()
