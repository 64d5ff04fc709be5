"""The Thor API key and the Nayax tokens reach no Slack payload and no log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.helpers import THOR_KEY, AppRig
from thorbot import redact
from thorbot.adapters.thor import ThorClient
from thorbot.sim.fleet import Fleet, SimBox, SimConnector
from thorbot.sim.thor_server import FakeThor


@pytest.fixture
def real_logging(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """thorbot's own logging setup (configure_logging), restored afterwards for pytest's capture."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    redact.configure_logging("DEBUG")
    yield
    root.handlers[:] = saved
    root.setLevel(level)


async def test_no_secret_in_slack_payloads_or_logs(rig: AppRig, real_logging: None,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    for number, box in enumerate(rig.thor.fleet.boxes.values()):
        box.connectors[0].terminal_id, box.connectors[0].token = f"NYX-{number}", f"nayax-secret-{number:04d}-abcdef"
    session = rig.thor.fleet.start_session(next(iter(rig.thor.fleet.boxes)), 1, mode="local")
    assert session is not None
    tokens = [c.token for b in rig.thor.fleet.boxes.values() for c in b.connectors if c.token]
    for box in rig.thor.fleet.boxes.values():
        _, key = await rig.command(box.id)
        card = await rig.reply(key)
        assert box.alias in str(card) and "NYX-" in str(card)  # the card with its terminal ids was rendered
        _, key = await rig.action("card_share", box.id)
        shared = await rig.reply(key)  # the card, posted in the channel for everyone
        assert shared.get("response_type") == "in_channel" and box.alias in str(shared)
    _, key = await rig.command("subscribe all")
    assert "whole fleet" in str(await rig.reply(key))
    _, key = await rig.command("list")
    listed = str(await rig.reply(key))
    assert all(box.alias in listed for box in rig.thor.fleet.boxes.values())
    rig.thor.faults.error = "InternalServerError"
    _, key = await rig.command("anything")
    assert "Thor" in str(await rig.reply(key))
    logging.getLogger("thorbot.test").error("leak attempt %s", THOR_KEY)
    logs = capfd.readouterr().err
    everything = str(rig.slack.responses) + str(rig.slack.calls) + str(rig.slack.messages)
    for secret in [THOR_KEY, *tokens, session.id_tag]:  # RFID numbers stay out of Slack too
        assert secret not in everything
        assert secret not in logs
    assert "leak attempt [redacted]" in logs


async def test_tokens_are_dropped_as_boxes_are_read_so_redaction_stays_small(fake_thor: FakeThor) -> None:
    fleet: Fleet = fake_thor.fleet
    for i in range(2000):
        fleet.add(SimBox(id=f"TOK{i:05d}", alias=f"Token box {i}",
                         connectors=[SimConnector("type_2", "SOCKET", 22000, 32, "AC_3_PHASE", "T", f"nayax-{i:08d}")]))
    before = redact.registered_count()
    client = ThorClient(fake_thor.base_url, THOR_KEY, retries=0)
    try:
        raws = await client.list_raw()
        boxes = await client.list_chargeboxes()
        one = await client.get_chargebox("TOK00001")
    finally:
        await client.aclose()
    assert redact.registered_count() <= before + 1  # the API key at most; never one entry per token
    assert not any("token" in c for raw in raws for c in raw.get("connectors", []))
    assert "nayax-" not in str(boxes) + str(one)
