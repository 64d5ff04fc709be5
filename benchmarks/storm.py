"""Alert storm: many boxes drop at once across channels; Slack enforces 1 message/s/channel."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from thorbot.runtime import build_worker, open_context
from thorbot.settings import Settings
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import PREFIX, FakeThor
from thorbot.worker.loop import Worker


async def bench_storm(redis_url: str, *, boxes: int, channels: int) -> dict[str, Any]:
    now = datetime.now(tz=UTC).replace(microsecond=0)
    clock = {"now": now}
    fleet = Fleet.generate(boxes, seed=9, now=now)
    thor = FakeThor(fleet, "k")
    slack = FakeSlack("xoxb-storm")
    slack.faults.rate_limit_per_channel = 1.0
    thor_server = await LoopbackServer(thor.app()).start()
    slack_server = await LoopbackServer(slack.app()).start()
    admin: Redis = Redis.from_url(redis_url, decode_responses=True)
    await admin.flushdb()
    await admin.aclose()
    settings = Settings(thor_api_key="k", thor_api_url=thor_server.url + PREFIX, redis_url=redis_url,
                        slack_api_url=slack_server.url + "/api/", slack_bot_token="xoxb-storm", thor_retries=0)
    async with open_context(settings, clock=lambda: clock["now"]) as ctx:
        ids = list(fleet.boxes)
        per = max(1, len(ids) // channels)
        for c in range(channels):
            await ctx.stores.subscriptions.subscribe(f"C{c:04d}", ids[c * per:(c + 1) * per])
        result = await _storm(build_worker(ctx, worker_id="storm"), fleet, slack, clock, now, settings, channels)
    result["boxes"] = boxes
    await thor_server.stop()
    await slack_server.stop()
    return result


async def _storm(worker: Worker, fleet: Fleet, slack: FakeSlack, clock: dict[str, datetime], now: datetime,
                 settings: Settings, channels: int) -> dict[str, Any]:
    for box in fleet.boxes.values():
        box.last_heartbeat = now
    await worker.tick(poll=True)
    for box in fleet.boxes.values():
        box.connected = False
    clock["now"] = now + timedelta(seconds=10)
    await worker.tick(poll=True)
    clock["now"] = now + timedelta(seconds=10 + settings.disconnect_grace)
    started = time.perf_counter()
    await worker.tick(poll=True)
    while len({m.channel for m in slack.messages}) < channels and time.perf_counter() - started < 60:
        await worker.tick(poll=False)
    elapsed = time.perf_counter() - started
    return {"channels": channels, "seconds_until_all_alerted": elapsed,
            "slack_calls": slack.count("chat.postMessage"), "messages": len(slack.messages),
            "rate_limited": sum(1 for c in slack.calls if c.status == 429)}
