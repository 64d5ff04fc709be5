"""Soak: the suite's chaos run, longer and bigger (thorbot/sim/chaos.py). Prints what happened and every violation.

    python -m benchmarks.soak                      300 boxes, 5 minutes, seed 1
    python -m benchmarks.soak --seconds 120 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from thorbot.sim.chaos import ChaosPlan, run_chaos


async def soak(boxes: int, seconds: float, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    report = await run_chaos(ChaosPlan(seed=seed, boxes=boxes, seconds=seconds,
                                       redis_restarts=max(1, int(seconds // 60)),
                                       thor_fault_windows=max(2, int(seconds // 30)), settle_seconds=60.0,
                                       pauses=max(1, int(seconds // 40)), stalls=max(2, int(seconds // 20)),
                                       partitions=max(1, int(seconds // 40))))
    return {"seed": seed, "boxes": boxes, "seconds": seconds, "wall_s": time.perf_counter() - started,
            "outages": report.outages, "detected": report.detected_outages, "incidents": report.incidents,
            "alerts": report.alerts, "recoveries": report.recoveries, "thor_notices": report.thor_notices,
            "kills": report.kills, "leader_kills": report.leader_kills, "redis_restarts": report.redis_restarts,
            "pauses": report.pauses, "stalls": report.stalls, "partitions": report.partitions,
            "slack_faults": dict(report.slack_faults), "violations": report.violations,
            "summary": report.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON line (for the benchmark runner)")
    args = parser.parse_args()
    result = asyncio.run(soak(args.boxes, args.seconds, args.seed))
    if args.json:
        print(json.dumps(result))
        return
    print(result["summary"])
    for violation in result["violations"]:
        print("  VIOLATION", violation)


if __name__ == "__main__":
    main()
