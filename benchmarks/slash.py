"""Slash-command path: signed `/chargebox <id>` into a real `thorbot serve` process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from benchmarks.common import ROOT, pct
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack

SECRET = "bench-signing-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bench_slash(thor_url: str, thor_key: str, ids: list[str], redis_url: str, *, requests: int,
                      concurrency: int, latency: float) -> dict[str, Any]:
    slack = FakeSlack("xoxb-bench")
    arrivals: dict[str, float] = {}
    slack.listeners.append(lambda kind, p: arrivals.setdefault(p["key"], time.perf_counter())
                           if kind == "response" and "Looking up" not in str(p.get("text")) else None)
    slack_server = await LoopbackServer(slack.app()).start()
    port = _free_port()
    env = {**os.environ, "SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench",
           "SLACK_API_URL": slack_server.url + "/api/", "THOR_API_URL": thor_url, "THOR_API_KEY": thor_key,
           "REDIS_URL": redis_url, "PORT": str(port), "THORBOT_LOG_LEVEL": "WARNING"}
    serve = subprocess.Popen([sys.executable, "-m", "thorbot.cli", "serve"], cwd=ROOT, env=env)  # noqa: S603
    verifier = SignatureVerifier(SECRET)
    acks: list[float] = []
    cards: list[float] = []
    try:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if (await http.get(base + "/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int, record: bool) -> None:
                key = uuid.uuid4().hex
                body = urlencode({"team_id": "T0", "channel_id": "C0", "user_id": "U0", "command": "/chargebox",
                                  "text": ids[i % len(ids)], "response_url": f"{slack_server.url}/response/{key}"})
                ts = str(int(time.time()))
                headers = {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
                           "X-Slack-Signature": str(verifier.generate_signature(timestamp=ts, body=body))}
                async with gate:
                    started = time.perf_counter()
                    response = await http.post(base + "/slack/events", content=body, headers=headers)
                    acked = time.perf_counter()
                assert response.status_code == 200
                for _ in range(1000):
                    if key in arrivals:
                        break
                    await asyncio.sleep(0.002)
                if record:
                    acks.append(acked - started)
                    cards.append(arrivals.get(key, float("inf")) - started)

            await asyncio.gather(*(one(i, False) for i in range(min(25, requests))))  # warm-up
            wall = time.perf_counter()
            await asyncio.gather(*(one(i, True) for i in range(requests)))
            wall = time.perf_counter() - wall
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        await slack_server.stop()
    return {"requests": requests, "concurrency": concurrency, "thor_latency_s": latency, "wall_s": wall,
            "ack_p50": pct(acks, 50), "ack_p99": pct(acks, 99), "card_p50": pct(cards, 50),
            "card_p99": pct(cards, 99)}
