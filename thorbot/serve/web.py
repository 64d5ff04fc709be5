"""HTTP entry point for `thorbot serve`: POST /slack/events, GET /healthz (alive), GET /readyz (Redis and a
recent worker cycle), GET /metrics (with THORBOT_METRICS_TOKEN), POST /thor/notifications/<token>,
POST /pagerduty/webhook.

Slack's signature is checked here, on the raw body, before anything parses it: an unsigned or
forged request costs one short log line and a 401, whatever its body holds.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from thorbot.adapters.health_store import HealthStore
from thorbot.adapters.metrics import CONTENT_TYPE, Metrics, WorkerStatusStore
from thorbot.adapters.slack import SignatureVerifier
from thorbot.adapters.store import RedisDown
from thorbot.domain.notify import ThorHealth
from thorbot.errors import ConfigError
from thorbot.serve.pager import PagerDutyWebhook
from thorbot.serve.report_page import ReportPage
from thorbot.serve.thor_webhook import ThorWebhook

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # Slack payloads are small; refuse anything absurd before signature checks


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class Watch:
    """How serve lets itself be watched: `/metrics` behind a bearer token (None: no such route), and how old
    the worker's last cycle may be before `/readyz` says not ready (5 poll intervals). `metrics`: the process's
    registry, which `/metrics` shows and slash commands' acks are timed in (runtime passes the context's; a Watch
    built without one, in a benchmark, counts into its own)."""

    metrics_token: str | None = None
    cycle_stale_after: float = 300.0
    clock: Callable[[], datetime] = utc_now
    metrics: Metrics = field(default_factory=Metrics)


def build_web_app(bolt: AsyncApp, health: HealthStore, worker: WorkerStatusStore, signing_secret: str,
                  webhook: ThorWebhook | None = None,
                  pagerduty: PagerDutyWebhook | None = None, watch: Watch | None = None,
                  report_page: ReportPage | None = None) -> web.Application:
    """`thorbot serve`'s routes: Slack's events, the health checks, metrics when a token is set, and Thor's
    and PagerDuty's webhooks when configured."""
    verifier = SignatureVerifier(signing_secret)
    watch = watch or Watch()

    async def slack_events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = (await request.read()).decode("utf-8", errors="replace")
        try:
            return await _slack_events(request, body)
        finally:
            if request.content_type != "application/json" and (body.startswith("command=") or "&command=" in body):
                watch.metrics.slash_ack.observe(time.perf_counter() - started)

    async def _slack_events(request: web.Request, body: str) -> web.Response:
        if not _signed(verifier, body, request.headers.get("X-Slack-Request-Timestamp", ""),
                       request.headers.get("X-Slack-Signature", "")):
            log.warning("refused an unsigned or badly signed request (%d bytes from %s)", len(body), request.remote)
            return web.json_response({"error": "invalid signature"}, status=401)
        if not _readable(body, request.content_type):  # signed, yet not a Slack payload: `payload=[1]`, `null`
            log.warning("refused a signed request whose body cannot be parsed (%d bytes)", len(body))
            return web.json_response({"error": "unreadable body"}, status=400)
        bolt_request = await to_bolt_request(request)
        bolt_response = await bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/slack/events", slack_events)
    HealthRoutes(health, worker, watch).route(app)
    if webhook is not None:
        webhook.route(app)
    if pagerduty is not None:
        pagerduty.route(app)
    if report_page is not None:
        report_page.route(app)
    return app


def build_metrics_app(health: HealthStore, own: Metrics, token: str | None) -> web.Application:
    """The worker's own `/metrics` (THORBOT_METRICS_PORT, for VMs and Kubernetes): its figures (`own`, the process's
    registry) and the outbox's; behind the bearer token when THORBOT_METRICS_TOKEN is set."""

    async def route(request: web.Request) -> web.Response:
        return await metrics_response(request, health, own, token, "worker")

    app = web.Application()
    app.router.add_get("/metrics", route)
    return app


class HealthRoutes:
    """/healthz (the process is alive and Redis answers), /readyz (and a worker cycled recently), /metrics."""

    def __init__(self, health: HealthStore, worker: WorkerStatusStore, watch: Watch) -> None:
        self.health, self.worker, self.watch = health, worker, watch

    def route(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        if self.watch.metrics_token:  # serve is public: without a token the route does not exist (404)
            app.router.add_get("/metrics", self.metrics)

    async def healthz(self, _: web.Request) -> web.Response:
        try:
            await self.health.ping()
        except RedisDown:
            return web.json_response({"ok": False, "redis": "unreachable"}, status=503)
        return web.json_response({"ok": True, "redis": "ok"})

    async def readyz(self, _: web.Request) -> web.Response:
        """Ready: Redis answers, a worker completed a cycle recently (else no alert is going out), and the worker's
        last call to Thor succeeded (a poll; with nothing watched yet, its probe of Thor: worker/poller.py)."""
        try:
            await self.health.ping()
            last = await self.worker.last_cycle()
            thor = await self.health.thor_health()
        except RedisDown:
            return web.json_response({"ready": False, "redis": "unreachable"}, status=503)
        age = (self.watch.clock() - last).total_seconds() if last else None
        fresh = age is not None and age <= self.watch.cycle_stale_after
        ready = fresh and thor.failures == 0
        body: dict[str, object] = {"ready": ready, "redis": "ok",
                                   "worker_last_cycle": last.isoformat() if last else None,
                                   "worker_cycle_age_seconds": round(age, 1) if age is not None else None,
                                   "thor": "ok" if thor.failures == 0 else f"failing: {thor.code}"}
        if not ready:
            body["why"] = _not_ready(age, fresh, thor)
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return await metrics_response(request, self.health, self.watch.metrics, self.watch.metrics_token, "serve")


def _not_ready(age: float | None, fresh: bool, thor: ThorHealth) -> str:
    if age is None:
        return "no worker has completed a cycle yet"
    if not fresh:
        return f"the worker's last cycle ended {age:.0f} s ago"
    since = f" since {thor.since:%Y-%m-%d %H:%M:%S} UTC" if thor.since else ""
    return f"the worker's last call to Thor failed ({thor.code}; {thor.failures} in a row{since})"


async def metrics_response(request: web.Request, health: HealthStore, own: Metrics, token: str | None,
                           process: str) -> web.Response:
    """One scrape, behind the bearer token when there is one (serve's route exists only with a token)."""
    if token and not hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                         f"Bearer {token}".encode()):
        return web.json_response({"error": "a bearer token (THORBOT_METRICS_TOKEN) is needed"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
    try:
        text = await health.scrape(own, process)
    except RedisDown:
        return web.json_response({"error": "Redis unreachable"}, status=503)
    return web.Response(body=text, headers={"Content-Type": CONTENT_TYPE})


def _readable(body: str, content_type: str) -> bool:
    """Whether a body is what Slack sends: a JSON object, or a form whose `payload` (if any) is one."""
    try:
        if content_type == "application/json":
            return isinstance(json.loads(body), dict)
        payload = parse_qs(body).get("payload")
        return payload is None or isinstance(json.loads(payload[0]), dict)
    except (ValueError, RecursionError):
        return False


def _signed(verifier: SignatureVerifier, body: str, timestamp: str, signature: str) -> bool:
    try:
        return bool(timestamp.isdigit() and signature and verifier.is_valid(body=body, timestamp=timestamp,
                                                                            signature=signature))
    except (ValueError, TypeError):
        return False


async def start_site(app: web.Application, host: str, port: int, setting: str = "PORT") -> web.AppRunner:
    """`app` listening on host:port; a port that cannot be had (in use, privileged) is a setting to fix, said in
    one line naming `setting`, not a traceback."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ConfigError(f"{setting}={port}: cannot listen on {host}:{port} ({reason}); "
                          f"choose a free port") from None
    return runner
