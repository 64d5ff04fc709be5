"""`thorbot status` as a real subprocess against the fake Thor."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.helpers import THOR_KEY
from thorbot.sim.thor_server import FakeThor


async def run(fake_thor: FakeThor, *args: str, key: str = THOR_KEY, **extra: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"THOR_API_KEY": key, "THOR_API_URL": fake_thor.base_url, "THORBOT_THOR_RETRIES": "0",
                "COLUMNS": "140", **extra})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", "status", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_prints_the_card(fake_thor: FakeThor) -> None:
    box = next(iter(fake_thor.fleet.boxes.values()))
    code, out, err = await run(fake_thor, box.id)
    assert code == 0, err
    assert box.id in out and "Connected" in out and "last heartbeat" in out


async def test_status_fails_on_unknown_box(fake_thor: FakeThor) -> None:
    code, _, err = await run(fake_thor, "nope")
    assert code != 0 and "no chargebox" in err


async def test_status_fails_on_bad_key_and_hides_it(fake_thor: FakeThor) -> None:
    code, out, err = await run(fake_thor, "x", key="wrong-key-123456")
    assert code == 1 and "APIKeyNotFound" in err
    assert "wrong-key-123456" not in out + err


async def test_status_without_key_explains(fake_thor: FakeThor) -> None:
    code, _, err = await run(fake_thor, "x", key="")
    assert code == 2 and "THOR_API_KEY: Thor's API key" in err and "thorbot: thorbot" not in err


async def test_status_strips_control_characters_from_thor_text(fake_thor: FakeThor) -> None:
    boxes = list(fake_thor.fleet.boxes.values())
    boxes[0].alias = "\x1b[2J\x1b[31mEvil\x07 box \u202eevil"
    boxes[0].timezone = "\x1b]0;pwned\x07"
    boxes[1].alias = "\x1b[2JEvil twin"
    code, out, err = await run(fake_thor, boxes[0].id)
    assert code == 0 and "Evil" in out
    assert "\x1b" not in out + err and "\x07" not in out + err and "\u202e" not in out + err
    code, out, err = await run(fake_thor, "evi")
    assert code == 4 and "\x1b" not in out + err


async def test_status_shows_the_running_sessions(fake_thor: FakeThor) -> None:
    box = next(iter(fake_thor.fleet.boxes.values()))
    session = fake_thor.fleet.start_session(box.id, 1, mode="local")
    assert session is not None
    session.energy_wh = 8_300
    code, out, err = await run(fake_thor, box.id)
    assert code == 0, err
    assert "8.3 kWh" in out and "started by RFID" in out and session.id_tag not in out


async def test_status_holds_the_interactive_deadline_when_thor_never_answers(fake_thor: FakeThor) -> None:
    fake_thor.faults.hang = True
    code, _, err = await run(fake_thor, "somebox", THORBOT_INTERACTIVE_DEADLINE="2", THORBOT_THOR_TIMEOUT="10",
                             THORBOT_THOR_RETRIES="2")
    assert code == 1 and "did not answer in 2 s" in err, err  # the deadline, not the worker's timeouts and retries
