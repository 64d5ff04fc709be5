"""The container check's run (scripts/container-check builds the images, then runs this): Redis, `thorbot serve` and
`thorbot worker` as three containers from the built images, wired to a fake Thor and a fake Slack on this host,
then /healthz, the image's HEALTHCHECK, /readyz (a worker cycled against Thor) and one signed slash command answered
end to end (Slack → serve → Thor → Slack's response_url); SIGTERM stops both thorbot containers with exit 0.

The containers use the host's network and listen on loopback ports chosen free at run time: the fakes run on this
host's loopback, and the sandboxes this runs in do not always give containers a bridge. Compose's own network is
therefore not what this exercises; the images, the commands and the processes are.

    .venv/bin/python -m tests.container_check --image localhost/thorbot:latest \
        --redis-image localhost/thorbot-redis:bookworm
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.helpers import SIGNING_SECRET, SLACK_TOKEN, THOR_KEY, is_progress, sign
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import PREFIX, FakeThor

START_TIMEOUT = 90.0   # a container's first start on a slow machine: image layers, Python's imports
READY_TIMEOUT = 120.0  # /readyz needs the worker's first cycle against Thor


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(line: str) -> None:
    print(f"container-check: {line}", flush=True)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=180)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


async def until(what: str, probe: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Wait for `probe` to say yes: a deadline, not a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.25)


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[FakeThor, FakeSlack]]:
    """Thor and Slack, faked, on this host's loopback (the containers share its network)."""
    thor = FakeThor(Fleet.generate(6, seed=1, now=datetime.now(tz=UTC).replace(microsecond=0)), THOR_KEY)
    slack = FakeSlack(SLACK_TOKEN)
    thor_server = await LoopbackServer(thor.app()).start()
    slack_server = await LoopbackServer(slack.app()).start()
    thor.base_url, slack.base_url = thor_server.url + PREFIX, slack_server.url
    say(f"fake Thor on {thor.base_url}, fake Slack on {slack.base_url}")
    try:
        yield thor, slack
    finally:
        await slack_server.stop()
        await thor_server.stop()


class Stack:
    """The three containers, named uniquely for this run, removed however the run ends."""

    def __init__(self, image: str, redis_image: str) -> None:
        self.image, self.redis_image = image, redis_image
        self.prefix = f"thorbot-check-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []

    def run(self, role: str, image: str, *args: str, env: dict[str, str] | None = None,
            healthcheck: bool = True, read_only: bool = False) -> str:
        name = f"{self.prefix}-{role}"
        flags = ["run", "--detach", "--name", name, "--network", "host"]
        # As docs/kubernetes.md runs thorbot: a read-only root filesystem, /tmp writable (podman's tmpfs).
        flags += ["--read-only"] if read_only else []
        # Without systemd, podman cannot schedule the periodic health checks (it says so on every start);
        # `podman healthcheck run` below runs the image's HEALTHCHECK on demand instead.
        flags += ["--health-interval", "disable"] if healthcheck else ["--no-healthcheck"]
        for key, value in (env or {}).items():
            flags += ["--env", f"{key}={value}"]
        podman(*flags, image, *args)
        self.names.append(name)
        return name

    def logs(self) -> str:
        parts = []
        for name in self.names:
            done = podman("logs", "--tail", "40", name, check=False)
            parts.append(f"--- {name} ---\n{done.stdout}{done.stderr}")
        return "\n".join(parts)

    def remove(self) -> None:
        for name in reversed(self.names):
            podman("rm", "--force", "--time", "5", name, check=False)


def thorbot_env(thor: FakeThor, slack: FakeSlack, redis_port: int) -> dict[str, str]:
    return {"THOR_API_KEY": THOR_KEY, "THOR_API_URL": thor.base_url, "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.base_url + "/api/",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}


async def answered(http: httpx.AsyncClient, url: str, status: int = 200) -> bool:
    try:
        return (await http.get(url)).status_code == status
    except httpx.TransportError:
        return False


async def slash_command(http: httpx.AsyncClient, base: str, slack: FakeSlack, text: str) -> dict[str, Any]:
    """A signed `/chargebox text`, as Slack sends it; the answer thorbot posts to its response_url."""
    key = uuid.uuid4().hex
    form = {"token": "legacy", "team_id": "T0FAKE", "channel_id": "C0ALERTS", "channel_name": "alerts",
            "user_id": "U0ALICE", "user_name": "alice", "command": "/chargebox", "text": text,
            "api_app_id": "A0THORBOT", "trigger_id": "1.2.3",
            "response_url": slack.response_url(slack.base_url, key)}
    body = urlencode(form)
    ack = await http.post(base + "/slack/events", content=body, headers=sign(body))
    assert ack.status_code == 200, f"the slash command was not acknowledged: HTTP {ack.status_code} {ack.text[:300]}"

    async def posted() -> bool:
        return any(not is_progress(r) for r in slack.responses[key])

    await until("the answer on response_url", posted, 30)
    return next(r for r in slack.responses[key] if not is_progress(r))


async def check_stack(image: str, redis_image: str) -> None:
    stack = Stack(image, redis_image)
    try:
        async with fakes() as (thor, slack), httpx.AsyncClient(timeout=5) as http:
            redis_port, serve_port = free_port(), free_port()
            stack.run("redis", redis_image, "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                      "--dir", "/data", "--appendonly", "yes")
            redis: Redis = Redis(host="127.0.0.1", port=redis_port)

            async def redis_up() -> bool:
                try:
                    return bool(await redis.ping())
                except RedisError:  # refused while the server starts
                    return False

            await until("Redis", redis_up, START_TIMEOUT)
            aof = await redis.config_get("appendonly")
            await redis.aclose()
            assert aof == {"appendonly": "yes"}, f"Redis's append-only file is off: {aof}"
            say(f"Redis (Debian's redis-server, AOF on) on 127.0.0.1:{redis_port}")

            env = thorbot_env(thor, slack, redis_port)
            # serve is the image's default command: none is given.
            serve = stack.run("serve", image, env={**env, "PORT": str(serve_port)}, read_only=True)
            worker = stack.run("worker", image, "worker", env=env, healthcheck=False, read_only=True)
            base = f"http://127.0.0.1:{serve_port}"
            await until("serve's /healthz", lambda: answered(http, base + "/healthz"), START_TIMEOUT)
            health = (await http.get(base + "/healthz")).json()
            assert health == {"ok": True, "redis": "ok"}, health
            say(f"serve (the default command, read-only root) on {base}: /healthz {health}")

            check = podman("healthcheck", "run", serve, check=False)
            assert check.returncode == 0, f"the image's HEALTHCHECK failed: {check.stdout}{check.stderr}"
            say("the image's HEALTHCHECK (python3 + urllib on /healthz): healthy")

            await until("/readyz (the worker's first cycle against Thor)",
                        lambda: answered(http, base + "/readyz"), READY_TIMEOUT)
            ready = (await http.get(base + "/readyz")).json()
            say(f"/readyz 200: worker_last_cycle={ready['worker_last_cycle']}, thor={ready['thor']}")

            box = next(iter(thor.fleet.boxes.values()))
            card = await slash_command(http, base, slack, box.id)
            assert box.id in card["text"], f"the card does not name {box.id}: {card['text'][:300]}"
            say(f"signed `/chargebox {box.id}`: acknowledged, card posted to response_url "
                f"({card['text'][:60]!r}…)")

            for name in (serve, worker):
                podman("stop", "--time", "20", name)
                code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
                assert code == "0", f"{name} exited {code} on SIGTERM"
            say("serve and worker stopped on SIGTERM with exit 0")
    except BaseException:
        print(stack.logs(), file=sys.stderr)
        raise
    finally:
        stack.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--image", default="localhost/thorbot:latest")
    parser.add_argument("--redis-image", default="localhost/thorbot-redis:bookworm")
    args = parser.parse_args(argv)
    try:
        asyncio.run(check_stack(args.image, args.redis_image))
    except (AssertionError, RuntimeError) as exc:
        say(f"FAILED: {exc}")
        return 1
    say("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
