"""Thor REST API client: the only place that speaks HTTP to Thor and the one httpx→ThorError mapping."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import ijson

from thorbot.adapters.aiohttp_transport import AiohttpTransport
from thorbot.domain.models import Chargebox, parse_chargebox
from thorbot.errors import ChargeboxNotFound, ThorAccessDenied, ThorBadResponse, ThorError, ThorUnavailable
from thorbot.redact import redact, register_secret

log = logging.getLogger(__name__)

ACCESS_CODES = ("APIKeyNotFound", "RestAPINotEnabled", "InvalidSourceIPAddr", "ChargeboxNotActive")
KNOWN_CODES = (*ACCESS_CODES, "ChargeboxNotFound", "InternalServerError", "TooManyRequests", "BoundsTooBig")


def chargebox_path(chargebox_id: str) -> str:
    """One path segment, whatever the id holds: `/`, `..`, `%2e` and `?` cannot escape it."""
    # quote() leaves "." alone, and a bare ".." segment would be collapsed by URL normalisation.
    return "/chargeboxes/" + quote(chargebox_id, safe="").replace(".", "%2E")


def error_code(body: str) -> str | None:
    """Thor's message token from an error body; the docs never show the body's shape (Gaps #9).

    Accepts `APIKeyNotFound`, `"APIKeyNotFound"`, `{"message": "APIKeyNotFound"}`, `{"error": {...}}`
    and the like: any known token anywhere in the body wins, else a short single-word body.
    """
    text = body.strip()
    for token in KNOWN_CODES:
        if token in text:
            return token
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    for key in ("message", "error", "code", "msg"):
        if isinstance(parsed, dict) and isinstance(parsed.get(key), str):
            parsed = parsed[key]
            break
    if isinstance(parsed, str) and parsed.isidentifier() and len(parsed) <= 64:
        return parsed
    return None


class ThorClient:
    """Reads chargeboxes from Thor with explicit timeouts and bounded retries on transient failures."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_connections: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        register_secret(api_key)
        self._retries = retries
        self._backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"X-Api-Key": api_key, "Accept": "application/json", "User-Agent": "thorbot"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport or AiohttpTransport(max_connections=max_connections),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_chargebox(self, chargebox_id: str) -> Chargebox:
        try:
            data = await self._get_json(chargebox_path(chargebox_id), params=None)
        except ThorError as exc:
            if exc.code == "ChargeboxNotFound" or (exc.status == 404 and exc.code in ("http_404", "NotFound")):
                raise ChargeboxNotFound(chargebox_id) from None
            raise
        return self._parse_box(data)

    async def get_many(self, box_ids: list[str], *, concurrency: int) -> dict[str, Chargebox | None | ThorError]:
        """Fetch several boxes, at most `concurrency` at a time: the box, None for 404, or the error."""
        gate = asyncio.Semaphore(concurrency)

        async def one(box_id: str) -> Chargebox | None | ThorError:
            async with gate:
                try:
                    return await self.get_chargebox(box_id)
                except ChargeboxNotFound:
                    return None
                except ThorError as exc:
                    return exc

        return dict(zip(box_ids, await asyncio.gather(*(one(i) for i in box_ids)), strict=True))

    async def list_chargeboxes(self, *, only_active: bool = False) -> list[Chargebox]:
        boxes: list[Chargebox] = []
        for raw in await self.list_raw(only_active=only_active):
            try:
                boxes.append(self._parse_box(raw))
            except ThorBadResponse:
                log.warning("skipping an unreadable chargebox entry in Thor's list")
        return boxes

    async def list_raw(self, *, only_active: bool = False) -> list[dict[str, Any]]:
        return list(await self.iter_list_raw(only_active=only_active))

    async def iter_list_raw(self, *, only_active: bool = False) -> Iterator[dict[str, Any]]:
        """The list endpoint's entries, parsed one at a time as the caller iterates.

        A 50,000-box list is ~37 MB of JSON; parsing it whole costs ~200 MB of Python objects, so
        entries are decoded lazily (ijson) and can be judged and dropped one by one. Iterating may
        raise ThorBadResponse if the body turns out to be malformed part-way.
        """
        body = await self._get_body("/chargeboxes", params={"onlyactive": "true" if only_active else "false"})
        start = next((chunk.lstrip()[:1] for chunk in body if chunk.strip()), b"")
        if start == b"[":
            prefix = "item"
        elif start == b"{":  # not documented, but tolerate a {count, items} envelope like /reservations
            prefix = "items.item"
        else:
            raise ThorBadResponse("expected a JSON array of chargeboxes", code="bad_list")
        return _entries(body, prefix)

    def _parse_box(self, raw: Any) -> Chargebox:
        if isinstance(raw, dict):
            _register_tokens(raw)
        try:
            return parse_chargebox(raw)
        except ValueError as exc:
            raise ThorBadResponse("unreadable chargebox object", code="bad_chargebox") from exc

    async def _get_json(self, path: str, params: dict[str, str] | None) -> Any:
        body = b"".join(await self._get_body(path, params))
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ThorBadResponse("Thor sent a body that is not JSON", code="bad_json") from exc

    async def _get_body(self, path: str, params: dict[str, str] | None) -> list[bytes]:
        attempt = 0
        while True:
            try:
                return await self._get_once(path, params)
            except ThorUnavailable as exc:
                if attempt >= self._retries:
                    raise
                attempt += 1
                delay = self._backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                log.info("Thor %s failed (%s); retry %d/%d in %.1fs", path[:60], exc.code, attempt,
                         self._retries, delay)
                await asyncio.sleep(delay)

    async def _get_once(self, path: str, params: dict[str, str] | None) -> list[bytes]:
        """The body as received, in chunks: never joined for big lists, so it is held in memory once."""
        try:
            response = await self._http.send(self._http.build_request("GET", path, params=params), stream=True)
            try:
                if response.status_code != 200:
                    await response.aread()
                    raise _status_error(response)
                return [chunk async for chunk in response.aiter_bytes()]
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise ThorUnavailable("Thor did not answer in time", code="timeout") from exc
        except httpx.TransportError as exc:
            raise ThorUnavailable(f"cannot reach Thor: {type(exc).__name__}", code="connect") from exc


class _ChunkReader:
    """A file-like view of received chunks that lets each chunk go as soon as the parser has read it."""

    def __init__(self, chunks: list[bytes]) -> None:
        chunks.reverse()
        self._chunks = chunks
        self._current = b""

    def read(self, size: int = -1) -> bytes:
        while not self._current and self._chunks:
            self._current = self._chunks.pop()
        if size < 0 or size >= len(self._current):
            data, self._current = self._current, b""
            return data
        data, self._current = self._current[:size], self._current[size:]
        return data


def _entries(body: list[bytes], prefix: str) -> Iterator[dict[str, Any]]:
    try:
        for raw in ijson.items(_ChunkReader(body), prefix, use_float=True, buf_size=256 * 1024):
            if isinstance(raw, dict) and raw.get("id") not in (None, ""):
                _register_tokens(raw)
                yield raw
    except ijson.JSONError as exc:
        raise ThorBadResponse("Thor sent a list that is not valid JSON", code="bad_json") from exc


def _register_tokens(raw: dict[str, Any]) -> None:
    connectors = raw.get("connectors")
    if isinstance(connectors, list):
        for connector in connectors:
            if isinstance(connector, dict):
                token = connector.get("token")
                if isinstance(token, str):
                    register_secret(token)


def _status_error(response: httpx.Response) -> ThorError:
    status = response.status_code
    token = error_code(redact(response.text[:2000])) or f"http_{status}"
    message = f"Thor answered HTTP {status} {token}"
    if token in ACCESS_CODES or (status in (401, 403) and token.startswith("http_")):
        return ThorAccessDenied(message, code=token, status=status)
    if status == 404:
        return ThorError(message, code=token, status=status)
    if status >= 500 or status == 429:
        return ThorUnavailable(message, code=token, status=status)
    return ThorBadResponse(message, code=token, status=status)
