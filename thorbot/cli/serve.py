"""`thorbot serve`: the Slack HTTP endpoint on $PORT."""

from __future__ import annotations

import asyncio
import logging

from thorbot.runtime import build_serve, check_slack_token, open_context, require
from thorbot.serve.web import start_site
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def run_serve(settings: Settings, stop: asyncio.Event, host: str = "0.0.0.0") -> int:  # noqa: S104
    require(settings, "serve")
    assert settings.slack_signing_secret is not None
    async with open_context(settings) as ctx:
        installed = await check_slack_token(ctx, "serve")
        serve = build_serve(ctx, signing_secret=settings.slack_signing_secret.get_secret_value())
        if installed is not None:
            serve.app.installed.remember(installed)
        runner = await start_site(serve.web, host, settings.port)
        ctx.reports.warm()
        log.info("thorbot serve listening on %s:%d (POST /slack/events, GET /healthz, GET /readyz%s)", host,
                 settings.port, ", GET /metrics" if settings.metrics_token else "")
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await serve.aclose()
    return 0
