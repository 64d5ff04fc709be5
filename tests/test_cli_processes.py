"""`thorbot serve` and `thorbot worker` as real processes: health, a signed command, SIGTERM exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from redis.asyncio import Redis

from tests.helpers import SIGNING_SECRET, SLACK_TOKEN, THOR_KEY, sign
from thorbot.adapters import keys
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS", "PORT"))}
    env.update({"THOR_API_KEY": THOR_KEY, "THOR_API_URL": fake_thor.base_url, "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake_slack.base_url + "/api/",
                "REDIS_URL": redis_url, **extra})
    return env


@pytest.fixture
async def spawn() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    yield procs
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def start(spawn: list[asyncio.subprocess.Process], env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", *args, env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    spawn.append(proc)
    return proc


async def test_serve_answers_health_and_a_signed_command_then_stops_on_sigterm(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis,
        spawn: list[asyncio.subprocess.Process]) -> None:
    port = free_port()
    proc = await start(spawn, env_for(fake_thor, fake_slack, redis_url, PORT=str(port)), "serve")
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(200):
            try:
                health = await http.get(base + "/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        assert health.json() == {"ok": True, "redis": "ok"}
        body = "command=%2Fchargebox&text=help&channel_id=C1&user_id=U1&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fx"
        answer = await http.post(base + "/slack/events", content=body, headers=sign(body))
        assert answer.status_code == 200 and "/chargebox subscribe" in answer.text
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_worker_polls_then_releases_its_lease_on_sigterm(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis,
        spawn: list[asyncio.subprocess.Process]) -> None:
    await redis.sadd(keys.SUB_ALL, "C0ALL")
    await redis.sadd(keys.SUB_CHANNELS, "C0ALL")
    proc = await start(spawn, env_for(fake_thor, fake_slack, redis_url, THORBOT_POLL_INTERVAL="0.2"), "worker")
    for _ in range(200):
        if await redis.hlen(keys.BOXES) == len(fake_thor.fleet.boxes):
            break
        await asyncio.sleep(0.05)
    assert await redis.hlen(keys.BOXES) == len(fake_thor.fleet.boxes)
    assert await redis.get(keys.LEASE) is not None
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert await redis.get(keys.LEASE) is None


async def test_serve_names_every_missing_setting_at_once(fake_thor: FakeThor, fake_slack: FakeSlack,
                                                         redis_url: str,
                                                         spawn: list[asyncio.subprocess.Process]) -> None:
    env = env_for(fake_thor, fake_slack, redis_url, PORT=str(free_port()))
    del env["SLACK_SIGNING_SECRET"], env["THOR_API_KEY"]
    proc = await start(spawn, env, "serve")
    assert await asyncio.wait_for(proc.wait(), 20) == 2
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "SLACK_SIGNING_SECRET:" in err and "THOR_API_KEY:" in err
    assert "thorbot: thorbot" not in err and "Traceback" not in err


async def test_metrics_scraped_from_a_real_worker_and_serve_move(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis,
        spawn: list[asyncio.subprocess.Process]) -> None:
    from thorbot.adapters.metrics import as_dict

    await redis.sadd(keys.SUB_ALL, "C0ALL")
    await redis.sadd(keys.SUB_CHANNELS, "C0ALL")
    worker_port, serve_port, token = free_port(), free_port(), "a-metrics-token-for-this-test"
    await start(spawn, env_for(fake_thor, fake_slack, redis_url, THORBOT_POLL_INTERVAL="0.2",
                               THORBOT_METRICS_PORT=str(worker_port)), "worker")
    await start(spawn, env_for(fake_thor, fake_slack, redis_url, PORT=str(serve_port),
                               THORBOT_METRICS_TOKEN=token), "serve")

    async def last_cycle(url: str, headers: dict[str, str]) -> float | None:
        try:
            response = await http.get(url, headers=headers)
        except httpx.TransportError:
            return None
        figures = as_dict(response.content) if response.status_code == 200 else {}
        found = [v for (name, labels), v in figures.items()
                 if name == "thorbot_worker_last_cycle_timestamp_seconds" and ("process", "worker") in labels]
        return found[0] if found else None

    async with httpx.AsyncClient(timeout=5) as http:
        for url, headers in ((f"http://127.0.0.1:{worker_port}/metrics", {}),
                             (f"http://127.0.0.1:{serve_port}/metrics", {"Authorization": f"Bearer {token}"})):
            first = None
            for _ in range(400):
                first = await last_cycle(url, headers)
                if first is not None:
                    break
                await asyncio.sleep(0.05)
            assert first is not None, url
            later = first
            for _ in range(400):  # the worker keeps cycling: the timestamp moves on
                later = await last_cycle(url, headers) or first
                if later > first:
                    break
                await asyncio.sleep(0.05)
            assert later > first, url
        unauthorised = await http.get(f"http://127.0.0.1:{serve_port}/metrics")
        assert unauthorised.status_code == 401
    for proc in spawn:  # a clean stop: serve's report process goes with it
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_ctrl_c_on_serve_stops_it_and_its_report_process_without_a_traceback(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis,
        spawn: list[asyncio.subprocess.Process]) -> None:
    port = free_port()
    # Its own process group, as a shell gives a foreground job: Ctrl-C is SIGINT to the whole group.
    env = env_for(fake_thor, fake_slack, redis_url, PORT=str(port))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "thorbot.cli.main", "serve", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    spawn.append(proc)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(400):
            try:
                await http.get(base + "/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        key = "ctrl-c-report"  # a report, built in the report process: that process is up and idle after it
        body = urlencode({"command": "/chargebox", "text": "report all 7d", "channel_id": "C1", "user_id": "U1",
                          "response_url": fake_slack.response_url(fake_slack.base_url, key)})
        assert (await http.post(base + "/slack/events", content=body, headers=sign(body))).status_code == 200
    for _ in range(600):
        if [r for r in fake_slack.responses[key] if "blocks" in r]:
            break
        await asyncio.sleep(0.05)
    assert fake_slack.responses[key]
    os.killpg(proc.pid, signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def listening_address(port: int) -> str | None:
    """The address a socket of this machine listens on at `port` (IPv4), from /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            return ".".join(str(b) for b in reversed(bytes.fromhex(address)))
    return None


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from /proc/net/tcp")
@pytest.mark.parametrize(("token", "address", "says"), [
    (None, "127.0.0.1", "this host only: set THORBOT_METRICS_TOKEN"),
    ("a-metrics-token-for-this-test", "0.0.0.0", "every address; bearer token required")])  # noqa: S104
async def test_the_workers_metrics_listen_on_this_host_only_unless_a_token_guards_them(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis,
        spawn: list[asyncio.subprocess.Process], token: str | None, address: str, says: str) -> None:
    port = free_port()
    extra = {"THORBOT_METRICS_PORT": str(port), **({"THORBOT_METRICS_TOKEN": token} if token else {})}
    proc = await start(spawn, env_for(fake_thor, fake_slack, redis_url, **extra), "worker")
    assert proc.stderr is not None
    logged = b""
    while b"worker metrics on" not in logged:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, logged.decode()  # the worker ended before it listened
        logged += line
    assert says in logged.decode() and f"{address}:{port}/metrics" in logged.decode()
    assert listening_address(port) == address
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(f"http://127.0.0.1:{port}/metrics",
                                headers={"Authorization": f"Bearer {token}"} if token else {})
        assert answer.status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_a_metrics_port_already_in_use_is_one_line_and_no_start(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis,
        spawn: list[asyncio.subprocess.Process]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await start(spawn, env_for(fake_thor, fake_slack, redis_url, THORBOT_METRICS_PORT=str(port)), "worker")
        assert await asyncio.wait_for(proc.wait(), 30) == 2
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "Traceback" not in err, err
    assert f"thorbot worker: THORBOT_METRICS_PORT={port}: cannot listen on 127.0.0.1:{port} (address already in " \
           "use); choose a free port" in err.splitlines()
