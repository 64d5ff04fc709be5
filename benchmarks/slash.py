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

import aiohttp
from slack_sdk.signature import SignatureVerifier

from benchmarks.common import ROOT, pct
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack

SECRET = "bench-signing-secret"


async def wait_until_healthy(http: aiohttp.ClientSession, base: str, tries: int = 200) -> None:
    """Until `thorbot serve` answers GET /healthz (it takes a second to start)."""
    for _ in range(tries):
        try:
            async with http.get(base + "/healthz") as health:
                if health.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ZONES = ["UTC", "Europe/Rome", "Europe/Berlin", "Europe/London", "America/New_York", "America/Chicago",
         "America/Denver", "America/Los_Angeles", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney", "Europe/Madrid",
         "Europe/Paris", "America/Sao_Paulo", "Africa/Cairo", "Asia/Singapore"]


async def _plan_report_channels(redis_url: str, count: int) -> list[str]:
    """Channels whose reports differ (each its own time zone, so none can share another's build)."""
    from redis.asyncio import Redis

    from thorbot.adapters.digest_store import DigestStore
    from thorbot.domain.digest import DigestPlan

    redis: Redis = Redis.from_url(redis_url, decode_responses=True)
    channels = [f"C0REPORT{i:02d}" for i in range(count)]
    try:
        for channel, zone in zip(channels, ZONES, strict=False):
            await DigestStore(redis).set(channel, DigestPlan(cadence="daily", at="09:00", zone=zone))
    finally:
        await redis.aclose()
    return channels


async def bench_slash(thor_url: str, thor_key: str, ids: list[str], redis_url: str, *, requests: int,
                      concurrency: int, latency: float, reports: int = 0) -> dict[str, Any]:
    """Cards under load; with `reports`, that many twelve-month reports (each different) are asked for at
    the moment the measured cards start, and built meanwhile."""
    slack = FakeSlack("xoxb-bench")
    arrivals: dict[str, float] = {}
    waiting: dict[str, asyncio.Event] = {}

    def on_response(kind: str, payload: dict[str, Any]) -> None:
        if kind == "response" and not str(payload.get("text")).startswith(":hourglass_flowing_sand:"):
            arrivals.setdefault(payload["key"], time.perf_counter())
            waiting.setdefault(payload["key"], asyncio.Event()).set()

    slack.listeners.append(on_response)
    slack_server = await LoopbackServer(slack.app()).start()
    port = _free_port()
    env = {**os.environ, "SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench",
           "SLACK_API_URL": slack_server.url + "/api/", "THOR_API_URL": thor_url, "THOR_API_KEY": thor_key,
           "REDIS_URL": redis_url, "PORT": str(port), "THORBOT_LOG_LEVEL": "WARNING"}
    serve = subprocess.Popen([sys.executable, "-m", "thorbot.cli.main", "serve"], cwd=ROOT, env=env)  # noqa: S603
    verifier = SignatureVerifier(SECRET)
    acks: list[float] = []
    cards: list[float] = []
    try:
        # aiohttp as the load generator: it costs the shared CPUs less than httpx, like Slack's own client.
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
            base = f"http://127.0.0.1:{port}"
            await wait_until_healthy(http, base)
            await asyncio.sleep(3.0)  # serve starts its report process in the background: let it come up first
            gate = asyncio.Semaphore(concurrency)

            report_channels = await _plan_report_channels(redis_url, reports)

            def signed(text: str, channel: str, key: str) -> tuple[str, dict[str, str]]:
                body = urlencode({"team_id": "T0FAKE", "channel_id": channel, "user_id": "U0",
                                  "command": "/chargebox", "text": text,
                                  "response_url": f"{slack_server.url}/response/{key}"})
                ts = str(int(time.time()))
                return body, {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
                              "X-Slack-Signature": str(verifier.generate_signature(timestamp=ts, body=body))}

            async def ask_report(channel: str) -> float:
                key = uuid.uuid4().hex
                body, headers = signed("report all 12m", channel, key)
                started = time.perf_counter()
                async with http.post(base + "/slack/events", data=body, headers=headers) as response:
                    await response.read()
                await asyncio.wait_for(waiting.setdefault(key, asyncio.Event()).wait(), timeout=300)
                return time.perf_counter() - started

            async def one(i: int, record: bool) -> None:
                key = uuid.uuid4().hex
                body = urlencode({"team_id": "T0FAKE", "channel_id": "C0", "user_id": "U0", "command": "/chargebox",
                                  "text": ids[i % len(ids)], "response_url": f"{slack_server.url}/response/{key}"})
                ts = str(int(time.time()))
                headers = {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
                           "X-Slack-Signature": str(verifier.generate_signature(timestamp=ts, body=body))}
                # A "concurrent user" types the command and waits for the card before the next one.
                async with gate:
                    started = time.perf_counter()
                    async with http.post(base + "/slack/events", data=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                    acked = time.perf_counter()
                    assert status == 200
                    try:
                        await asyncio.wait_for(waiting.setdefault(key, asyncio.Event()).wait(), timeout=10)
                    except TimeoutError:
                        pass
                if record:
                    acks.append(acked - started)
                    cards.append(arrivals.get(key, float("inf")) - started)

            await asyncio.gather(*(one(i, False) for i in range(min(25, requests))))  # warm-up
            building = [asyncio.ensure_future(ask_report(c)) for c in report_channels]
            wall = time.perf_counter()
            await asyncio.gather(*(one(i, True) for i in range(requests)))
            wall = time.perf_counter() - wall
            still_building = sum(1 for b in building if not b.done())
            report_times = await asyncio.gather(*building)
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        await slack_server.stop()
    return {"requests": requests, "concurrency": concurrency, "thor_latency_s": latency, "wall_s": wall,
            "ack_p50": pct(acks, 50), "ack_p99": pct(acks, 99), "card_p50": pct(cards, 50),
            "card_p99": pct(cards, 99), "reports": reports, "reports_building_at_end": still_building,
            "report_last_s": max(report_times, default=0.0)}
