"""The Thor API key and the Nayax tokens reach no Slack payload and no log line."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import THOR_KEY, AppRig
from thorbot.redact import RedactingFilter


async def test_no_secret_in_slack_payloads_or_logs(rig: AppRig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RedactingFilter())
    tokens = [c.token for b in rig.thor.fleet.boxes.values() for c in b.connectors if c.token]
    assert tokens, "the fleet should have Nayax tokens to leak"
    for box in rig.thor.fleet.boxes.values():
        _, key = await rig.command(box.id)
        await rig.reply(key)
        await rig.action("card_share", box.id)
    rig.thor.faults.error = "InternalServerError"
    _, key = await rig.command("anything")
    await rig.reply(key)
    logging.getLogger("thorbot.test").error("leak attempt %s %s", THOR_KEY, tokens[0])
    everything = str(rig.slack.responses) + str(rig.slack.calls) + str(rig.slack.messages)
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in [THOR_KEY, *tokens]:
        assert secret not in everything
        assert secret not in logs
    assert "[redacted]" in logs
