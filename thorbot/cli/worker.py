"""`thorbot worker`: the periodic poll job and alert delivery."""

from __future__ import annotations

import asyncio
import logging

from thorbot.runtime import build_worker, open_context, require
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event) -> int:
    require(settings, "worker")
    async with open_context(settings) as ctx:
        worker = build_worker(ctx)
        log.info("worker %s polling every %.0fs", worker.id, settings.poll_interval)
        await worker.run(stop)
    return 0
