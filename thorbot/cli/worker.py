"""`thorbot worker`: the periodic poll job and alert delivery."""

from __future__ import annotations

import asyncio
import logging

from thorbot.runtime import build_worker, open_context, require
from thorbot.serve.web import build_metrics_app, start_site
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event, host: str = "0.0.0.0") -> int:  # noqa: S104
    require(settings, "worker")
    async with open_context(settings) as ctx:
        worker = build_worker(ctx)
        runner = None
        if settings.metrics_port:
            token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
            runner = await start_site(build_metrics_app(ctx.redis, token), host, settings.metrics_port)
            log.info("worker metrics on %s:%d/metrics", host, settings.metrics_port)
        log.info("worker %s polling every %.0fs", worker.id, settings.poll_interval)
        try:
            await worker.run(stop)
        finally:
            if runner is not None:
                await runner.cleanup()
    return 0
