"""`GET/POST /r/<code>`: the public page a sticker's QR code opens, where a driver reports a broken connector.

The code names the box and connector (domain/stickers.py: derived, revocable); the page shows the box's name
from thorbot's last seen state (no Thor call per visit) and the connector's report state, and a report goes
into the drivers' inbox for the worker (domain/driver_reports.py judges it). The page trusts nothing it is
sent: a body over MAX_BODY is refused whole, a filled-in honeypot is thanked and dropped, each source and each
connector is rate limited (a 429 page), and only the printable text of the fields is kept. A flood changes
nothing but a counter and one log line a minute.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from aiohttp import web

from thorbot.adapters.driver_limits import ReportLimits, source_key, source_of
from thorbot.adapters.metrics import Metrics
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.store import RedisDown
from thorbot.domain.driver_reports import DriverReport, Problem
from thorbot.domain.failed_starts import connector_key
from thorbot.domain.report_page import (
    HONEYPOT,
    Place,
    Status,
    language,
    read_form,
    render_form,
    render_notice,
    render_thanks,
    status_line,
)
from thorbot.domain.stickers import Located

log = logging.getLogger(__name__)
MAX_BODY = 8 * 1024  # the form is a few hundred bytes: anything far larger is not a driver
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                      "frame-ancestors 'none'"}


class StickerCodes(Protocol):
    """What a sticker's code names (None: not a code thorbot made)."""

    async def locate(self, code: str) -> Located | None: ...


@dataclass(frozen=True)
class PageSettings:
    trusted_proxy_hops: int = 0
    help_phone: str | None = None  # said on an invalid or revoked sticker's page
    timezone: str = "UTC"
    source_secret: bytes = b"thorbot"  # keys the sources' hashes (never the addresses themselves)


class ReportPage:
    def __init__(self, codes: StickerCodes, records: RecordStore, sessions: SessionStore, limits: ReportLimits,
                 settings: PageSettings, clock: Callable[[], datetime], metrics: Metrics) -> None:
        self.codes, self.records, self.sessions, self.limits = codes, records, sessions, limits
        self.settings, self.clock, self.metrics = settings, clock, metrics
        self._limited_logged: int | None = None

    def route(self, app: web.Application) -> None:
        app.router.add_get("/r/{code}", self.get)
        app.router.add_post("/r/{code}", self.post)

    async def get(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._get)

    async def post(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._post)

    async def _guarded(self, request: web.Request,
                       handle: Callable[[web.Request, str], Awaitable[web.Response]]) -> web.Response:
        lang = language(request.headers.get("Accept-Language", ""))
        try:
            return await handle(request, lang)
        except RedisDown:
            log.warning("the report page cannot reach Redis")
            return _html(render_notice(lang, "limited"), 503)

    async def _get(self, request: web.Request, lang: str) -> web.Response:
        located = await self._located(request)
        if located is None or located.revoked:
            return self._bad_sticker(lang, located)
        place = await self._place(located)
        if request.query.get("sent") == "1":
            return _html(render_thanks(lang, place))
        return _html(render_form(lang, place, status=await self._status(located, lang)))

    async def _post(self, request: web.Request, lang: str) -> web.Response:
        located = await self._located(request)
        if located is None or located.revoked:
            self._count("revoked" if located is not None else "bad_sticker")
            return self._bad_sticker(lang, located)
        body = await _read_body(request)
        if body is None:
            self._count("too_large")
            return _html(render_notice(lang, "limited"), 413)
        now = self.clock()
        address = source_of(request.remote, request.headers.get("X-Forwarded-For", ""),
                            self.settings.trusted_proxy_hops)
        source = source_key(address, self.settings.source_secret)
        if not await self.limits.allow(source, connector_key(located.box_id, located.connector), now):
            minute = int(now.timestamp()) // 60
            if self._limited_logged != minute:  # one line a minute, whatever the flood
                self._limited_logged = minute
                log.warning("the report page is refusing a flood (rate limited) on %s #%d", located.box_id[:40],
                            located.connector)
            self._count("limited")
            return _html(render_notice(lang, "limited"), 429, retry_after=60)
        try:
            fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10).items()}
        except ValueError:  # more fields than the form has: not a driver's browser
            fields = {}
        place = await self._place(located)
        values, errors = read_form(fields, lang)
        if errors:
            self._count("invalid")
            return _html(render_form(lang, place, errors=errors, values=values), 400)
        if fields.get(HONEYPOT, "").strip():  # a bot: thanked like anyone, and nothing is kept
            self._count("honeypot")
            raise web.HTTPSeeOther(f"{request.path}?sent=1", headers=HEADERS)
        await self.sessions.save_report(DriverReport(
            box_id=located.box_id, connector=located.connector, problem=Problem(values["problem"]),
            details=values["details"], contact=values["contact"], source=source, at=now))
        self._count("queued")
        raise web.HTTPSeeOther(f"{request.path}?sent=1", headers=HEADERS)  # a reload never sends twice

    def _count(self, outcome: str) -> None:
        self.metrics.driver_reports.labels(outcome).inc()

    async def _located(self, request: web.Request) -> Located | None:
        code = request.match_info.get("code", "")
        if not code or len(code) > 64 or not code.isascii() or not code.isalnum():
            return None
        return await self.codes.locate(code)

    def _bad_sticker(self, lang: str, located: Located | None) -> web.Response:
        key = "revoked" if located is not None else "invalid"
        return _html(render_notice(lang, key, self.settings.help_phone), 410 if located is not None else 404)

    async def _place(self, located: Located) -> Place:
        record = (await self.records.record_statuses([located.box_id])).get(located.box_id)
        name = (record.alias if record is not None and record.alias else None) or located.box_id
        return Place(box_name=name, connector=located.connector)

    async def _status(self, located: Located, lang: str) -> str | None:
        record = await self.sessions.connector_record(located.box_id, located.connector)
        if record is None:
            return None
        status = Status(reported=record.reported.started if record.reported is not None else None, fixed=record.fixed)
        fixed = record.fixed.astimezone(ZoneInfo(self.settings.timezone)).strftime("%H:%M") if record.fixed else None
        return status_line(status, self.clock(), lang, fixed)


async def _read_body(request: web.Request) -> bytes | None:
    """The whole body, however it arrives in segments; None when it is larger than MAX_BODY."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(MAX_BODY + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return None


def _html(text: str, status: int = 200, *, retry_after: int | None = None) -> web.Response:
    headers = dict(HEADERS)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=headers)
