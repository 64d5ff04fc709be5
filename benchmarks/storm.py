"""Alert storm: many boxes drop at once across channels; Slack enforces 1 message/s/channel."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.store import Store
from thorbot.adapters.thor import ThorClient
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
    redis: Redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.flushdb()
    store = Store(redis)
    ids = list(fleet.boxes)
    per = max(1, len(ids) // channels)
    for c in range(channels):
        await store.subscribe(f"C{c:04d}", ids[c * per:(c + 1) * per])
    settings = Settings(thor_api_key="k", thor_api_url=thor_server.url + PREFIX, redis_url=redis_url,
                        data_dir=Path("/tmp"), slack_api_url=slack_server.url + "/api/", slack_bot_token="xoxb-storm")
    client = AsyncWebClient(token="xoxb-storm", base_url=slack_server.url + "/api/")
    thor_client = ThorClient(settings.thor_api_url, "k", retries=0)
    worker = Worker(settings, store, thor_client, client, lambda: clock["now"], worker_id="storm")
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
    result = {"boxes": boxes, "channels": channels, "seconds_until_all_alerted": elapsed,
              "slack_calls": slack.count("chat.postMessage"), "messages": len(slack.messages),
              "rate_limited": sum(1 for c in slack.calls if c.status == 429)}
    await thor_client.aclose()
    await redis.aclose()
    await thor_server.stop()
    await slack_server.stop()
    return result
