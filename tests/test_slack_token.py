"""The Slack token at start, and the slash-command acknowledgement whatever Slack's Web API is doing.

`serve` and `worker` check SLACK_BOT_TOKEN with auth.test at start: refused, they stop with one line;
unreachable, they log one line and go on. Bolt's own authorize called auth.test before the first handler
ran (HTTP 500 and a traceback with Slack unreachable); serve authorizes from the answer it got at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import start_app_rig
from tests.test_cli_processes import env_for, free_port, start
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor

REFUSED = "Slack refused SLACK_BOT_TOKEN"


@pytest.fixture
async def spawn() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    yield procs
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_slash_command_is_acknowledged_with_slack_unreachable(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Slack's Web API down from the start (nothing listens at SLACK_API_URL): the command still gets its ack."""
    async with start_app_rig(fake_thor, fake_slack, redis_url, tmp_path,
                             slack_api_url=f"http://127.0.0.1:{free_port()}/api/") as rig:
        for _ in range(2):  # the first request, and one while auth.test is tried again in the background
            response, _ = await rig.command("help")
            assert response.status_code == 200, response.text
            assert "/chargebox subscribe" in response.text
    assert "Traceback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if "cannot check SLACK_BOT_TOKEN" in r.getMessage()] == [
        "serve: cannot check SLACK_BOT_TOKEN now (auth.test: ClientConnectorError); starting anyway"]


async def test_a_slash_command_is_acknowledged_while_auth_test_fails(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, tmp_path: Path) -> None:
    """auth.test answers 500 at start and again when tried later: the command is answered all the same, and once
    auth.test answers, requests from another workspace are refused again."""
    fake_slack.faults.fail_next["auth.test"] = [500, 500]
    async with start_app_rig(fake_thor, fake_slack, redis_url, tmp_path) as rig:
        response, key = await rig.command("list")
        assert response.status_code == 200, response.text
        assert await rig.reply(key)
        for _ in range(200):  # the background auth.test, 500 the first time: tried again after Installed.RETRY
            if fake_slack.count("auth.test") >= 2:
                break
            await asyncio.sleep(0.01)
        assert fake_slack.count("auth.test") == 2


@pytest.mark.parametrize("process", ["serve", "worker"])
async def test_a_refused_token_stops_the_process_with_one_line(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, process: str,
        spawn: list[asyncio.subprocess.Process]) -> None:
    proc = await start(spawn, env_for(fake_thor, fake_slack, redis_url, PORT=str(free_port()),
                                      SLACK_BOT_TOKEN="xoxb-revoked-or-mistyped"), process)
    assert await asyncio.wait_for(proc.wait(), 30) == 2
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"thorbot {process}: {REFUSED} (invalid_auth): "), err
    assert "xoxb-revoked" not in err


@pytest.mark.parametrize("process", ["serve", "worker"])
async def test_slack_unreachable_at_start_is_one_line_and_the_process_goes_on(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, process: str,
        spawn: list[asyncio.subprocess.Process]) -> None:
    env = env_for(fake_thor, fake_slack, redis_url, PORT=str(free_port()),
                  SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
    proc = await start(spawn, env, process)
    assert proc.stderr is not None
    line = await asyncio.wait_for(proc.stderr.readline(), 30)
    while line and b"SLACK_BOT_TOKEN" not in line:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
    assert b"cannot check SLACK_BOT_TOKEN now (auth.test: ClientConnectorError); starting anyway" in line, line
    await asyncio.sleep(0)
    assert proc.returncode is None  # still running
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    rest = (await proc.stderr.read()).decode()
    assert "Traceback" not in rest, rest
