"""Child process: a year of history for N boxes in Redis, then the 12-month report over all of them.

    python -m benchmarks.report --redis URL --boxes 10000 --fill     writes the history, prints its memory
    python -m benchmarks.report --redis URL --measure                times one 12-month report, prints RSS

History is written with the worker's own writes (history_store.write_cycle): two ports per box, one
outage per box per week (52 a year, 5 min to 6 h; half of them given a cause), one failed-starts incident
of port 2 a month, a 6 h maintenance window a quarter, every minute observed (bitmaps), every box first
seen a year ago.
Memory is Redis's own `used_memory` before and after, per 1,000 boxes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.adapters.history_store import HistoryCommit, MaintenanceWindow, write_cycle
from thorbot.adapters.report_source import ReportSource
from thorbot.domain.causes import CAUSES, CauseRecord, incident_cause_key, pack_cause
from thorbot.domain.incidents import Incident
from thorbot.domain.uptime import parse_period
from thorbot.services.reports import gather_report

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def fill(redis: Redis, boxes: int) -> dict[str, float]:
    await redis.flushdb()
    rng = random.Random(5)
    start = NOW - timedelta(days=365)
    # The observed bitmaps are fleet-wide (not per box): written first, measured apart.
    before = await used_memory(redis)
    async with redis.pipeline(transaction=False) as pipe:
        day = start
        while day < NOW:
            pipe.set(keys.observed(day.strftime("%Y%m%d")), b"\xff" * 180, ex=401 * 86400)
            day += timedelta(days=1)
        await pipe.execute()
    observed_bytes = await used_memory(redis) - before
    before = await used_memory(redis)
    ids = [f"BOX{i:06d}{rng.randrange(16**6):06x}" for i in range(boxes)]
    windows: list[MaintenanceWindow] = []
    for chunk in range(0, boxes, 500):
        async with redis.pipeline(transaction=False) as pipe:
            batch = ids[chunk:chunk + 500]
            write_cycle(pipe, HistoryCommit(now=start, first_seen={b: f"Site {b[-4:]} – Parking lot A #1"
                                                                   for b in batch}, ports={b: 2 for b in batch}), [])
            incidents = []
            for box in batch:
                causes: dict[str, CauseRecord] = {}
                for week in range(52):
                    t = start + timedelta(weeks=week, minutes=rng.randint(0, 7 * 24 * 60 - 400))
                    incidents.append(Incident(id=f"{box}@{week}", box_id=box, kind=rng.choice(["offline", "silent"]),
                                              started=t, opened=t,
                                              resolved=t + timedelta(minutes=rng.randint(5, 360))))
                    if week % 2:  # half the outages explained, by someone, at some time
                        causes[incident_cause_key(incidents[-1].kind, t)] = CauseRecord(
                            cause=rng.choice(list(CAUSES)), by="U0OPERATOR", at=t + timedelta(hours=8))
                for month in range(12):  # a port's own incident a month: failed starts on port 2
                    t = start + timedelta(days=30 * month + rng.randint(0, 25), minutes=rng.randint(0, 1440))
                    incidents.append(Incident(id=f"{box}@f{month}", box_id=box, kind="failed_starts", connector=2,
                                              started=t, opened=t, resolved=t + timedelta(hours=rng.randint(1, 12))))
                pipe.hset(keys.causes(box), mapping={k: pack_cause(v) for k, v in causes.items()})
                for quarter in range(4):  # planned maintenance, 6 h a quarter
                    t = start + timedelta(days=91 * quarter + 10, hours=rng.randint(0, 20))
                    windows.append(MaintenanceWindow(id=f"m{box[-6:]}{quarter}", box_id=box, start=t,
                                                     end=t + timedelta(hours=6), by="U0OPERATOR"))
            write_cycle(pipe, HistoryCommit(now=NOW), incidents)
            pipe.zadd(keys.MAINTENANCE, {w.model_dump_json(): w.end.timestamp() for w in windows})
            windows.clear()
            await pipe.execute()
    history_bytes = await used_memory(redis) - before
    return {"boxes": boxes, "incidents": boxes * 64, "history_mb_per_1000": history_bytes / boxes * 1000 / 2**20,
            "bytes_per_box_year": history_bytes / boxes, "observed_kb": observed_bytes / 1024}


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux keeps that across exec, so a child spawned by a bigger
    parent (benchmarks/run.py) reports the parent's size instead of its own; VmHWM is the new image's alone."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(redis: Redis) -> dict[str, float]:
    period = parse_period("12m", NOW)
    assert period is not None
    started = time.perf_counter()
    cpu = time.process_time()
    report = await gather_report(ReportSource(redis), period, NOW)
    wall = time.perf_counter() - started
    return {"boxes": len(report.boxes), "ports": sum(len(b.ports) for b in report.boxes), "report_s": wall,
            "report_cpu_s": time.process_time() - cpu,
            "rss_mb": peak_rss_mb(),
            "fleet_uptime": report.fleet.percent or 0.0}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--boxes", type=int, default=10000)
    parser.add_argument("--fill", action="store_true")
    parser.add_argument("--measure", action="store_true")
    args = parser.parse_args()
    redis: Redis = Redis.from_url(args.redis, decode_responses=True)
    result: dict[str, float] = {}
    if args.fill:
        result.update(await fill(redis, args.boxes))
    if args.measure:
        result.update(await measure(redis))
    await redis.aclose()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
