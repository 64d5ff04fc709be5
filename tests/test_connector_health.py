"""Connectors that fail drivers while their box looks fine, end to end (worker/usage.py, domain/usage.py).

The simulated fleet has 28 days of finished charges in the fake Thor; the worker seeds each watched box's
baseline from them, counts new charges as the fake Thor reports them, and posts to the fake Slack; Redis
is real. Each kind is driven to its message, and the look-alikes that must stay silent stay silent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import AppRig, assert_valid_message
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.domain.driver_reports import DriverReport, Problem
from thorbot.sim.fleet import SimBox, SimConnector
from thorbot.worker.loop import Worker

SLOT = timedelta(minutes=10)  # the worker judges every 10 minutes; history comes in 10-minute slots
STEP = SLOT.total_seconds()


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # a Wednesday morning
    return clock


@pytest.fixture(autouse=True)
def scripted_fleet(rig: AppRig, clock: Clock) -> None:
    """Three DC boxes with two connectors each, charged only as each test says."""
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    fleet.now = clock.now
    rig.use_clock(clock)
    for box in boxes(rig):
        fleet.scripted.add(box.id)
        box.occupied.clear()
        box.reserved.clear()
    for box in boxes(rig)[:3]:
        box.connectors = [SimConnector("ccs", "CABLE", 150_000, 375, "DC") for _ in range(2)]


def around_the_clock(at: datetime, slot: int) -> bool:
    """The usual pattern: a charge every 20 minutes (slots are 10 minutes), day and night."""
    return slot % 2 == 0


def by_day(at: datetime, slot: int) -> bool:
    """Busy by day (a charge every 10 minutes, 07:00–20:00 UTC), and one every 30 minutes at night."""
    return 7 <= at.hour < 20 or slot % 3 == 0


def history(rig: AppRig, clock: Clock, box: SimBox, connectors: tuple[int, ...] = (1, 2), *, days: int = 28,
            pattern: Callable[[datetime, int], bool] = around_the_clock) -> None:
    """`days` of charges before now, one in each 10-minute slot `pattern` says, 8 minutes at 50 kW each."""
    at, slot = clock.now - timedelta(days=days), 0
    while at < clock.now - SLOT:
        if pattern(at, slot):
            for connector in connectors:
                rig.thor.fleet.add_finished(box.id, connector, at, 8, 6_700)
        at, slot = at + SLOT, slot + 1


async def seeded_worker(rig: AppRig, clock: Clock, watched: list[SimBox]) -> Worker:
    for box in watched:
        await subscribe(rig, box.id)
    worker = make_worker(rig, clock, finished_interval=1.0, escalate_after=0.0)
    await poll(worker, clock, rig)
    for _ in range(4 * len(watched)):  # seeding: one 7-day chunk per tick, after the cycle
        await worker.tick(poll=False)
    assert set(await rig.ctx.redis.hkeys(keys.USAGE_SEEDED)) == {b.id for b in watched}
    return worker


async def live(rig: AppRig, clock: Clock, worker: Worker, hours: float, charging: list[tuple[SimBox, int]],
               pattern: Callable[[datetime, int], bool] = around_the_clock) -> None:
    """`hours` of polls every 10 minutes; each connector in `charging` starts a charge in the slots `pattern`
    says (the slot counts from the start of the day, as in `history`)."""
    for _ in range(int(hours * 3600 / SLOT.total_seconds())):
        clock.advance(SLOT.total_seconds())
        rig.thor.fleet.now = clock.now
        slot = int((clock.now - clock.now.replace(hour=0, minute=0)).total_seconds() // 600)
        if pattern(clock.now, slot):
            for box, connector in charging:
                rig.thor.fleet.add_finished(box.id, connector, clock.now - timedelta(minutes=9), 8, 6_700)
        await poll(worker, clock, rig)


def texts(rig: AppRig) -> str:
    return json.dumps([m.text for m in rig.slack.posts("C0ALERTS")] + [m.blocks for m in rig.slack.posts("C0ALERTS")],
                      ensure_ascii=False)


async def test_a_ghost_connector_is_alerted_with_evidence_and_recovers_at_its_next_start(
        rig: AppRig, clock: Clock) -> None:
    ghost, *others = boxes(rig)[:3]
    for box in (ghost, *others):
        history(rig, clock, box)
    worker = await seeded_worker(rig, clock, [ghost, *others])
    busy = [(ghost, 2)] + [(box, c) for box in others for c in (1, 2)]
    await live(rig, clock, worker, 3, busy)
    assert alerts(rig) == []  # three hours without a start is not yet unusual enough
    await live(rig, clock, worker, 6, busy)
    posted = alerts(rig)
    assert len(posted) == 1, [m.text for m in posted]
    assert_valid_message({"text": posted[0].text, "blocks": posted[0].blocks})
    words = json.dumps(posted[0].blocks, ensure_ascii=False)
    assert "not charging anyone" in words and "connector #1" in words
    assert "no start for" in words and "usually" in words and "other connectors started" in words

    _, key = await rig.command(ghost.id)  # the card grades the connector, with the reason
    card = json.dumps((await rig.reply(key))["blocks"], ensure_ascii=False)
    assert ":red_circle: failing: no start for" in card
    _, key = await rig.command("list")  # and the list puts the box first among the problems
    listing = json.dumps((await rig.reply(key))["blocks"], ensure_ascii=False)
    assert "#1 :red_circle: failing" in listing

    await live(rig, clock, worker, 0.5, busy + [(ghost, 1)])  # a driver charges there again
    recovery = [m for m in rig.slack.posts("C0ALERTS") if m.thread_ts == posted[0].ts]
    assert recovery and "charging again" in recovery[-1].text
    assert len(alerts(rig)) == 1


async def test_a_drivers_report_makes_a_suspicious_silence_an_alert_at_once_and_thorbot_confirms_the_report(
        rig: AppRig, clock: Clock) -> None:
    ghost, *others = boxes(rig)[:3]
    for box in (ghost, *others):
        history(rig, clock, box)
    worker = await seeded_worker(rig, clock, [ghost, *others])
    busy = [(ghost, 2)] + [(box, c) for box in others for c in (1, 2)]
    await live(rig, clock, worker, 3, busy)
    assert alerts(rig) == []  # three hours without a start: not yet unusual enough on its own
    await rig.ctx.stores.sessions.save_report(DriverReport(box_id=ghost.id, connector=1, problem=Problem.WONT_START,
                                                           source="src-a", at=clock.now))
    clock.advance(5)
    await poll(worker, clock, rig)  # between the 10-minute judgements: the report is judged now
    [alert] = alerts(rig)  # one message: the two arrived in the same cycle, so they are grouped
    assert alert.text.startswith("2 problems on 1 chargebox need attention"), alert.text
    assert_valid_message({"text": alert.text, "blocks": alert.blocks})
    words = json.dumps(alert.blocks, ensure_ascii=False)
    assert "is *not charging anyone* on connector #1" in words and "and a driver reported it" in words
    assert "is *reported by drivers* on connector #1" in words and "confirmed by thorbot" in words
    record = await rig.ctx.stores.sessions.connector_record(ghost.id, 1)
    assert record is not None and record.reported is not None and record.reported.confirmed_by == "thorbot"


async def test_a_site_closed_for_the_day_is_not_a_ghost(rig: AppRig, clock: Clock) -> None:
    """Both connectors of a box stop at once (a closed car park, a holiday): nothing shows the site open. Its
    connector #1 is busy (a charge every 10 minutes) and #2 seldom used (one every 6 hours): scaled by its quiet
    sibling alone, #1's silence would still be rare enough to alert; a sibling that started nothing says the
    site is closed, so #1 is not judged quiet (domain/usage.py `check_quiet`)."""
    closed, *others = boxes(rig)[:3]
    history(rig, clock, closed, (1,), pattern=lambda at, slot: True)
    history(rig, clock, closed, (2,), pattern=lambda at, slot: slot % 36 == 0)
    for box in others:
        history(rig, clock, box)
    worker = await seeded_worker(rig, clock, [closed, *others])
    await live(rig, clock, worker, 20, [(box, c) for box in others for c in (1, 2)])
    assert alerts(rig) == []


async def test_a_ghost_found_at_night_is_alerted_when_the_day_starts(rig: AppRig, clock: Clock) -> None:
    """Nights are normally idle (under half its average hour): nobody is paged for a quiet connector then."""
    clock.now = clock.now.replace(hour=19, minute=50)
    rig.thor.fleet.now = clock.now
    ghost, *others = boxes(rig)[:3]
    for box in (ghost, *others):
        history(rig, clock, box, pattern=by_day)
    worker = await seeded_worker(rig, clock, [ghost, *others])
    busy = [(ghost, 2)] + [(box, c) for box in others for c in (1, 2)]
    await live(rig, clock, worker, 10, busy, by_day)  # → 05:50
    assert alerts(rig) == []
    await live(rig, clock, worker, 2, busy, by_day)  # → 07:50
    assert len(alerts(rig)) == 1


async def test_a_connector_with_too_little_history_is_not_judged_and_its_card_says_so(
        rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    history(rig, clock, box, days=5)  # under two complete weeks
    worker = await seeded_worker(rig, clock, [box])
    await live(rig, clock, worker, 12, [(box, 2)])
    assert alerts(rig) == []
    _, key = await rig.command(box.id)
    card = json.dumps((await rig.reply(key))["blocks"], ensure_ascii=False)
    assert "not enough history to judge" in card, card
    # Next to "success 7d: 100 % (60/60)" it must not claim "0 charges": the two count different things.
    assert "success 7d" in card and "0 charges" not in card, card
    assert "learnt from complete weeks (Monday to Sunday UTC), and too few are counted yet" in card, card


async def test_occupied_without_a_charge_gets_one_quiet_notice(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    worker = await seeded_worker(rig, clock, [box])
    box.occupied.add(2)  # listed occupied, and no charge runs on it
    await live(rig, clock, worker, 0.5, [])
    assert rig.slack.posts("C0ALERTS") == []  # 30 minutes: a driver may still be plugging in
    await live(rig, clock, worker, 2, [])
    notices = rig.slack.posts("C0ALERTS")
    assert len(notices) == 1, [m.text for m in notices]
    assert_valid_message({"text": notices[0].text, "blocks": notices[0].blocks})
    assert "occupied without a charge" in texts(rig) and "connector #2" in texts(rig)
    assert "<@" not in texts(rig) and "<!" not in texts(rig)  # a quiet notice mentions no one
    box.occupied.discard(2)  # freed: a new episode later is a new notice
    await live(rig, clock, worker, 0.5, [])
    box.occupied.add(2)
    await live(rig, clock, worker, 1, [])
    assert len(rig.slack.posts("C0ALERTS")) == 2


async def test_a_charge_running_on_an_occupied_connector_is_not_a_notice(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    worker = await seeded_worker(rig, clock, [box])
    session = rig.thor.fleet.start_session(box.id, 1, mode="local", minutes=600)
    assert session is not None
    await live(rig, clock, worker, 2, [])
    assert [m for m in rig.slack.posts("C0ALERTS") if "occupied" in m.text] == []


async def test_a_dc_connector_charging_slowly_gets_one_notice_and_one_slow_car_does_not(
        rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    history(rig, clock, box)
    worker = await seeded_worker(rig, clock, [box])

    async def charges(kw: float, count: int) -> None:
        for _ in range(count):
            clock.advance(STEP)
            rig.thor.fleet.now = clock.now
            rig.thor.fleet.add_finished(box.id, 1, clock.now - timedelta(minutes=30), 30, kw * 1000 / 2)
            await poll(worker, clock, rig)

    await charges(60, 6)
    await charges(9, 1)  # one slow car
    await charges(60, 4)
    assert rig.slack.posts("C0ALERTS") == []
    await charges(9, 5)  # a derated power module: every car is slow now
    notices = rig.slack.posts("C0ALERTS")
    assert len(notices) == 1 and "charging slowly" in notices[0].text, [m.text for m in notices]
    assert "at 9 kW" in texts(rig) and "against 60 kW usually and 150 kW rated" in texts(rig), texts(rig)
    await charges(9, 3)
    assert len(rig.slack.posts("C0ALERTS")) == 1  # once per episode


async def test_app_home_lists_the_connectors_needing_a_look(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    worker = await seeded_worker(rig, clock, [box])
    box.occupied.add(2)
    await live(rig, clock, worker, 1, [])
    rig.slack.memberships["U0ALICE"] = ["C0ALERTS"]
    view = await rig.open_home("U0ALICE")
    text = json.dumps(view, ensure_ascii=False)
    assert "Connectors needing a look" in text and "#2 :large_yellow_circle: watch: occupied without a charge" in text


async def test_bad_session_dates_are_skipped_with_one_log_line_and_never_poison_a_baseline(
        rig: AppRig, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    box, other = boxes(rig)[:2]
    worker = await seeded_worker(rig, clock, [box, other])
    before = await rig.ctx.stores.usage.box(box.id)
    for started in (clock.now + timedelta(days=400), clock.now - timedelta(days=3000), clock.now + timedelta(days=2)):
        rig.thor.fleet.finished.append({"id": int(started.timestamp()) % 10**6, "chargebox": box.id, "connector": 1,
                                        "date_started": int(started.timestamp() * 1000),
                                        "date_finished": int(clock.now.timestamp() * 1000), "energy": 5000})
    with caplog.at_level("WARNING"):
        await live(rig, clock, worker, 0.5, [])
    assert await rig.ctx.stores.usage.box(box.id) == before
    assert sum("skipped a charge start dated" in r.getMessage() for r in caplog.records) == 1


async def test_renumbered_connectors_reset_only_their_own_box(rig: AppRig, clock: Clock) -> None:
    box, other = boxes(rig)[:2]
    for each in (box, other):
        history(rig, clock, each)
    worker = await seeded_worker(rig, clock, [box, other])
    kept = await rig.ctx.stores.usage.box(other.id)
    assert set(await rig.ctx.stores.usage.box(box.id)) == {1, 2}
    box.connectors = box.connectors[:1]  # Thor now lists one connector where there were two
    await live(rig, clock, worker, 0.5, [(box, 1)])
    assert set(await rig.ctx.stores.usage.box(box.id)) <= {1}
    assert box.id not in await rig.ctx.redis.hkeys(keys.USAGE_SEEDED)  # seeded afresh
    after = await rig.ctx.stores.usage.box(other.id)
    assert {c: u.weeks for c, u in after.items()} == {c: u.weeks for c, u in kept.items()}
    for _ in range(4):
        await worker.tick(poll=False)
    assert box.id in await rig.ctx.redis.hkeys(keys.USAGE_SEEDED)
