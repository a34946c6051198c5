"""python-telegram-bot's HTTP layer on aiohttp instead of httpx: the same Bot API calls at a fraction of the CPU.

Profiling the bot (issue 16) put about half of its CPU per update in httpx + httpcore: building the request,
the pool's per-request walk over its connections (`has_expired` on each, encode/httpcore#1035), cookie
extraction. aiohttp (already a dependency: the webhook server, the Slack SDK) parses HTTP in C; measured
against the local fake Bot API it costs about a third of httpx per call. PTB makes this seam public
(`BaseRequest`): this class only moves bytes; PTB still builds every call and reads every answer.

Error messages never include the request URL: it carries the bot token.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` over one aiohttp session with at most `connection_pool_size` connections."""

    __slots__ = ("_connect", "_media_write", "_pool", "_pool_size", "_read", "_session", "_write")

    def __init__(
        self,
        connection_pool_size: int = 8,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read, self._write, self._connect, self._pool = read_timeout, write_timeout, connect_timeout, pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None  # made on the running loop (initialize)

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            # No cookie jar: the Bot API sets none, and extracting them was a cost of its own under httpx.
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        params = request_data.json_parameters if request_data else None
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        default_write = self._media_write if files else self._write
        write = default_write if isinstance(write_timeout, DefaultValue) else write_timeout
        # aiohttp has no separate write timeout: a stalled upload is bounded by the whole call's deadline.
        parts = (read, write, connect, pool)
        total = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
        timeout = aiohttp.ClientTimeout(
            total=total,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        headers = {"User-Agent": self.USER_AGENT}
        body: aiohttp.FormData | bytes | None = None
        if files:
            body = _form(params, files)
        elif params:  # encoded here: aiohttp's own path for a dict builds a multipart writer first
            body = urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors
            raise TimedOut() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from exc  # str(exc) may hold the URL


def _form(params: dict[str, Any] | None, files: dict[str, Any]) -> aiohttp.FormData:
    """Parameters and files as one multipart body, as PTB sends uploads (files: name -> (filename, content,
    mimetype), the content bytes or a file object)."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in (params or {}).items():
        form.add_field(name, value if isinstance(value, str) else json.dumps(value))
    for name, field in files.items():
        filename, content, mimetype = field
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
