"""The Thor integration API over loopback, serving a simulated Fleet, with fault injection.

Implements what docs/thor-api-notes.md records for the endpoints thorbot uses: `X-Api-Key` on every
request, `GET /chargeboxes?onlyactive=`, `GET /chargeboxes/{id}`, `GET /charges/running`,
`GET /charges/finished`, `POST /charges/stop`, the notifications Thor POSTs, and every documented error
(403 APIKeyNotFound / RestAPINotEnabled / InvalidSourceIPAddr, 404 ChargeboxNotFound,
500 InternalServerError). The docs never show an error body, so `error_style` serves the token
as plain text or inside JSON, and tests cover both.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

from aiohttp import ClientError, ClientSession, web

from thorbot.sim.fleet import Fleet

PREFIX = "/latest/integration"
ErrorStyle = Literal["plain", "json", "json-error", "quoted"]


@dataclass
class ThorFaults:
    """Knobs a test or the demo turns: everything Thor can do wrong."""

    error: str | None = None          # e.g. "InternalServerError", "RestAPINotEnabled", "InvalidSourceIPAddr"
    error_status: int = 500
    hang: bool = False                # never answer (the client must time out)
    latency: float = 0.0              # seconds added to every answer
    hold: asyncio.Event | None = None  # when set: every answer waits until the event is set (held in flight)
    list_live_fields: bool = True     # False: list entries lack connected / last_heartbeat
    error_style: ErrorStyle = "json"
    fail_next: int = 0                # fail only the next N requests with `error`
    hold_stops: asyncio.Event | None = None  # POST /charges/stop waits for this (a stop held in flight)


@dataclass
class ThorRequestLog:
    raw_paths: list[str] = field(default_factory=list)
    box_ids: list[str] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)
    list_calls: int = 0
    box_calls: int = 0
    running_calls: int = 0
    finished_calls: int = 0
    stops: list[tuple[str, int, int | None]] = field(default_factory=list)


def _error_body(token: str, style: ErrorStyle) -> tuple[str, str]:
    if style == "plain":
        return token, "text/plain"
    if style == "quoted":
        return json.dumps(token), "application/json"
    if style == "json-error":
        return json.dumps({"error": {"message": token}}), "application/json"
    return json.dumps({"message": token}), "application/json"


class FakeThor:
    def __init__(self, fleet: Fleet, api_key: str) -> None:
        self.fleet = fleet
        self.api_key = api_key
        self.base_url = ""  # set by whoever serves it: "http://127.0.0.1:PORT/latest/integration"
        self.faults = ThorFaults()
        self.log = ThorRequestLog()
        self.static = False  # benchmarks: the fleet never changes, so the list body can be cached
        self.notify_url = ""  # where Thor's notifications go (thorbot serve's webhook), if anywhere
        self._list_cache: dict[tuple[bool, bool], bytes] = {}
        self._running_cache: bytes | None = None

    def error(self, status: int, token: str) -> web.Response:
        body, content_type = _error_body(token, self.faults.error_style)
        return web.Response(status=status, text=body, content_type=content_type)

    async def _gate(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("X-Api-Key", "")
        self.log.api_keys.append(key)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if self.faults.hold is not None:
            await self.faults.hold.wait()
        if self.faults.hang:
            await asyncio.sleep(3600)
        if key != self.api_key:
            return self.error(403, "APIKeyNotFound")
        if self.faults.error:
            status = {"RestAPINotEnabled": 403, "InvalidSourceIPAddr": 403, "APIKeyNotFound": 403}.get(
                self.faults.error, self.faults.error_status)
            token = self.faults.error
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                if self.faults.fail_next == 0:
                    self.faults.error = None
            return self.error(status, token)
        return None

    async def list_boxes(self, request: web.Request) -> web.Response:
        self.log.list_calls += 1
        denied = await self._gate(request)
        if denied is not None:
            return denied
        only_active = request.query.get("onlyactive", "true").lower() in ("true", "1")
        key = (only_active, self.faults.list_live_fields)
        body = self._list_cache.get(key) if self.static else None
        if body is None:
            items = self.fleet.thor_list(only_active=only_active, live_fields=self.faults.list_live_fields)
            body = json.dumps(items).encode()
            if self.static:
                self._list_cache[key] = body
        return web.Response(body=body, content_type="application/json")

    async def get_box(self, request: web.Request) -> web.Response:
        self.log.box_calls += 1
        raw_tail = request.raw_path.split("?", 1)[0][len(PREFIX + "/chargeboxes/"):]
        self.log.raw_paths.append(request.raw_path)
        box_id = unquote(raw_tail)
        self.log.box_ids.append(box_id)
        denied = await self._gate(request)
        if denied is not None:
            return denied
        box = self.fleet.boxes.get(box_id)
        if box is None:
            return self.error(404, "ChargeboxNotFound")
        return web.Response(text=json.dumps(box.to_thor()), content_type="application/json")

    async def running(self, request: web.Request) -> web.Response:
        self.log.running_calls += 1
        denied = await self._gate(request)
        if denied is not None:
            return denied
        box = request.query.get("chargebox")
        body = self._running_cache if self.static and box is None else None
        if body is None:
            items = self.fleet.running_items(box)
            body = json.dumps({"count": len(items), "items": items, "users": {}}).encode()
            if self.static and box is None:
                self._running_cache = body
        return web.Response(body=body, content_type="application/json")

    async def finished(self, request: web.Request) -> web.Response:
        self.log.finished_calls += 1
        denied = await self._gate(request)
        if denied is not None:
            return denied
        day_from, day_to = request.query.get("from", ""), request.query.get("to", "")
        if not (day_from.isdigit() and day_to.isdigit() and len(day_from) == len(day_to) == 8):
            return self.error(400, "InvalidDate")
        items = self.fleet.finished_items(day_from, day_to, request.query.get("chargebox"))
        return web.json_response({"count": len(items), "items": items})

    async def stop(self, request: web.Request) -> web.Response:
        denied = await self._gate(request)
        if denied is not None:
            return denied
        try:
            body = await request.json()
            box_id, connector, id_tag = str(body["chargebox"]), int(body["connector"]), str(body["id_tag"])
            transaction = int(body["transaction"]) if body.get("transaction") is not None else None
        except (ValueError, KeyError, TypeError):
            return self.error(400, "InvalidRequest")
        if self.faults.hold_stops is not None:
            await self.faults.hold_stops.wait()
        self.log.stops.append((box_id, connector, transaction))
        refused = self.fleet.stop_command(box_id, connector, id_tag, transaction)
        if refused is not None:
            return self.error(404 if refused == "ChargeboxNotFound" else 400, refused)
        return web.Response(status=200)

    async def deliver_notifications(self, http: ClientSession) -> int:
        """POST what the fleet did to `notify_url`, as Thor does (nothing signed); return how many were taken."""
        if not self.notify_url:
            self.fleet.take_notifications()
            return 0
        delivered = 0
        for note in self.fleet.take_notifications():
            try:
                async with http.post(self.notify_url, json=note) as response:
                    delivered += response.status == 200
            except ClientError:
                pass  # Thor's retries are undocumented; a lost notification is what polling is for
        return delivered

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PREFIX + "/charges/running", self.running)
        app.router.add_get(PREFIX + "/charges/finished", self.finished)
        app.router.add_post(PREFIX + "/charges/stop", self.stop)
        app.router.add_get(PREFIX + "/chargeboxes", self.list_boxes)
        # One segment only; a request whose id escaped its segment would 404 on routing, not reach a box.
        app.router.add_get(PREFIX + "/chargeboxes/{box_id}", self.get_box)
        return app
