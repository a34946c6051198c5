"""`backcoach serve`: one ASGI application (Starlette under uvicorn) for both platforms, plus the scheduler.

- `POST <path of TELEGRAM_WEBHOOK_URL>`: Telegram updates, secret-token checked; answered once the update
  is in the inbox (and normally handled), 500 only when it could not be made durable.
- `POST /slack/events` (SLACK_EVENTS_PATH) and `GET /slack/install`, `/slack/oauth_redirect`: Bolt's own
  Starlette handler; listeners write the event to the inbox and ack, the work follows after the answer.
- Every POST body is limited to MAX_BODY while it is read, before any secret or signature is checked.
- `GET /healthz`: database reachable and scheduler tick recent (200, else 503). `GET /metrics`: Prometheus.

Any number of these processes may share one PostgreSQL: each runs the tick (claims use SKIP LOCKED), and
one person's events are serialised by the row lock in `repository.load_user`. A webhook whose event could
not be made durable (the database dropped) answers 5xx; Telegram and Slack deliver it again and the inbox
drops a repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters import configured_adapters
from adapters.base import share_pacers
from bot import health
from bot.app import build_engine, build_runner, wait_for_database
from bot.clock import SystemClock
from bot.config import Settings
from bot.metrics import CONTENT_TYPE, MeteredRunner, MeteredSender, Metrics, metered_engine
from bot.storage.db import make_engine
from scheduler.sender import Sender

log = logging.getLogger(__name__)

TELEGRAM_DEFAULT_PATH = "/telegram"
MAX_BODY = 1024 * 1024  # a Telegram update or a Slack payload is a few kilobytes


class TooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused (TooLarge) as soon as it passes `limit`: a huge body costs neither memory nor a
    signature check. Kept on the request, so Bolt's handler reads the same bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's cache of the body: later reads return it
    return body


def slack_timestamp_ok(request: Request) -> bool:
    """Bolt turns the timestamp header into an int and raises (a 500 and a traceback) when it is not one."""
    value = request.headers.get("x-slack-request-timestamp")
    return value is None or value.strip().isdigit()


def telegram_path(settings: Settings) -> str:
    return (
        urlparse(settings.telegram_webhook_url).path if settings.telegram_webhook_url else ""
    ) or TELEGRAM_DEFAULT_PATH


@dataclass
class Service:
    """Everything one serving process runs; built at start-up, torn down at shutdown."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    db: AsyncEngine | None = None
    engine: Any = None
    runner: MeteredRunner | None = None
    adapters: list[Any] = field(default_factory=list)
    telegram: Any = None
    slack_handler: Any = None
    started_at: float = field(default_factory=time.monotonic)

    async def start(self) -> None:
        settings = self.settings
        self.db = make_engine(settings.database_url)
        await wait_for_database(self.db, settings.db_wait_seconds)
        self.engine = engine = metered_engine(
            build_engine(self.db, SystemClock(), timedelta(seconds=settings.outbox_lease_seconds)), self.metrics
        )
        senders: dict[str, Sender] = {}
        for adapter in configured_adapters(settings, engine):
            await self._host(adapter)
            self.adapters.append(adapter)
            senders[adapter.platform] = MeteredSender(adapter.sender, self.metrics)
        if not senders:
            raise RuntimeError("backcoach serve needs Telegram or Slack configured (see backcoach check-config)")
        runner = build_runner(settings, engine, senders, MeteredRunner)
        assert isinstance(runner, MeteredRunner)
        runner.metrics = self.metrics
        share_pacers(self.adapters, runner.pacers)
        self.runner = runner
        self.started_at = time.monotonic()
        self.runner.start()
        log.info("serving", extra={"platforms": sorted(senders), "port": settings.port})

    async def _host(self, adapter: Any) -> None:
        if adapter.platform == "telegram":
            if not adapter.config.webhook_url:
                raise RuntimeError("backcoach serve needs TELEGRAM_WEBHOOK_URL (polling: use backcoach run)")
            await adapter.start_hosted()
            self.telegram = adapter
        elif adapter.platform == "slack" and not adapter.socket_mode:
            self.slack_handler = adapter.asgi_handler()
        else:
            await adapter.start()  # Slack Socket Mode: works here too, one process per app token

    async def stop(self) -> None:
        """SIGTERM (uvicorn has already stopped taking requests and let in-flight ones finish): no new
        tick, the one in flight finishes its batch, adapters close; unsent messages stay in the outbox."""
        if self.runner is not None:
            await self.runner.stop()
        for adapter in self.adapters:
            try:
                await adapter.stop()
            except Exception:
                log.exception("adapter stop failed", extra={"platform": adapter.platform})
        if self.engine is not None:
            self.engine.close()  # the SQLite writer thread finishes its event, then closes its connection
        if self.db is not None:
            await self.db.dispose()
        log.info("stopped", extra={"ticks": self.runner.ticks if self.runner else 0})


def build_app(settings: Settings) -> Starlette:
    service = Service(settings)

    async def telegram(request: Request) -> Response:
        if service.telegram is None:
            return Response(status_code=404)
        from adapters.telegram import SECRET_HEADER

        try:
            body = await read_limited(request)
        except TooLarge:
            return Response(status_code=413)
        status = await service.telegram.handle_webhook(body, request.headers.get(SECRET_HEADER, ""))
        return Response(status_code=status)

    async def slack(request: Request) -> Response:
        if service.slack_handler is None:
            return Response(status_code=404)
        if request.method == "POST":
            try:
                await read_limited(request)
            except TooLarge:
                return Response(status_code=413)
            if not slack_timestamp_ok(request):
                return Response(status_code=400)
        return await service.slack_handler.handle(request)

    async def healthz(_request: Request) -> Response:
        assert service.db is not None
        last = service.runner.last_tick_at if service.runner else None
        report = await health.check(service.db, last, settings.tick_seconds, service.started_at)
        return JSONResponse(report.as_json(), status_code=200 if report.ok else 503)

    async def metrics(_request: Request) -> Response:
        assert service.db is not None
        await service.metrics.refresh_from_database(service.db, SystemClock().now())
        service.metrics.waiting.set(sum(getattr(a, "waiting", 0) for a in service.adapters))
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            await service.start()
        except BaseException:
            await service.stop()
            raise
        try:
            yield
        finally:
            await service.stop()

    from adapters.slack import SlackOptions

    slack_path = SlackOptions().path
    routes = [
        Route(telegram_path(settings), telegram, methods=["POST"]),
        Route(slack_path, slack, methods=["POST"]),
        Route("/slack/{rest:path}", slack, methods=["GET"]),  # install page and OAuth redirect (Bolt decides)
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    return app


def serve(settings: Settings) -> int:
    """Run under uvicorn until SIGTERM/SIGINT; non-zero when start-up failed (e.g. no database in time)."""
    import uvicorn

    config = uvicorn.Config(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    server = uvicorn.Server(config)
    asyncio.run(server.serve())
    return 0 if server.started else 1
