"""`thorbot serve`: the Slack HTTP endpoint on $PORT."""

from __future__ import annotations

import asyncio
import logging

from thorbot.adapters.session_store import SessionStore
from thorbot.runtime import open_context, require, slack_client
from thorbot.serve.app import build_app, close_app
from thorbot.serve.thor_webhook import ThorWebhook
from thorbot.serve.web import build_web_app, start_site
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def run_serve(settings: Settings, stop: asyncio.Event, host: str = "0.0.0.0") -> int:  # noqa: S104
    require(settings, "serve")
    assert settings.slack_signing_secret is not None
    async with open_context(settings) as ctx:
        secret = settings.slack_signing_secret.get_secret_value()
        bolt = build_app(ctx, slack_client(settings), secret)
        webhook = ThorWebhook(settings, SessionStore(ctx.redis), ctx.clock) if settings.thor_webhook_token else None
        runner = await start_site(build_web_app(bolt, ctx.redis, secret, webhook), host, settings.port)
        ctx.reports.warm()
        log.info("thorbot serve listening on %s:%d (POST /slack/events, GET /healthz)", host, settings.port)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await close_app(bolt)
    return 0
