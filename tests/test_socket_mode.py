"""`thorbot socket` as a real process against the fake Slack's Socket Mode endpoint."""

from __future__ import annotations

import asyncio
import os
import signal

from redis.asyncio import Redis

from tests.test_cli_processes import env_for, spawn, start  # noqa: F401 - `spawn` is a fixture
from thorbot.adapters import keys
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor


async def wait_for(condition: object, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_socket_mode_answers_commands_and_runs_the_worker(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis,
        spawn: list[asyncio.subprocess.Process]) -> None:  # noqa: F811
    env = env_for(fake_thor, fake_slack, redis_url, SLACK_APP_TOKEN=fake_slack.app_token,
                  THORBOT_POLL_INTERVAL="0.2")
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs no signing secret
    proc = await start(spawn, env, "socket")
    await wait_for(lambda: fake_slack.sockets)
    command = {"command": "/chargebox", "text": "help", "channel_id": "C0SOCK", "user_id": "U0ALICE",
               "team_id": "T0FAKE", "api_app_id": "A0THORBOT",
               "response_url": fake_slack.base_url + "/response/sock1"}
    help_env = await fake_slack.push("slash_commands", command)
    await wait_for(lambda: help_env in fake_slack.socket_acks)
    assert "/chargebox subscribe" in str(fake_slack.socket_acks[help_env])
    await fake_slack.push("slash_commands", {**command, "text": "subscribe all"})
    await wait_for(lambda: "whole fleet" in str(fake_slack.responses["sock1"]))  # (help's worker line came first)
    for _ in range(300):
        if await redis.hlen(keys.BOXES) == len(fake_thor.fleet.boxes):
            break
        await asyncio.sleep(0.05)
    assert await redis.hlen(keys.BOXES) == len(fake_thor.fleet.boxes)  # the worker polled
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_demo_slack_drives_a_workspace_over_socket_mode(
        fake_slack: FakeSlack, spawn: list[asyncio.subprocess.Process]) -> None:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"SLACK_BOT_TOKEN": fake_slack.token, "SLACK_APP_TOKEN": fake_slack.app_token,
                "SLACK_API_URL": fake_slack.base_url + "/api/"})
    proc = await start(spawn, env, "demo", "--slack", "--speed", "30", "--duration", "6")
    await wait_for(lambda: fake_slack.sockets)
    command = {"command": "/chargebox", "text": "subscribe all", "channel_id": "C0DEMO", "user_id": "U0ALICE",
               "team_id": "T0FAKE", "api_app_id": "A0THORBOT",
               "response_url": fake_slack.base_url + "/response/demo1"}
    await fake_slack.push("slash_commands", command)
    await wait_for(lambda: fake_slack.responses["demo1"])
    assert "25 chargeboxes" in str(fake_slack.responses["demo1"])  # the simulated fleet
    assert await asyncio.wait_for(proc.wait(), 30) == 0
