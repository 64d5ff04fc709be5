"""Child process: the floor for list mode, a bare httpx GET + json.loads of the same list (median)."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

import httpx

from benchmarks.common import median


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--thor", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = []
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(args.repeat + 1):
            started = time.perf_counter()
            response = await http.get(args.thor + "/chargeboxes", params={"onlyactive": "false"},
                                      headers={"X-Api-Key": args.key})
            json.loads(response.content)
            times.append(time.perf_counter() - started)
    print(json.dumps({"floor_s": median(times[1:]),  # the first call also opens the connection
                      "floor_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    asyncio.run(main())
