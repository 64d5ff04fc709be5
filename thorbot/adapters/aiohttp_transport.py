"""An httpx transport on aiohttp's connection pool.

thorbot talks to Thor through httpx's API (request building, timeouts, streamed responses), but
httpcore's pool costs about 2 ms of CPU per request here, which made per-box polling CPU-bound
(benchmarks/RESULTS.md). aiohttp's pool does the same work for about a quarter of that. The
transport also enforces the response-size cap a request asks for (`MAX_BYTES_EXTENSION`).

The URL is handed over with `encoded=True`, so aiohttp/yarl never re-decodes `%2E%2E` or `%2F` in a
chargebox id: the id still reaches Thor as one percent-encoded path segment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
from yarl import URL

MAX_BYTES_EXTENSION = "thorbot.max_bytes"


class BodyTooLarge(Exception):
    """The answer is bigger than the request allows (`extensions[MAX_BYTES_EXTENSION]`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response body over {limit} bytes")
        self.limit = limit


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self._chunks:
            yield self._chunks.pop(0)


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, max_connections: int = 20) -> None:
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=30)
            # httpx decodes Content-Encoding itself, so aiohttp must hand over the raw bytes.
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        client_timeout = aiohttp.ClientTimeout(total=None, connect=timeout.get("pool"),
                                               sock_connect=timeout.get("connect"), sock_read=timeout.get("read"))
        body = await request.aread()
        try:
            async with self._client().request(
                request.method, URL(str(request.url), encoded=True), headers=request.headers.multi_items(),
                data=body or None, allow_redirects=False, timeout=client_timeout,
            ) as response:
                limit = request.extensions.get(MAX_BYTES_EXTENSION)
                if limit is not None and (response.content_length or 0) > limit:
                    raise BodyTooLarge(limit)
                # Chunks, not one joined copy: a 50,000-box list is ~37 MB (see thor.iter_list_raw).
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BodyTooLarge(limit)  # stop reading: the connection is dropped, not drained
                    chunks.append(chunk)
                return httpx.Response(status_code=response.status, headers=response.raw_headers,
                                      stream=_Chunks(chunks), request=request)
        except (TimeoutError, asyncio.TimeoutError) as exc:  # noqa: UP041 - aiohttp raises either spelling
            raise httpx.ReadTimeout(f"Thor did not answer in time ({type(exc).__name__})", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(f"cannot connect: {exc.os_error}", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"connection failed: {type(exc).__name__}", request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
