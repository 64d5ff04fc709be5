"""`thorbot worker`: the periodic poll job and alert delivery."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.store import Store
from thorbot.runtime import AppContext, open_context, require, slack_client
from thorbot.settings import Settings
from thorbot.worker.loop import Worker

log = logging.getLogger(__name__)


async def worker_loop(ctx: AppContext, client: AsyncWebClient, stop: asyncio.Event) -> None:
    worker = Worker(ctx.settings, Store(ctx.redis), ctx.thor, client, ctx.clock,
                    worker_id=ctx.settings.worker_id or None)
    log.info("worker %s polling every %.0fs", worker.id, ctx.settings.poll_interval)
    await worker.run(stop)


async def run_worker(settings: Settings, stop: asyncio.Event) -> int:
    require(settings, "worker")
    async with open_context(settings) as ctx:
        await worker_loop(ctx, slack_client(settings), stop)
    return 0
