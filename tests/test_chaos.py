"""The chaos run in the suite: the fleet simulator, two real workers, and every fault at once (thorbot/sim/chaos.py).

THORBOT_CHAOS_SEED picks the story (default 1); `./scripts/chaos 10` runs it with ten seeds in a row.
"""

from __future__ import annotations

import os

import pytest

from thorbot.sim.chaos import ChaosPlan, run_chaos

# Read when the module loads: the suite's fixtures clear THORBOT_* from the environment around each test.
SEED = int(os.environ.get("THORBOT_CHAOS_SEED", "1"))


@pytest.mark.timeout(180)
async def test_every_incident_gets_one_alert_and_one_recovery_in_its_thread_per_channel() -> None:
    report = await run_chaos(ChaosPlan(seed=SEED, boxes=30, seconds=20.0))
    assert not report.violations, report.summary() + "\n" + "\n".join(report.violations) + "\n" + report.logs
    # The run must have exercised what it claims to: incidents, kills, a Redis restart, Slack faults.
    assert report.incidents >= 3 and report.kills >= 1 and report.redis_restarts == 1, report.summary()
    assert (report.pauses, report.stalls, report.partitions) == (1, 2, 1), report.summary()  # stalled, not killed
    assert sum(report.slack_faults.values()) >= 3, report.summary()
    assert report.recoveries == report.alerts, report.summary()
    assert report.pages >= 1 and sum(report.pager_faults.values()) >= 1, report.summary()  # paged through faults
