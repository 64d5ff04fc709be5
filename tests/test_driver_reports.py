"""Incidents drivers open, end to end through the real worker: one alert per watching channel quoting the
driver as plain text, further reports in the thread, a successful charge resolves it; reports and the
EV-ChART count it only once confirmed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.helpers import AppRig, fake_pagerduty
from tests.test_pagers import ROUTING_KEY, connect
from tests.test_sessions import charge
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.domain.alerts import ACTION_CONFIRM, ACTION_RESOLVE
from thorbot.domain.driver_reports import DriverReport, Problem
from thorbot.domain.pager import page_key
from thorbot.sim.pagerduty import FakePagerDuty


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with fake_pagerduty(ROUTING_KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def quiet_fleet(rig: AppRig) -> None:
    rig.thor.fleet.incident_rate = 0.0


def a_report(rig: AppRig, clock: Clock, box_id: str, source: str, details: str = "") -> DriverReport:
    return DriverReport(box_id=box_id, connector=1, problem=Problem.SCREEN, details=details, source=source,
                        at=clock.now)


async def test_a_drivers_report_alerts_every_watching_channel_and_a_good_charge_resolves_it(
        rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id, channel="C0ALERTS")
    await subscribe(rig, "all", channel="C0FLEET")
    worker = make_worker(rig, clock, finished_interval=1.0)
    await poll(worker, clock, rig)
    sessions = rig.ctx.stores.sessions
    await sessions.save_report(a_report(rig, clock, box.id, "src-a", "<!channel> screen *black* <https://x.io>"))
    await poll(worker, clock, rig, 5)
    for channel in ("C0ALERTS", "C0FLEET"):
        [alert] = alerts(rig, channel)
        shown = json.dumps(alert.blocks)
        assert "reported by drivers" in alert.text and "connector #1" in shown and "screen or buttons dead" in shown
        quote = next(b for b in alert.blocks if b["type"] == "section" and b["text"]["type"] == "plain_text")
        assert "<!channel>" in quote["text"]["text"]  # quoted as plain text: Slack renders no mention from it
        assert "<!channel>" not in alert.text and "<!channel>" not in json.dumps(
            [b for b in alert.blocks if b is not quote])
        assert "1 report from 1 source" in shown
    await sessions.save_report(a_report(rig, clock, box.id, "src-a"))  # the same source within the hour: nothing
    await sessions.save_report(a_report(rig, clock, box.id, "src-b", "card reader ignores me"))
    await poll(worker, clock, rig, 5)
    for channel in ("C0ALERTS", "C0FLEET"):
        [alert] = alerts(rig, channel)  # no new alert
        [further] = [m for m in rig.slack.posts(channel) if m.thread_ts == alert.ts]
        assert "Another driver report" in further.text and "2 reports from 2 sources" in further.text
    assert await rig.ctx.redis.llen(keys.DRIVER_INBOX) == 0
    rig.thor.fleet.end_session(charge(rig, clock, energy=18_000).transaction)
    await poll(worker, clock, rig, 5)
    for channel in ("C0ALERTS", "C0FLEET"):
        [alert] = alerts(rig, channel)
        replies = [m.text for m in rig.slack.posts(channel) if m.thread_ts == alert.ts]
        assert any("charging again after a driver's report" in r for r in replies), replies
    record = await sessions.connector_record(box.id, 1)
    assert record is not None and record.reported is None and record.fixed is not None


async def test_an_unconfirmed_report_counts_nowhere_and_a_confirmed_one_is_a_port_outage(
        rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, finished_interval=1.0)
    await poll(worker, clock, rig)
    sessions = rig.ctx.stores.sessions
    await sessions.save_report(a_report(rig, clock, box.id, "src-a"))
    await poll(worker, clock, rig, 5)
    rig.thor.fleet.end_session(charge(rig, clock, energy=18_000).transaction)
    await poll(worker, clock, rig, 600)
    assert await rig.ctx.redis.zcard(keys.history(box.id)) == 0  # unconfirmed: counted nowhere
    await sessions.save_report(a_report(rig, clock, box.id, "src-b"))
    await poll(worker, clock, rig, 5)
    rig.thor.fleet.end_session(charge(rig, clock, energy=20).transaction)  # a failed start corroborates it
    await poll(worker, clock, rig, 600)
    rig.thor.fleet.end_session(charge(rig, clock, energy=18_000).transaction)
    await poll(worker, clock, rig, 600)
    [member] = await rig.ctx.redis.zrange(keys.history(box.id), 0, -1)
    assert member.startswith("r|1|")


async def test_a_person_confirms_then_resolves_a_report_with_its_cause(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, finished_interval=1.0)
    await poll(worker, clock, rig)
    await rig.ctx.stores.sessions.save_report(a_report(rig, clock, box.id, "src-a", "cable cut"))
    await poll(worker, clock, rig, 5)
    [alert] = alerts(rig)
    assert ACTION_CONFIRM in json.dumps(alert.blocks) and ACTION_RESOLVE in json.dumps(alert.blocks)
    _, key = await rig.action(ACTION_CONFIRM, "confirm", message={"ts": alert.ts, "text": alert.text})
    assert "Confirmed" in json.dumps(await rig.reply(key))
    await poll(worker, clock, rig, 60)
    record = await rig.ctx.stores.sessions.connector_record(box.id, 1)
    assert record is not None and record.reported is not None and record.reported.confirmed_by == "U0ALICE"
    _, key = await rig.action(ACTION_RESOLVE, "", message={"ts": alert.ts, "text": alert.text}, selected="vandalism")
    assert "Resolved" in json.dumps(await rig.reply(key))
    await poll(worker, clock, rig, 60)
    replies = [m.text for m in rig.slack.posts() if m.thread_ts == alert.ts]
    assert any("resolved by <@U0ALICE>" in r for r in replies), replies
    [member] = await rig.ctx.redis.zrange(keys.history(box.id), 0, -1)
    assert member.startswith("r|1|")  # a confirmed report is that port's outage; vandalism excludes it
    assert "vandalism" in json.dumps(await rig.ctx.redis.hgetall(keys.causes(box.id)))


def two_port_box(rig: AppRig) -> str:
    box = next(b for b in boxes(rig) if len(b.connectors) >= 2)
    return box.id


async def test_another_port_charging_after_the_report_corroborates_it_and_an_unconfirmed_one_is_shown_apart(
        rig: AppRig, clock: Clock) -> None:
    box_id = two_port_box(rig)
    await subscribe(rig, box_id)
    worker = make_worker(rig, clock, finished_interval=1.0)
    await poll(worker, clock, rig)
    sessions, fleet = rig.ctx.stores.sessions, rig.thor.fleet
    await sessions.save_report(DriverReport(box_id=box_id, connector=1, problem=Problem.SCREEN, source="src-a",
                                            at=clock.now))
    await poll(worker, clock, rig, 5)
    fleet.add_finished(box_id, 1, clock.now, 5, 18_000)  # someone charges there: fixed, never confirmed
    await poll(worker, clock, rig, 600)
    assert await rig.ctx.redis.zcard(keys.history(box_id)) == 0
    _, key = await rig.command(f"report {box_id} 7d")
    shown = json.dumps(await rig.reply(key))
    assert "1 driver report nobody confirmed (1 incident): shown apart, counted in no figure" in shown

    reported_at = clock.now
    await sessions.save_report(DriverReport(box_id=box_id, connector=1, problem=Problem.WONT_START, source="src-b",
                                            at=reported_at))
    await poll(worker, clock, rig, 5)
    fleet.add_finished(box_id, 2, reported_at - timedelta(minutes=20), 25, 18_000)  # begun before the report
    await poll(worker, clock, rig, 600)
    record = await sessions.connector_record(box_id, 1)
    assert record is not None and record.reported is not None and record.reported.confirmed is None
    fleet.add_finished(box_id, 2, clock.now, 5, 18_000)  # the box charges others, not here: thorbot agrees
    await poll(worker, clock, rig, 600)
    record = await sessions.connector_record(box_id, 1)
    assert record is not None and record.reported is not None and record.reported.confirmed_by == "thorbot"
    assert await rig.ctx.redis.smembers(keys.DRIVERS_OPEN) == {f"{box_id}#1"}
    fleet.add_finished(box_id, 1, clock.now, 5, 18_000)
    await poll(worker, clock, rig, 600)
    [member] = await rig.ctx.redis.zrange(keys.history(box_id), 0, -1)
    assert member.startswith("r|1|")  # from its first report, a port outage
    assert await rig.ctx.redis.smembers(keys.DRIVERS_OPEN) == set()


@pytest.mark.parametrize("rig", [{"admins": "U0ALICE"}], indirect=True)
async def test_a_report_pages_once_where_a_pager_is_connected_and_its_fix_resolves_the_page(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    rig.use_clock(clock)
    await connect(rig)  # C0ALERTS pages PagerDuty
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, finished_interval=1.0, pagerduty_events_url=pagerduty.events_url)
    await poll(worker, clock, rig)
    sessions = rig.ctx.stores.sessions
    await sessions.save_report(a_report(rig, clock, box.id, "src-a", "dead screen"))
    await poll(worker, clock, rig, 5)
    await worker.tick(poll=False)  # the page goes out after the alert landed
    [alert] = alerts(rig)
    [page] = pagerduty.incidents()
    assert page.status == "triggered" and page.dedup_key == page_key("C0ALERTS", alert.ts)
    await sessions.save_report(a_report(rig, clock, box.id, "src-b"))  # into the thread: no second page
    await poll(worker, clock, rig, 5)
    await worker.tick(poll=False)
    assert len(pagerduty.incidents()) == 1 and page.events == ["trigger"]
    rig.thor.fleet.end_session(charge(rig, clock, energy=18_000).transaction)
    await poll(worker, clock, rig, 600)
    await worker.tick(poll=False)
    assert page.status == "resolved" and page.events == ["trigger", "resolve"]
