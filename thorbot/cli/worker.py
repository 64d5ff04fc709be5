"""`thorbot worker`: the periodic poll job and alert delivery."""

from __future__ import annotations

import asyncio
import logging

from thorbot.adapters.health_store import HealthStore
from thorbot.runtime import build_worker, check_slack_token, open_context, require
from thorbot.serve.web import build_metrics_app, start_site
from thorbot.settings import Settings

log = logging.getLogger(__name__)


EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (only behind THORBOT_METRICS_TOKEN)
LOOPBACK = "127.0.0.1"


def metrics_host(settings: Settings) -> str:
    """Where the worker's /metrics listens: on every address only behind a token; without one, this host alone
    (a scraper on the same machine, or a sidecar) can read it."""
    return EVERY_ADDRESS if settings.metrics_token else LOOPBACK


async def run_worker(settings: Settings, stop: asyncio.Event) -> int:
    require(settings, "worker")
    async with open_context(settings) as ctx:
        await check_slack_token(ctx, "worker")
        worker = build_worker(ctx)
        runner = None
        if settings.metrics_port:
            token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
            host = metrics_host(settings)
            runner = await start_site(build_metrics_app(HealthStore(ctx.redis), ctx.metrics, token), host,
                                      settings.metrics_port, setting="THORBOT_METRICS_PORT")
            if token:
                log.info("worker metrics on %s:%d/metrics (every address; bearer token required)", host,
                         settings.metrics_port)
            else:
                log.info("worker metrics on %s:%d/metrics (this host only: set THORBOT_METRICS_TOKEN to serve it "
                         "on every address, behind the token)", host, settings.metrics_port)
        log.info("worker %s polling every %.0fs", worker.id, settings.poll_interval)
        try:
            await worker.run(stop)
        finally:
            if runner is not None:
                await runner.cleanup()
    return 0
