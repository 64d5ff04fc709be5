"""Workflow Builder custom steps through the real app: Slack's `function_executed` event in, and
`functions.completeSuccess` / `completeError` out (with the execution's own token), as Slack documents them."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import AppRig
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.domain.driver_reports import Problem
from thorbot.serve.workflow_steps import read_problem


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def quiet_fleet(rig: AppRig) -> None:
    rig.thor.fleet.incident_rate = 0.0


async def test_a_support_agents_step_opens_the_drivers_incident_and_gives_the_alerts_link(
        rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    step = asyncio.ensure_future(rig.run_step("report_charger_problem", {
        "chargebox": box.id, "connector": 1, "problem": "Screen or buttons dead",
        "details": "caller: <!here> no display"}))
    while not await rig.ctx.redis.llen(keys.DRIVER_INBOX):  # the step queued the report: now the worker polls
        await asyncio.sleep(0.01)
    await poll(worker, clock, rig, 5)
    outcome = await step
    [alert] = alerts(rig)
    assert outcome == {"outputs": {"alert_link": f"https://fake.slack/archives/C0ALERTS/p{alert.ts.replace('.', '')}"}}
    assert "reported by drivers" in alert.text and "<!here>" not in alert.text


async def test_a_step_with_a_box_or_connector_that_does_not_exist_fails_in_plain_words(rig: AppRig) -> None:
    outcome = await rig.run_step("report_charger_problem", {"chargebox": "no-such-box-anywhere", "connector": 1,
                                                            "problem": "screen"})
    assert "No chargebox" in outcome["error"]
    box = boxes(rig)[0]
    outcome = await rig.run_step("report_charger_problem", {"chargebox": box.id, "connector": 99, "problem": "x"})
    assert "#99 is not one of them" in outcome["error"]


async def test_the_status_step_gives_state_heartbeat_and_connectors(rig: AppRig) -> None:
    box = boxes(rig)[0]
    outcome = await rig.run_step("get_chargebox_status", {"chargebox": box.id})
    outputs = outcome["outputs"]
    assert outputs["state"] in ("online", "offline", "silent", "inactive")
    assert outputs["connectors_free"] + outputs["connectors_occupied"] + outputs["connectors_out_of_order"] == \
        len(box.connectors)


def test_a_workflows_words_for_the_problem_are_read() -> None:
    assert read_problem("screen") is Problem.SCREEN
    assert read_problem("Payment or card refused") is Problem.PAYMENT
    assert read_problem("wont start") is Problem.WONT_START
    assert read_problem("the dog ate it") is Problem.OTHER
