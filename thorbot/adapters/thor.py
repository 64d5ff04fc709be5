"""Thor REST API client: the only place that speaks HTTP to Thor and the one httpx→ThorError mapping."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import ijson
import orjson

from thorbot.adapters.aiohttp_transport import MAX_BYTES_EXTENSION, AiohttpTransport, BodyTooLarge
from thorbot.adapters.metrics import Metrics, thor_endpoint
from thorbot.domain.models import Chargebox, parse_chargebox
from thorbot.domain.sessions import Finished, Session, items_of, parse_finished, parse_session
from thorbot.errors import ChargeboxNotFound, ThorAccessDenied, ThorBadResponse, ThorError, ThorRefused, ThorUnavailable
from thorbot.redact import redact, register_secret

log = logging.getLogger(__name__)

ACCESS_CODES = ("APIKeyNotFound", "RestAPINotEnabled", "InvalidSourceIPAddr", "ChargeboxNotActive")
# Thor's refusals of a command (stop, start): the command was understood and answered no.
REFUSAL_CODES = ("NotInTransaction", "WrongTransaction", "ConnectorNotValid", "AlreadyInTransaction",
                 "ChargeboxNotFree")
KNOWN_CODES = (*ACCESS_CODES, *REFUSAL_CODES, "ChargeboxNotFound", "InternalServerError", "TooManyRequests",
               "BoundsTooBig")


def chargebox_path(chargebox_id: str) -> str:
    """One path segment, whatever the id holds: `/`, `..`, `%2e` and `?` cannot escape it."""
    # quote() leaves "." alone, and a bare ".." segment would be collapsed by URL normalisation.
    return "/chargeboxes/" + quote(chargebox_id, safe="").replace(".", "%2E")


def error_code(body: str) -> str | None:
    """Thor's message token from an error body; the docs never show the body's shape (thor-api notes §1).

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


MAX_BODY_BYTES = 2 * 1024 * 1024  # one chargebox is a few KB; anything this big is not a chargebox
# A list up to this size (~5,000 boxes) is parsed whole: orjson is four times as fast as the streaming
# parser, and the objects it holds for a moment stay small. Bigger lists stream (see iter_list_raw).
WHOLE_LIST_BYTES = 4 * 1024 * 1024
T = TypeVar("T")


@dataclass
class _Shared:
    """What every view of one client shares: the connection pool and the calls in flight."""

    http: httpx.AsyncClient
    base_url: str
    max_list_bytes: int
    whole_list_bytes: int
    inflight: dict[tuple[str, ...], asyncio.Future[Any]] = field(default_factory=dict)


class ThorClient:
    """Reads chargeboxes from Thor with explicit timeouts, bounded retries and bounded response sizes.

    Identical calls that overlap share one request (single-flight): 20 people asking for the same
    box at once cost Thor one call. `interactive()` gives a view for Slack listeners: no retries,
    because a person is waiting (the listener puts one overall deadline on its whole answer).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_connections: int = 50,
        max_list_bytes: int = 256 * 1024 * 1024,
        whole_list_bytes: int = WHOLE_LIST_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        register_secret(api_key)
        self._metrics = metrics  # the process's registry (the root's); None: calls are not counted (doctor, tests)
        self._retries = retries
        self._backoff = backoff
        http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"X-Api-Key": api_key, "Accept": "application/json", "User-Agent": "thorbot"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport or AiohttpTransport(max_connections=max_connections),
            follow_redirects=False,
        )
        self._shared = _Shared(http, base_url.rstrip("/"), max_list_bytes, whole_list_bytes)
        self._owner = True

    def interactive(self) -> ThorClient:
        """A view on the same pool with no retries, for answers a person is waiting for."""
        view = copy.copy(self)
        view._retries = 0
        view._owner = False
        return view

    @property
    def base_url(self) -> str:
        return self._shared.base_url

    async def aclose(self) -> None:
        if self._owner:
            await self._shared.http.aclose()

    async def get_chargebox(self, chargebox_id: str) -> Chargebox:
        return await self._single_flight(("box", chargebox_id), lambda: self._fetch_box(chargebox_id))

    async def _fetch_box(self, chargebox_id: str) -> Chargebox:
        try:
            data = await self._get_json(chargebox_path(chargebox_id), params=None)
        except ThorError as exc:
            if exc.code == "ChargeboxNotFound":
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
        return await self._single_flight(("list", str(only_active)), lambda: self._list_boxes(only_active))

    async def _list_boxes(self, only_active: bool) -> list[Chargebox]:
        boxes: list[Chargebox] = []
        for raw in await self.list_raw(only_active=only_active):
            try:
                boxes.append(self._parse_box(raw))
            except ThorBadResponse:
                log.warning("skipping an unreadable chargebox entry in Thor's list")
        return boxes

    async def _single_flight(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]]) -> T:
        running = self._shared.inflight.get(key)
        if running is None:
            running = asyncio.ensure_future(make())
            self._shared.inflight[key] = running
            running.add_done_callback(lambda done: _settle(self._shared.inflight, key, done))
        result: T = await asyncio.shield(running)
        return result

    async def running_charges(self, chargebox: str | None = None) -> list[Session]:
        """`GET /charges/running`: every charge in progress (one call for the whole fleet), or one box's."""
        params = {"chargebox": chargebox} if chargebox else None
        body = await self._get_body("/charges/running", params, max_bytes=self._shared.max_list_bytes)
        return _stream_sessions(body, parse_session)

    async def finished_charges(self, day_from: str, day_to: str, chargebox: str | None = None) -> list[Finished]:
        """`GET /charges/finished?from=YYYYMMDD&to=YYYYMMDD` (UTC days, `to` inclusive: thor-api notes §3)."""
        params = {"from": day_from, "to": day_to, **({"chargebox": chargebox} if chargebox else {})}
        body = await self._get_body("/charges/finished", params, max_bytes=self._shared.max_list_bytes)
        return _stream_sessions(body, parse_finished)

    async def stop_charge(self, chargebox: str, connector: int, id_tag: str, transaction: int | None) -> None:
        """`POST /charges/stop`. A 200 only means Thor forwarded the command; never retried (a person asked once)."""
        body: dict[str, Any] = {"chargebox": chargebox, "connector": connector, "id_tag": id_tag}
        if transaction:
            body["transaction"] = transaction
        await self._send_once("POST", "/charges/stop", None, body, MAX_BODY_BYTES)

    async def list_raw(self, *, only_active: bool = False) -> list[dict[str, Any]]:
        try:
            return list(await self.iter_list_raw(only_active=only_active))
        except ThorStreamUnreadable:
            return list(await self.iter_list_raw(only_active=only_active, lenient=True))

    async def iter_list_raw(self, *, only_active: bool = False, lenient: bool = False) -> Iterator[dict[str, Any]]:
        """The list endpoint's entries, parsed one at a time as the caller iterates.

        A 50,000-box list is ~37 MB of JSON; parsing it whole costs ~200 MB of Python objects, so a
        list over WHOLE_LIST_BYTES is decoded lazily (ijson) and can be judged and dropped entry by entry
        (a small list is parsed whole with the lenient parser below: faster, and small). The streaming
        parser refuses numbers it cannot hold (1e400, a 400-digit integer) and Infinity/NaN; then
        iterating raises ThorStreamUnreadable, and the caller asks again with `lenient=True`, which
        parses the whole body with Python's json (those values become infinite, i.e. unreadable fields).
        Iterating may raise ThorBadResponse if the body is malformed either way.
        """
        try:
            body = await self._get_body("/chargeboxes", params={"onlyactive": "true" if only_active else "false"},
                                        max_bytes=self._shared.max_list_bytes)
        except ThorError as exc:
            if exc.status == 404:  # the list always exists: a 404 means the base URL is wrong
                raise ThorAccessDenied(f"Thor answered 404 for {redact(self.base_url)}/chargeboxes",
                                       code="EndpointNotFound", status=404) from None
            raise
        if lenient or sum(len(chunk) for chunk in body) <= self._shared.whole_list_bytes:
            return _lenient_entries(body)
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
            _strip_tokens(raw)
        try:
            return parse_chargebox(raw)
        except ValueError as exc:
            raise ThorBadResponse("unreadable chargebox object", code="bad_chargebox") from exc

    async def _get_json(self, path: str, params: dict[str, str] | None) -> Any:
        return _lenient_json(b"".join(await self._get_body(path, params, max_bytes=MAX_BODY_BYTES)))

    async def _get_body(self, path: str, params: dict[str, str] | None, *, max_bytes: int) -> list[bytes]:
        attempt = 0
        while True:
            try:
                return await self._get_once(path, params, max_bytes)
            except ThorUnavailable as exc:
                if attempt >= self._retries:
                    raise
                attempt += 1
                delay = self._backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                log.info("Thor %s failed (%s); retry %d/%d in %.1fs", path[:60], exc.code, attempt,
                         self._retries, delay)
                await asyncio.sleep(delay)

    async def _get_once(self, path: str, params: dict[str, str] | None, max_bytes: int) -> list[bytes]:
        return await self._send_once("GET", path, params, None, max_bytes)

    async def _send_once(self, method: str, path: str, params: dict[str, str] | None, body: Any,
                         max_bytes: int) -> list[bytes]:
        """The body as received, in chunks: never joined for big lists, so it is held in memory once."""
        started, outcome = time.perf_counter(), "error"
        try:
            chunks = await self._send_measured(method, path, params, body, max_bytes)
            outcome = "ok"
            return chunks
        except ThorError as exc:
            outcome = exc.code
            raise
        finally:
            if self._metrics is not None:
                self._metrics.thor_call(thor_endpoint(path), outcome, time.perf_counter() - started)

    async def _send_measured(self, method: str, path: str, params: dict[str, str] | None, body: Any,
                             max_bytes: int) -> list[bytes]:
        http = self._shared.http
        request = http.build_request(method, path, params=params, json=body,
                                     extensions={MAX_BYTES_EXTENSION: max_bytes})
        try:
            response = await http.send(request, stream=True)
            try:
                if response.status_code != 200:
                    await response.aread()
                    raise _status_error(response)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise BodyTooLarge(max_bytes)
                    chunks.append(chunk)
                return chunks
            finally:
                await response.aclose()
        except BodyTooLarge as exc:
            raise ThorBadResponse(f"Thor sent more than {exc.limit // (1024 * 1024)} MB for {path[:60]}",
                                  code="too_large") from exc
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
        yield from _usable(ijson.items(_ChunkReader(body), prefix, use_float=True, buf_size=256 * 1024))
    except ijson.JSONError as exc:
        raise ThorStreamUnreadable("Thor's list needs the lenient parser", code="bad_json") from exc


class ThorStreamUnreadable(ThorBadResponse):
    """The streaming parser gave up on the list; the lenient whole-body parser may still read it."""


def _lenient_json(body: bytes) -> Any:
    """orjson, or, for what it refuses, Python's json, which reads Infinity, NaN and 1e400 (as inf); absurdly
    long integers become inf too. (orjson reads an integer beyond 64 bits as a float: no field Thor documents
    comes near, and an id that large is then unusable, skipped and logged, rather than misread.)"""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_int=_int_or_inf)
    except (ValueError, RecursionError) as exc:
        raise ThorBadResponse("Thor sent a body that is not JSON", code="bad_json") from exc


def _int_or_inf(text: str) -> int | float:
    return int(text) if len(text) <= 300 else math.inf


def _lenient_entries(body: list[bytes]) -> Iterator[dict[str, Any]]:
    """The whole list parsed at once (raises here, before iterating, when it is not a list)."""
    data = _lenient_json(b"".join(body))
    body.clear()
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ThorBadResponse("expected a JSON array of chargeboxes", code="bad_list")
    return _usable(items)


def _usable(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The list's entries that have an id, their Nayax tokens dropped; the others skipped (logged once)."""
    skipped = 0
    for raw in items:
        box_id = raw.get("id") if type(raw) is dict else None
        if type(box_id) is str and box_id or type(box_id) is int:  # (an int, not a bool: bool is its subclass)
            connectors = raw.get("connectors")
            if type(connectors) is list:  # _strip_tokens, inline: this runs for every box of every cycle
                for connector in connectors:
                    if type(connector) is dict:
                        connector.pop("token", None)
            yield raw
        else:
            skipped += 1
    if skipped:
        log.warning("skipped %d entries of Thor's chargebox list that have no usable id", skipped)


class _ChunkView:
    """A file-like view of received chunks that leaves them in place (for a lenient second reading)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks, self._index, self._offset = chunks, 0, 0

    def read(self, size: int = -1) -> bytes:
        while self._index < len(self._chunks) and self._offset >= len(self._chunks[self._index]):
            self._index, self._offset = self._index + 1, 0
        if self._index >= len(self._chunks):
            return b""
        chunk = self._chunks[self._index]
        end = len(chunk) if size < 0 else min(len(chunk), self._offset + size)
        data, self._offset = chunk[self._offset:end], end
        return data


def _stream_sessions(body: list[bytes], parse: Callable[[Any], T | None]) -> list[T]:
    """`/charges/*` items as models, decoded one at a time like the box list: a 37 MB answer is never
    held as one big tree of dicts (each item becomes a small model at once). A body the streaming parser
    refuses (1e400, Infinity) is read leniently instead; an item that cannot be read is skipped."""
    start = next((chunk.lstrip()[:1] for chunk in body if chunk.strip()), b"")
    prefix = "item" if start == b"[" else "items.item" if start == b"{" else None
    if prefix is None:
        raise ThorBadResponse("expected a JSON array or {count, items} of charges", code="bad_json")
    parsed: list[T | None] = []
    try:
        for item in ijson.items(_ChunkView(body), prefix, use_float=True, buf_size=256 * 1024):
            parsed.append(parse(item))
    except ijson.JSONError:
        parsed = [parse(item) for item in items_of(_lenient_json(b"".join(body)))]
    skipped = sum(1 for p in parsed if p is None)
    if skipped:
        log.warning("skipped %d unreadable charge entries in Thor's answer", skipped)
    return [p for p in parsed if p is not None]


def _strip_tokens(raw: dict[str, Any]) -> None:
    """Drop the connectors' Nayax API tokens as soon as a box is read: nothing past here can leak them."""
    connectors = raw.get("connectors")
    if isinstance(connectors, list):
        for connector in connectors:
            if isinstance(connector, dict):
                connector.pop("token", None)


def _settle(inflight: dict[tuple[str, ...], asyncio.Future[Any]], key: tuple[str, ...],
            done: asyncio.Future[Any]) -> None:
    if inflight.get(key) is done:
        del inflight[key]
    if not done.cancelled():
        done.exception()  # retrieved here, so an error nobody waited for is not reported as lost


def _status_error(response: httpx.Response) -> ThorError:
    status = response.status_code
    token = error_code(redact(response.text[:2000])) or f"http_{status}"
    message = f"Thor answered HTTP {status} {token}"
    if token in ACCESS_CODES or (status in (401, 403) and token.startswith("http_")):
        return ThorAccessDenied(message, code=token, status=status)
    if token in REFUSAL_CODES:
        return ThorRefused(message, code=token, status=status)
    if status == 404:
        # Thor names a missing box ChargeboxNotFound; a bare 404 may be a wrong THOR_API_URL, so it is
        # reported as such and never taken for a deleted box (that would alert every watched box).
        return ThorError(message, code=token, status=status)
    if status >= 500 or status == 429:
        return ThorUnavailable(message, code=token, status=status)
    return ThorBadResponse(message, code=token, status=status)
