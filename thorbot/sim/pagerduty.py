"""Fake pagers for tests, the demo and benchmarks, written from the public docs (over loopback HTTP).

`FakePagerDuty` is PagerDuty's Events API v2 (`POST /v2/enqueue`; PagerDuty developer docs, events-API-v2:
202 with `{"status": "success", "dedup_key": …}`; 400 for an invalid event; 429 past about 120 events a
minute per routing key; a trigger on an open alert's `dedup_key` joins that alert; acknowledge and
resolve act on the open alert and are dropped otherwise) and the sender of its v3 webhooks
(`X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>`). A well-formed key it does not know is a
404, one revoked a 403 (what the issue asks thorbot to survive). `FakeWebhookReceiver` is a receiver of
thorbot's signed webhook that checks `X-Thorbot-Signature` and counts repeats by event id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

RATE_PER_MINUTE = 120
SEVERITIES = {"critical", "error", "warning", "info"}
_KEY = re.compile(r"^[A-Za-z0-9]{32}$")
Listener = Callable[[str, dict[str, Any]], None]


@dataclass
class PagerAlert:
    dedup_key: str
    routing_key: str
    summary: str
    status: str = "triggered"  # triggered, acknowledged, resolved
    triggers: int = 1          # trigger events applied to it (repeats land here, not in a new alert)
    events: list[str] = field(default_factory=list)


@dataclass
class PagerFaults:
    statuses: list[int] = field(default_factory=list)  # answer the next requests with these, event not taken
    land_then: list[int] = field(default_factory=list)  # take the next events, but answer these (a lost 202)
    hang: asyncio.Event | None = None                   # hold every request until set
    retry_after: str | None = None                      # the Retry-After header sent with `statuses`


class FakePagerDuty:
    def __init__(self, keys: set[str] | None = None) -> None:
        self.keys: set[str] = set(keys or ())
        self.revoked: set[str] = set()
        self.alerts: dict[str, list[PagerAlert]] = defaultdict(list)  # dedup_key → alerts, newest last
        self.requests: list[dict[str, Any]] = []                        # every event taken, in order
        self.faults = PagerFaults()
        self.listeners: list[Listener] = []
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self.base_url = ""

    @property
    def events_url(self) -> str:
        return self.base_url + "/v2/enqueue"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self.enqueue)
        return app

    def open_alert(self, dedup_key: str) -> PagerAlert | None:
        alerts = self.alerts.get(dedup_key) or []
        return alerts[-1] if alerts and alerts[-1].status != "resolved" else None

    def incidents(self) -> list[PagerAlert]:
        return [a for alerts in self.alerts.values() for a in alerts]

    async def enqueue(self, request: web.Request) -> web.Response:
        if self.faults.hang is not None:
            await self.faults.hang.wait()
        if self.faults.statuses:
            headers = {"Retry-After": self.faults.retry_after} if self.faults.retry_after is not None else None
            return web.json_response({"status": "error", "message": "fault"}, status=self.faults.statuses.pop(0),
                                     headers=headers)
        try:
            event = json.loads(await request.read())
        except ValueError:
            return _invalid("Event object is invalid: not JSON")
        problem = _problem(event)
        if problem:
            return _invalid(problem)
        key = event["routing_key"]
        if key in self.revoked:
            return web.json_response({"status": "error", "message": "Forbidden"}, status=403)
        if key not in self.keys:
            return web.json_response({"status": "error", "message": "Not Found"}, status=404)
        window = self._recent[key]
        now = time.monotonic()
        while window and window[0] < now - 60:
            window.popleft()
        if len(window) >= RATE_PER_MINUTE:
            return web.json_response({"status": "throttle exceeded"}, status=429)
        window.append(now)
        dedup = str(event.get("dedup_key") or uuid.uuid4().hex)
        self._apply(event, dedup)
        if self.faults.land_then:
            return web.json_response({"status": "error"}, status=self.faults.land_then.pop(0))
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup}, status=202)

    def _apply(self, event: dict[str, Any], dedup: str) -> None:
        action = event["event_action"]
        self.requests.append(event)
        alert = self.open_alert(dedup)
        if action == "trigger":
            if alert is None:
                alert = PagerAlert(dedup, event["routing_key"], event["payload"]["summary"])
                self.alerts[dedup].append(alert)
            else:
                alert.triggers += 1
        elif alert is not None and alert.routing_key == event["routing_key"]:
            alert.status = "acknowledged" if action == "acknowledge" else "resolved"
        if alert is not None:
            alert.events.append(action)
        for listener in self.listeners:
            listener(action, event)

    async def send_webhook(self, http: aiohttp.ClientSession, url: str, secret: str, event_type: str,
                           dedup_key: str, agent: str = "Ana Ruiz", details: int = 0) -> int:
        """What PagerDuty POSTs to a v3 webhook subscription when one of its incidents changes."""
        body, headers = webhook_request(secret, event_type, dedup_key, agent, details)
        async with http.post(url, data=body, headers=headers) as response:
            return response.status


def webhook_request(secret: str, event_type: str, dedup_key: str, agent: str = "Ana Ruiz",
                    details: int = 0) -> tuple[bytes, dict[str, str]]:
    """A v3 webhook's body and headers, signed with the subscription's secret. `details`: that many characters
    of the alert's body details along (an alert carries its event's custom_details, up to 512 KB)."""
    data: dict[str, Any] = {"id": "PGR0VU2", "type": "incident", "incident_key": dedup_key, "status": "acknowledged",
                            "title": "thorbot", "number": 2,
                            "service": {"id": "PIJ90N7", "summary": "Chargers", "type": "service_reference"}}
    if details:
        data["body"] = {"type": "incident_body", "details": ("0123456789abcdef" * (details // 16 + 1))[:details]}
    body = json.dumps({"event": {
        "id": uuid.uuid4().hex, "event_type": event_type, "resource_type": "incident",
        "occurred_at": "2026-11-30T03:00:00.000Z",
        "agent": {"id": "PLH1HKV", "summary": agent, "type": "user_reference"}, "data": data}}).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-PagerDuty-Signature": signature}


def _invalid(message: str) -> web.Response:
    return web.json_response({"status": "invalid event", "message": "Event object is invalid", "errors": [message]},
                             status=400)


def _problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "not an object"
    if not isinstance(event.get("routing_key"), str) or not _KEY.match(event["routing_key"]):
        return "'routing_key' is invalid"
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        return "'event_action' is invalid"
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        return "'dedup_key' is invalid"
    if action != "trigger":
        return None if key else "'dedup_key' is required"
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return "'payload' is missing"
    summary, source, severity = payload.get("summary"), payload.get("source"), payload.get("severity")
    if not isinstance(summary, str) or not summary or len(summary) > 1024:
        return "'payload.summary' is invalid"
    if not isinstance(source, str) or not source:
        return "'payload.source' is invalid"
    if severity not in SEVERITIES:
        return "'payload.severity' is invalid"
    if len(json.dumps(event)) > 512 * 1024:
        return "event too large"
    return None


class FakeWebhookReceiver:
    """A receiver of thorbot's signed webhook: checks the signature, keeps each event, counts repeats by id."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.repeats = 0
        self.bad_signatures = 0
        self.faults = PagerFaults()
        self.base_url = ""
        self._seen: set[str] = set()

    @property
    def url(self) -> str:
        return self.base_url + "/hook"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.receive)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        if self.faults.statuses:
            return web.json_response({}, status=self.faults.statuses.pop(0))
        body = await request.read()
        expected = "v1=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Thorbot-Signature", "")):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        event = json.loads(body)
        if event["id"] in self._seen:
            self.repeats += 1
        else:
            self._seen.add(event["id"])
            self.events.append(event)
        if self.faults.land_then:
            return web.json_response({}, status=self.faults.land_then.pop(0))
        return web.json_response({"ok": True})
