"""Every command stops within a few seconds of SIGTERM/SIGINT, in every state, and stops the Redis it started."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import SIGNING_SECRET, SLACK_TOKEN, THOR_KEY
from tests.test_cli_processes import free_port
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor

STOP_WITHIN = 8.0


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS", "PORT"))}
    env.update({"THORBOT_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120", "TERM": "dumb", **extra})
    return env


async def spawn(env: dict[str, str], *args: str, stdin: int | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", *args, env=env, stdin=stdin,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def embedded_redis_port(data: Path, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = data / "redis.url"
        if url.exists() and url.read_text().strip():
            return int(url.read_text().strip().rsplit(":", 1)[1].split("/")[0])
        await asyncio.sleep(0.05)
    raise AssertionError("the embedded Redis did not start")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def stop_and_time(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> float:
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        await asyncio.wait_for(proc.wait(), STOP_WITHIN + 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the process ignored the signal") from None
    return time.monotonic() - started


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_socket_stops_while_slack_is_unreachable_and_stops_its_redis(
        tmp_path: Path, fake_thor: FakeThor, sig: int) -> None:
    env = base_env(tmp_path, THOR_API_KEY=THOR_KEY, THOR_API_URL=fake_thor.base_url, SLACK_BOT_TOKEN=SLACK_TOKEN,
                   SLACK_APP_TOKEN="xapp-x", SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
    proc = await spawn(env, "socket")
    port = await embedded_redis_port(tmp_path / "data")
    await asyncio.sleep(1.5)  # connecting, failing, retrying
    assert await stop_and_time(proc, sig) < STOP_WITHIN
    assert not port_open(port), "the embedded Redis is still running"
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "Traceback" not in err


async def test_worker_stops_mid_cycle_while_thor_hangs(tmp_path: Path, fake_thor: FakeThor,
                                                       fake_slack: FakeSlack) -> None:
    fake_thor.faults.hang = True
    env = base_env(tmp_path, THOR_API_KEY=THOR_KEY, THOR_API_URL=fake_thor.base_url, SLACK_BOT_TOKEN=SLACK_TOKEN,
                   SLACK_API_URL=fake_slack.base_url + "/api/", THORBOT_POLL_INTERVAL="0.2")
    proc = await spawn(env, "worker")
    port = await embedded_redis_port(tmp_path / "data")
    import redis as sync_redis

    client = sync_redis.Redis(port=port)
    client.sadd("{thorbot}:v1:subs:all", "C1")
    client.sadd("{thorbot}:v1:subs:channels", "C1")
    client.close()
    await asyncio.sleep(1.5)  # now inside a poll that waits for Thor
    assert await stop_and_time(proc) < STOP_WITHIN
    assert not port_open(port)


async def test_serve_stops_on_sigint(tmp_path: Path, fake_thor: FakeThor, fake_slack: FakeSlack) -> None:
    env = base_env(tmp_path, THOR_API_KEY=THOR_KEY, THOR_API_URL=fake_thor.base_url, SLACK_BOT_TOKEN=SLACK_TOKEN,
                   SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.base_url + "/api/",
                   PORT=str(free_port()))
    proc = await spawn(env, "serve")
    port = await embedded_redis_port(tmp_path / "data")
    await asyncio.sleep(0.5)
    assert await stop_and_time(proc, signal.SIGINT) < STOP_WITHIN
    assert proc.returncode == 0 and not port_open(port)


async def test_status_stops_while_thor_hangs(tmp_path: Path, fake_thor: FakeThor) -> None:
    fake_thor.faults.hang = True
    env = base_env(tmp_path, THOR_API_KEY=THOR_KEY, THOR_API_URL=fake_thor.base_url)
    proc = await spawn(env, "status", "somebox")
    await asyncio.sleep(1.5)
    assert await stop_and_time(proc, signal.SIGINT) < STOP_WITHIN


async def test_demo_duration_ends_it_while_stdin_stays_open(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    proc = await spawn(env, "demo", "--speed", "10", "--duration", "4", stdin=asyncio.subprocess.PIPE)
    started = time.monotonic()
    try:
        await asyncio.wait_for(proc.wait(), 4 + STOP_WITHIN + 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("--duration was ignored while stdin was open") from None
    assert proc.returncode == 0
    assert time.monotonic() - started < 4 + STOP_WITHIN + 10


async def test_demo_stops_on_sigterm_while_stdin_stays_open(tmp_path: Path) -> None:
    proc = await spawn(base_env(tmp_path), "demo", stdin=asyncio.subprocess.PIPE)
    await asyncio.sleep(4)
    assert await stop_and_time(proc) < STOP_WITHIN


async def test_a_malformed_redis_url_is_one_clear_line(tmp_path: Path, fake_thor: FakeThor) -> None:
    env = base_env(tmp_path, THOR_API_KEY=THOR_KEY, THOR_API_URL=fake_thor.base_url, SLACK_BOT_TOKEN=SLACK_TOKEN,
                   REDIS_URL="not-a-url")
    proc = await spawn(env, "worker")
    assert await asyncio.wait_for(proc.wait(), 20) == 2
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "REDIS_URL: must be a Redis URL" in err and "Traceback" not in err and len(err.splitlines()) <= 3


async def test_an_unreachable_redis_is_one_line_per_attempt_with_backoff(tmp_path: Path, fake_thor: FakeThor,
                                                                         fake_slack: FakeSlack) -> None:
    env = base_env(tmp_path, THOR_API_KEY=THOR_KEY, THOR_API_URL=fake_thor.base_url, SLACK_BOT_TOKEN=SLACK_TOKEN,
                   SLACK_API_URL=fake_slack.base_url + "/api/", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                   THORBOT_POLL_INTERVAL="0.2")
    proc = await spawn(env, "worker")
    await asyncio.sleep(5)
    assert await stop_and_time(proc) < STOP_WITHIN
    assert proc.stderr is not None
    lines = [line for line in (await proc.stderr.read()).decode().splitlines() if "Redis unreachable" in line]
    assert 2 <= len(lines) <= 5, lines  # attempts at 0, 1, 3 (then 7) seconds
    assert "retrying in 1 s" in lines[0] and "retrying in 2 s" in lines[1]


async def test_plain_http_to_another_host_is_refused(tmp_path: Path) -> None:
    env = base_env(tmp_path, THOR_API_KEY=THOR_KEY, THOR_API_URL="http://api.thor.example/latest/integration",
                   SLACK_BOT_TOKEN=SLACK_TOKEN)
    proc = await spawn(env, "worker")
    assert await asyncio.wait_for(proc.wait(), 20) == 2
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "THOR_API_URL uses plain http://" in err and THOR_KEY not in err


async def test_demo_slack_without_tokens_names_both_once(tmp_path: Path) -> None:
    proc = await spawn(base_env(tmp_path), "demo", "--slack")
    assert await asyncio.wait_for(proc.wait(), 20) == 2
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "SLACK_BOT_TOKEN:" in err and "SLACK_APP_TOKEN:" in err
    assert "thorbot: thorbot" not in err and "Traceback" not in err
