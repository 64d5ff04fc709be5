"""Thor's push notifications into a real `thorbot serve` process: latency at a steady arrival rate.

Open loop, as Thor sends them: one notification every 1/rate seconds whatever the answers do, a mix of
starts (some refused), meters and stop_transactions with fresh transaction ids, and one in ten a
repeat (Thor repeats itself). Latency is from sending the request to reading the 200.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import aiohttp

from benchmarks.common import ROOT, pct
from benchmarks.slash import _free_port, wait_until_healthy

TOKEN = "bench-webhook-token-0123456789abcdefghijklmnopqrstuvwxyz"


def notification(i: int) -> dict[str, Any]:
    transaction = 100000 + i // 3
    box, connector = f"BOX{i % 997:05d}", 1 + i % 2
    kind = i % 3
    if kind == 0:
        return {"type": "start", "accepted": i % 17 != 0, "chargebox": box, "connector": connector,
                "id": f"srv{transaction:016x}", "transaction_id": transaction, "mode": "api"}
    if kind == 1:
        return {"type": "meters", "chargebox": box, "connector": connector, "transaction_id": transaction,
                "values": [{"measurand": "Energy.Active.Import.Register", "value": i * 10, "unit": "Wh"}]}
    return {"type": "stop_transaction", "accepted": True, "unlocked": False, "chargebox": box,
            "connector": connector, "idTag": f"srv{transaction:016x}", "transaction_id": transaction,
            "kwh": 5000 + i, "time": 1800}


async def bench_webhook(thor_url: str, thor_key: str, redis_url: str, *, rate: float, seconds: float
                        ) -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, "SLACK_SIGNING_SECRET": "bench-secret", "SLACK_BOT_TOKEN": "xoxb-bench",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "THOR_API_URL": thor_url, "THOR_API_KEY": thor_key,
           "REDIS_URL": redis_url, "PORT": str(port), "THORBOT_LOG_LEVEL": "WARNING",
           "THORBOT_THOR_WEBHOOK_TOKEN": TOKEN}
    serve = subprocess.Popen([sys.executable, "-m", "thorbot.cli.main", "serve"], cwd=ROOT, env=env)  # noqa: S603
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            base = f"http://127.0.0.1:{port}"
            await wait_until_healthy(http, base)
            url = f"{base}/thor/notifications/{TOKEN}"

            async def send(note: dict[str, Any], record: bool) -> None:
                started = time.perf_counter()
                async with http.post(url, json=note) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                if record:
                    latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(send(notification(i), False) for i in range(50)))  # warm-up
            total = int(rate * seconds)
            tasks = []
            t0 = time.perf_counter()
            for i in range(total):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                note = notification(1000 + i - 3 if i % 10 == 9 else 1000 + i)  # one in ten repeats
                tasks.append(asyncio.create_task(send(note, True)))
            await asyncio.gather(*tasks)
            wall = time.perf_counter() - t0
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    return {"rate": rate, "sent": len(latencies), "wall_s": wall, "p50": pct(latencies, 50),
            "p99": pct(latencies, 99), "max": max(latencies), "statuses": statuses}
