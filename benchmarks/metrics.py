"""What watching thorbot costs: the worker's metrics work per cycle at N boxes, and a scrape of serve.

    python -m benchmarks.metrics [--boxes 10000] [--scrapes 200]

Per cycle the worker tallies the fleet from the records it holds (boxes by state, open incidents by
kind), updates its registry and renders the snapshot it writes to Redis. Timed here on N records in
memory (median of 20), to be set against a list-mode cycle's CPU at the same size (RESULTS.md §1).
The scrape: serve's real `/metrics` route over loopback HTTP with a real Redis holding a worker's
exposition for N boxes; latency percentiles over `--scrapes` requests. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiohttp import web
from redis.asyncio import Redis

from thorbot.adapters import metrics
from thorbot.adapters.health_store import HealthStore
from thorbot.adapters.redis_server import EmbeddedRedis
from thorbot.domain.incidents import BoxRecord, Incident, Status
from thorbot.domain.notify import ThorHealth
from thorbot.serve.web import HealthRoutes, Watch
from thorbot.sim.loopback import LoopbackServer
from thorbot.worker.poller import Cycle, _tally

TOKEN = "bench-metrics-token"


def records(n: int) -> dict[str, BoxRecord]:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    out = {}
    for i in range(n):
        status = Status.OFFLINE if i % 50 == 0 else Status.SILENT if i % 97 == 0 else Status.ONLINE
        incident = Incident(id=f"i{i}", box_id=f"B{i}", kind=status.value, started=now - timedelta(hours=1),
                            opened=now) if status is not Status.ONLINE else None
        out[f"B{i:06d}"] = BoxRecord(status=status, since=now, incident=incident, alias=f"Box {i}")
    return out


def per_cycle(n: int) -> dict[str, float]:
    stored = records(n)
    own = metrics.Metrics()
    tallies, renders = [], []
    for _ in range(20):
        cycle = Cycle(datetime.now(tz=UTC), None, stored, {}, ThorHealth())  # type: ignore[arg-type]  # no watchers used
        t0 = time.process_time()
        _tally(cycle)
        t1 = time.process_time()
        own.cycle_done(ok=True, seconds=1.0, at=time.time(), states=cycle.report.states,
                       incidents=cycle.report.incidents)
        own.snapshot()
        t2 = time.process_time()
        tallies.append(t1 - t0)
        renders.append(t2 - t1)
    return {"tally_ms": statistics.median(tallies) * 1000, "render_ms": statistics.median(renders) * 1000}


async def scrapes(redis_url: str, count: int) -> dict[str, float]:
    redis: Redis = Redis.from_url(redis_url)
    worker = metrics.Metrics()
    for endpoint in ("/chargeboxes", "/charges/running", "/charges/finished", "/chargeboxes/{id}"):
        worker.thor_call(endpoint, "ok", 0.05)
    worker.slack_call("chat.postMessage", "ok", 0.1)
    worker.cycle_done(ok=True, seconds=1.0, at=time.time(), states={"online": 9800, "offline": 200},
                      incidents={"offline": 200, "failed_starts": 12})
    await metrics.publish_worker(redis, worker, last_cycle=time.time())
    app = web.Application()
    HealthRoutes(HealthStore(redis), metrics.WorkerStatusStore(redis), Watch(TOKEN)).route(app)
    server = await LoopbackServer(app).start()
    latencies = []
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(count):
                t0 = time.perf_counter()
                response = await http.get(server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
                latencies.append(time.perf_counter() - t0)
                assert response.status_code == 200
    finally:
        await server.stop()
        await redis.aclose()
    latencies.sort()
    return {"scrape_p50_ms": latencies[len(latencies) // 2] * 1000,
            "scrape_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "scrape_bytes": len(response.content)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boxes", type=int, default=10000)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    result: dict[str, float] = {"boxes": args.boxes, **per_cycle(args.boxes)}
    with tempfile.TemporaryDirectory(prefix="thorbot-metrics-") as tmp, EmbeddedRedis(Path(tmp) / "r") as redis:
        assert redis.url is not None
        result.update(await scrapes(redis.url, args.scrapes))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
