"""Child process: measure real poll cycles (Worker.tick) against the simulated Thor, plus the floor.

Prints one JSON line. Redis round trips are counted where redis-py sends bytes (one send per
round trip, pipelines included); commands come from the server's own counter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from benchmarks.common import median
from thorbot.runtime import build_worker, open_context
from thorbot.settings import Settings
from thorbot.worker.loop import Worker

ROUND_TRIPS = 0
_original_send = AbstractConnection.send_packed_command


async def _counting_send(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
    global ROUND_TRIPS
    ROUND_TRIPS += 1
    await _original_send(self, *args, **kwargs)


AbstractConnection.send_packed_command = _counting_send  # type: ignore[method-assign]


async def commands(redis: Redis) -> int:
    info = await redis.info("stats")
    return int(info["total_commands_processed"])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--thor", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--mode", choices=["list", "single"], required=True)
    parser.add_argument("--ids", default="")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=15)
    args = parser.parse_args()
    admin: Redis = Redis.from_url(args.redis, decode_responses=True)
    await admin.flushdb()
    settings = Settings(thor_api_key=args.key, thor_api_url=args.thor, redis_url=args.redis,
                        list_threshold=1 if args.mode == "list" else 10**9, poll_concurrency=args.concurrency,
                        thor_retries=0, thor_timeout=60.0, poll_interval=60.0, slack_bot_token="xoxb-unused",
                        slack_api_url="http://127.0.0.1:9/api/")  # Slack is never called: no alerts
    async with open_context(settings) as ctx:
        store = ctx.stores.subscriptions
        if args.mode == "list":
            await store.subscribe_all("CBENCH")
        else:
            ids = Path(args.ids).read_text().split()
            for start in range(0, len(ids), 1000):
                await store.subscribe("CBENCH", ids[start:start + 1000])
        worker = build_worker(ctx, worker_id="bench")
        result = await measure(args, worker, admin)
    await admin.aclose()
    print(json.dumps(result), flush=True)


async def measure(args: argparse.Namespace, worker: Worker, admin: Redis) -> dict[str, Any]:  # noqa: C901
    """A measurement, read top to bottom: the first cycle, steady cycles, then floor/cycle pairs."""
    started = time.perf_counter()
    first = await worker.tick(poll=True)
    first_wall = time.perf_counter() - started
    assert first is not None and first.ok, first
    for _ in range(8):  # connectors' baselines are seeded between polls, one Thor call per tick: done before measuring
        await worker.tick(poll=False)
    walls, cpus, trips, cmds = [], [], [], []
    for _ in range(args.cycles):
        before_cmd = await commands(admin)
        before_rt = ROUND_TRIPS
        cpu0, wall0 = time.process_time(), time.perf_counter()
        report = await worker.tick(poll=True)
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
        trips.append(ROUND_TRIPS - before_rt)
        cmds.append(await commands(admin) - before_cmd - 1)  # minus the INFO call itself
        assert report is not None and report.ok and report.events == 0, report
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the floor allocates anything
    floors, ratios, floors_orjson, ratios_orjson = [], [], [], []
    if args.mode == "list":
        # The machine is noisy: alternate floor and cycle, and compare each pair measured back to back.
        # The floor is what a cycle cannot avoid: Thor's two lists (boxes and running charges), fetched
        # concurrently as the worker does, and parsed.
        # The worker parses with orjson, so the same floor with orjson is measured too (`ratio_orjson`).
        async with httpx.AsyncClient(timeout=60) as http:
            async def bare(path: str, params: dict[str, str], parse: Callable[[bytes], Any]) -> None:
                response = await http.get(args.thor + path, params=params, headers={"X-Api-Key": args.key})
                parse(response.content)

            async def floor(parse: Callable[[bytes], Any]) -> float:
                started = time.perf_counter()
                await asyncio.gather(bare("/chargeboxes", {"onlyactive": "false"}, parse),
                                     bare("/charges/running", {}, parse))
                return time.perf_counter() - started

            for _ in range(args.pairs):
                floors.append(await floor(json.loads))
                floors_orjson.append(await floor(orjson.loads))
                started = time.perf_counter()
                await worker.tick(poll=True)
                cycle = time.perf_counter() - started
                ratios.append(cycle / floors[-1])
                ratios_orjson.append(cycle / floors_orjson[-1])
    observed = report.observed if report else 0
    return {
        "boxes": observed, "first_cycle_s": first_wall, "cycle_s": median(walls), "cpu_s": median(cpus),
        "round_trips": max(trips), "commands": max(cmds),
        "peak_rss_mb": peak_rss, "floor_s": median(floors) if floors else None,
        "ratio": median(ratios) if ratios else None,
        "floor_orjson_s": median(floors_orjson) if floors_orjson else None,
        "ratio_orjson": median(ratios_orjson) if ratios_orjson else None,
        "list_calls": report.list_calls if report else 0, "box_calls": report.box_calls if report else 0,
        "running": report.sessions.running if report and report.sessions else None,
    }


if __name__ == "__main__":
    asyncio.run(main())
