"""The drivers' report page (`/r/<code>`) in a real `thorbot serve` process, with a real Redis.

1. Open loop at `rate` requests a second for `seconds`: a phone's visit (GET) and a report (POST) from many
   sources (behind one trusted proxy, each its own client address); latency from sending to the answer read.
2. A flood: `flood` POSTs from one address, `concurrency` at a time: what it costs (its answers, the Redis keys
   it leaves, what reached the drivers' inbox: the worker's alerts and pages come only from there).

    python -m benchmarks.report_page --redis redis://… [--rate 50 --seconds 10 --flood 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from redis.asyncio import Redis

from benchmarks.common import ROOT, pct
from benchmarks.slash import _free_port, wait_until_healthy
from thorbot.adapters import keys
from thorbot.domain.incidents import BoxRecord, Status
from thorbot.domain.stickers import code_for

STICKER_KEY = "bench-sticker-key-0123456789abcdefghijklmnop"
BOXES = 200


async def bench_report_page(redis_url: str, *, rate: float, seconds: float, flood: int,
                            concurrency: int = 50) -> dict[str, Any]:
    redis: Redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.flushdb()
    now = datetime.now(tz=UTC)
    await redis.hset(keys.BOXES, mapping={f"BOX{i:05d}": BoxRecord(status=Status.ONLINE, since=now,
                                                                   alias=f"Depot {i}").model_dump_json()
                                          for i in range(BOXES)})
    port = _free_port()
    env = {**os.environ, "SLACK_SIGNING_SECRET": "bench-secret", "SLACK_BOT_TOKEN": "xoxb-bench",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "THOR_API_URL": "http://127.0.0.1:9/", "THOR_API_KEY": "k",
           "REDIS_URL": redis_url, "PORT": str(port), "THORBOT_LOG_LEVEL": "ERROR",
           "THORBOT_STICKER_KEY": STICKER_KEY, "THORBOT_TRUSTED_PROXY_HOPS": "1", "THORBOT_ALLOW_PLAIN_HTTP": "true"}
    serve = subprocess.Popen([sys.executable, "-m", "thorbot.cli.main", "serve"], cwd=ROOT, env=env)  # noqa: S603
    key = STICKER_KEY.encode()
    urls = [f"http://127.0.0.1:{port}/r/{code_for(key, f'BOX{i:05d}', 1 + i % 2)}" for i in range(BOXES)]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await wait_until_healthy(http, f"http://127.0.0.1:{port}")
            steady = await _open_loop(http, urls, rate, seconds)
            keys_before = await _count_keys(redis)
            inbox_before = await redis.llen(keys.DRIVER_INBOX)
            flooded = await _flood(http, urls[0], flood, concurrency)
            flooded["keys_added"] = await _count_keys(redis) - keys_before
            flooded["queued"] = await redis.llen(keys.DRIVER_INBOX) - inbox_before
    finally:
        serve.terminate()
        serve.wait(15)
        await redis.aclose()
    return {"steady": steady, "flood": flooded}


async def _count_keys(redis: Redis) -> int:
    return len([k async for k in redis.scan_iter(keys.PREFIX + "*", count=1000)])


async def _open_loop(http: aiohttp.ClientSession, urls: list[str], rate: float, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(i: int) -> None:
        url = urls[i % len(urls)]
        headers = {"X-Forwarded-For": f"198.51.{i // 250 % 250}.{i % 250}", "Accept-Language": "en"}
        started = time.perf_counter()
        if i % 2:
            request = http.post(url, data={"problem": "screen", "details": f"report {i}"}, headers=headers,
                                allow_redirects=False)
        else:
            request = http.get(url, headers=headers)
        async with request as response:
            await response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
        latencies.append(time.perf_counter() - started)

    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return {"requests": total, "rate": rate, "p50_ms": pct(latencies, 50) * 1000, "p99_ms": pct(latencies, 99) * 1000,
            "max_ms": max(latencies) * 1000, "statuses": statuses}


async def _flood(http: aiohttp.ClientSession, url: str, count: int, concurrency: int) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate, http.post(url, data={"problem": "screen", "details": f"spam {i}"},
                                   headers={"X-Forwarded-For": "203.0.113.66"}, allow_redirects=False) as response:
            await response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return {"posts": count, "seconds": time.perf_counter() - started, "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flood", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench_report_page(args.redis, rate=args.rate, seconds=args.seconds,
                                                   flood=args.flood))))


if __name__ == "__main__":
    main()
