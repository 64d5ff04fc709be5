"""Pages in a burst: a worker commits 100 incidents at once in channels that page a (fake) PagerDuty.

    python -m benchmarks.pages [--incidents 100] [--channels 100] [--runs 5]

Each channel watches one box and pages PagerDuty with the same routing key (the worst case for its
rate limit, about 120 events a minute per key); every box drops at once and the next poll commits one
incident each. Measured from the end of that poll (the commit) to each event PagerDuty took, over real
HTTP on loopback with a real Redis; and how long the last Slack alert took, with the pagers connected
and without (the same burst). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from thorbot.adapters.redis_server import EmbeddedRedis
from thorbot.adapters.secrets_box import SecretBox
from thorbot.domain.pager import PagerLink
from thorbot.runtime import build_worker, open_context
from thorbot.settings import Settings
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.pagerduty import FakePagerDuty
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import PREFIX, FakeThor

ROUTING_KEY = "BENCHROUTINGKEY00000000000000000"


async def burst(redis_url: str, incidents: int, channels: int, *, paged: bool) -> dict[str, Any]:
    now = datetime.now(tz=UTC).replace(microsecond=0)
    clock = {"now": now}
    fleet = Fleet.generate(incidents, seed=11, now=now, incident_rate=0.0)
    thor, slack, pagerduty = FakeThor(fleet, "k"), FakeSlack("xoxb-pages"), FakePagerDuty({ROUTING_KEY})
    slack.faults.rate_limit_per_channel = 1.0
    servers = [await LoopbackServer(x.app()).start() for x in (thor, slack, pagerduty)]
    thor.base_url, slack.base_url, pagerduty.base_url = servers[0].url + PREFIX, servers[1].url, servers[2].url
    taken: list[float] = []
    pagerduty.listeners.append(lambda action, event: taken.append(time.perf_counter()))
    admin: Redis = Redis.from_url(redis_url, decode_responses=True)
    await admin.flushdb()
    await admin.aclose()
    key = SecretBox.new_key()
    settings = Settings(thor_api_key="k", thor_api_url=thor.base_url, redis_url=redis_url,
                        slack_bot_token="xoxb-pages", slack_api_url=slack.base_url + "/api/", thor_retries=0,
                        secrets_key=key, pagerduty_events_url=pagerduty.events_url, slack_channel_gap=1.0,
                        allow_loopback_urls=True)
    try:
        async with open_context(settings, clock=lambda: clock["now"]) as ctx:
            ids = list(fleet.boxes)
            per = max(1, len(ids) // channels)
            for c in range(channels):
                channel = f"C{c:04d}"
                await ctx.stores.subscriptions.subscribe(channel, ids[c * per:(c + 1) * per])
                if paged:
                    await ctx.stores.pagers.set_link(channel, PagerLink(kind="pagerduty",
                                                                        sealed=ctx.secrets.seal(ROUTING_KEY)))
            worker = build_worker(ctx, worker_id="pages")
            for box in fleet.boxes.values():
                box.last_heartbeat = now
            await worker.tick(poll=True)
            for box in fleet.boxes.values():
                box.connected = False
            clock["now"] = now + timedelta(seconds=10)
            await worker.tick(poll=True)
            clock["now"] = now + timedelta(seconds=10 + settings.disconnect_grace)
            report = await worker.poller.run_once(clock["now"], worker.token)  # the commit of every incident
            committed = time.perf_counter()
            assert report.committed
            alerted = None
            while time.perf_counter() - committed < 120:
                await worker.tick(poll=False)
                if alerted is None and len({m.channel for m in slack.messages}) >= channels:
                    alerted = time.perf_counter() - committed
                if alerted is not None and (not paged or len(taken) >= channels):
                    break
            await worker.aclose()
    finally:
        for server in servers:
            await server.stop()
    delays = sorted(t - committed for t in taken)
    per_minute = Counter(int(t - committed) // 60 for t in taken)
    return {"incidents": incidents, "channels": channels, "paged": paged, "pages": len(taken),
            "slack_all_alerted_s": alerted, "page_p50_s": _pct(delays, 0.5), "page_p99_s": _pct(delays, 0.99),
            "page_max_s": delays[-1] if delays else None, "max_pages_per_minute": max(per_minute.values(), default=0)}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


async def run(incidents: int, channels: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="thorbot-pages-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis:
        assert redis.url is not None
        paged = [await burst(redis.url, incidents, channels, paged=True) for _ in range(runs)]
        plain = [await burst(redis.url, incidents, channels, paged=False) for _ in range(runs)]
    slack_paged = statistics.median(r["slack_all_alerted_s"] for r in paged)
    slack_plain = statistics.median(r["slack_all_alerted_s"] for r in plain)
    return {"incidents": incidents, "channels": channels, "runs": runs,
            "pages": paged[0]["pages"], "page_p50_s": statistics.median(r["page_p50_s"] for r in paged),
            "page_p99_s": max(r["page_p99_s"] for r in paged), "page_max_s": max(r["page_max_s"] for r in paged),
            "max_pages_per_minute": max(r["max_pages_per_minute"] for r in paged),
            "slack_all_alerted_paged_s": slack_paged, "slack_all_alerted_plain_s": slack_plain,
            "slack_slowdown": slack_paged / slack_plain if slack_plain else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.incidents, args.channels, args.runs))))


if __name__ == "__main__":
    main()
