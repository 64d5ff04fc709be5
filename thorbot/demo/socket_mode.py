"""`thorbot demo --slack`: a real workspace in Socket Mode against the simulated fleet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from rich.console import Console

from thorbot.runtime import open_context, require
from thorbot.settings import Settings
from thorbot.sim.fleet import Fleet


async def run_demo_slack(settings: Settings, clock: Callable[[], datetime], fleet: Fleet, stop: asyncio.Event,
                         console: Console) -> int:
    require(settings, "demo --slack")
    from thorbot.cli.socket import socket_session

    console.print(f"Connecting to Slack in Socket Mode; the simulated fleet has {len(fleet.boxes)} boxes. "
                  "In Slack, try `/chargebox list` after `/chargebox subscribe all`. Ctrl-C stops.")
    async with open_context(settings, clock=clock) as ctx:
        driver = asyncio.create_task(fleet.run(clock, stop))
        try:
            await socket_session(ctx, stop)
        finally:
            stop.set()
            await driver
    return 0
