"""HTTP entry point for `thorbot serve`: POST /slack/events, GET /healthz, POST /thor/notifications/<token>,
POST /pagerduty/webhook.

Slack's signature is checked here, on the raw body, before anything parses it: an unsigned or
forged request costs one short log line and a 401, whatever its body holds.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from aiohttp import web
from redis.asyncio import Redis
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from thorbot.adapters.store import RedisDown
from thorbot.serve.pager import PagerDutyWebhook
from thorbot.serve.thor_webhook import ThorWebhook

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # Slack payloads are small; refuse anything absurd before signature checks


def build_web_app(bolt: AsyncApp, redis: Redis, signing_secret: str, webhook: ThorWebhook | None = None,
                  pagerduty: PagerDutyWebhook | None = None) -> web.Application:
    """`thorbot serve`'s routes: Slack's events, the health check, and Thor's notifications when configured."""
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: web.Request) -> web.Response:
        body = (await request.read()).decode("utf-8", errors="replace")
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

    async def healthz(_: web.Request) -> web.Response:
        try:
            await redis.ping()
        except RedisDown:
            return web.json_response({"ok": False, "redis": "unreachable"}, status=503)
        return web.json_response({"ok": True, "redis": "ok"})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    if webhook is not None:
        webhook.route(app)
    if pagerduty is not None:
        pagerduty.route(app)
    return app


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


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
