"""Reliability reports and digests end to end: a scripted month through the real worker, the report and
its CSV through signed commands and clicks, digests exactly once across workers and restarts."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import AppRig, assert_valid_message
from tests.worker_rig import Clock, make_worker, subscribe
from thorbot.adapters import keys
from thorbot.domain.report_view import ACTION_REPORT_CSV
from thorbot.sim.fleet import SimBox

POLL = timedelta(minutes=20)
OCT = datetime(2026, 10, 1, tzinfo=UTC)
WORKER = {"disconnect_grace": 0.0, "recovery_grace": 0.0, "heartbeat_stale_after": 7200.0, "poll_interval": 1200.0,
          "escalate_max": 0}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def span(day: int, hour: int, minute: int, hours: float) -> tuple[datetime, datetime]:
    start = datetime(2026, 10, day, hour, minute, tzinfo=UTC)
    return start, start + timedelta(hours=hours)


# The script: two outages of A, one of B inside its maintenance (a mute), C never down, D added on the
# 16th, and Thor failing for 6 hours (thorbot cannot observe: unknown time).
A_OUT = [span(5, 10, 7, 3), span(22, 1, 7, 5)]
B_OUT = [span(12, 14, 7, 4)]
B_MUTE_AT = datetime(2026, 10, 12, 13, 0, tzinfo=UTC)
THOR_DOWN = span(20, 6, 10, 6)
D_ADDED = datetime(2026, 10, 16, 0, 0, tzinfo=UTC)
MINUTES = 31 * 24 * 60


def down(outages: list[tuple[datetime, datetime]], t: datetime) -> bool:
    return any(a <= t < b for a, b in outages)


async def play_month(rig: AppRig, clock: Clock) -> dict[str, SimBox]:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    a, b, c, d = list(fleet.boxes.values())[:4]
    for extra in list(fleet.boxes)[4:]:
        fleet.remove(extra)
    fleet.remove(d.id)
    clock.now = OCT - timedelta(hours=1)
    rig.use_clock(clock)
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, **WORKER)
    muted = False
    while clock.now <= OCT + timedelta(days=31, hours=1):
        t = clock.now
        if t >= D_ADDED and d.id not in fleet.boxes:
            fleet.add(d)
        if t >= B_MUTE_AT and not muted:
            _, key = await rig.command(f"maintenance {b.id} now 6h rewiring")
            assert "Maintenance" in json.dumps(await rig.reply(key))
            muted = True
        for box, outages in ((a, A_OUT), (b, B_OUT), (c, []), (d, [])):
            box.connected = not down(outages, t)
            if box.connected:
                box.last_heartbeat = t
        rig.thor.faults.error = "InternalServerError" if THOR_DOWN[0] <= t < THOR_DOWN[1] else None
        await worker.tick(poll=True)
        clock.now += POLL
    return {"a": a, "b": b, "c": c, "d": d}


async def wait_for_file(rig: AppRig, count: int = 1) -> dict[str, Any]:
    for _ in range(250):
        if len(rig.slack.files) >= count:
            return rig.slack.files[count - 1]
        await asyncio.sleep(0.02)
    raise AssertionError("no file was uploaded")


@pytest.mark.timeout(180)
async def test_a_scripted_month_matches_the_hand_calculation(rig: AppRig, clock: Clock) -> None:
    boxes = await play_month(rig, clock)
    _, key = await rig.command("report all 2026-10")
    report = await rig.reply(key)
    assert_valid_message(report)
    text = json.dumps(report, ensure_ascii=False)
    assert "connectivity uptime" in text.lower() and "NEVI" in text
    assert ":large_red_square:" in text and "Download CSV" in text

    value = next(e["value"] for b in report["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == ACTION_REPORT_CSV)
    await rig.action(ACTION_REPORT_CSV, value)
    shared = await wait_for_file(rig)
    assert shared["channel"] == "C0ALERTS" and "<@U0ALICE>" in shared["comment"]
    rows = {r["box_id"]: r for r in csv.DictReader(io.StringIO(shared["content"]))}

    tolerance = POLL.total_seconds() / 60  # one poll interval per outage (minutes)
    unknown = 6 * 60
    a, b, c, d = (rows[boxes[k].id] for k in "abcd")
    for row in (a, b, c):
        assert abs(float(row["unknown_min"]) - unknown) <= 2 * tolerance
        assert abs(float(row["measured_min"]) - (MINUTES - unknown)) <= 2 * tolerance
    # A: 3 h + 5 h down. Hand calculation: (minutes − outage) / minutes.
    assert a["outages"] == "2" and abs(float(a["downtime_min"]) - 480) <= 2 * tolerance
    expected_a = (MINUTES - unknown - 480) / (MINUTES - unknown) * 100
    assert abs(float(a["uptime_pct"]) - expected_a) <= 2 * tolerance / (MINUTES - unknown) * 100
    assert abs(float(a["longest_min"]) - 300) <= tolerance and abs(float(a["mttr_min"]) - 240) <= tolerance
    # B: 4 h down, all inside its scheduled maintenance: excluded, so 100 %.
    assert b["outages"] == "1" and abs(float(b["excluded_min"]) - 240) <= tolerance
    assert float(b["downtime_min"]) == 0 and float(b["uptime_pct"]) == 100
    assert c["outages"] == "0" and float(c["uptime_pct"]) == 100
    # D: measured from its first sighting on the 16th (16 days less the unknown 6 h), not the whole month.
    assert abs(float(d["measured_min"]) - (16 * 24 * 60 - unknown)) <= 2 * tolerance
    assert rows["FLEET"]["outages"] == "3"
    assert list(rows)[1] == boxes["a"].id  # worst first

    # One box, by name, over 12 months; and the App Home shows the fleet's 30 days.
    _, key = await rig.command(f"report {boxes['a'].alias} 12m")
    one = await rig.reply(key)
    assert_valid_message(one)
    assert boxes["a"].alias in json.dumps(one, ensure_ascii=False)
    assert "one square per month" in json.dumps(one).lower()


async def test_report_errors_are_helpful(rig: AppRig) -> None:
    response, _ = await rig.command("report all 13m")  # refused at once, in the acknowledgement
    assert response.status_code == 200 and "not a period I know" in response.text
    _, key = await rig.command("report nosuchbox-at-all 7d")
    assert "No chargebox matches" in json.dumps(await rig.reply(key))
    _, key = await rig.command("report")
    empty = await rig.reply(key)
    assert "no history" in json.dumps(empty)


async def digests(rig: AppRig) -> list[Any]:
    return [m for m in rig.slack.posts("C0ALERTS") if "digest" in m.text]


async def test_a_digest_is_posted_once_per_period_across_workers_and_late_when_missed(rig: AppRig,
                                                                                     clock: Clock) -> None:
    rig.use_clock(clock)
    clock.now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    rig.slack.user_zones["U0ALICE"] = "Europe/Rome"
    await subscribe(rig, "all")
    _, key = await rig.command("digest daily 09:00")
    answer = json.dumps(await rig.reply(key))
    assert "every day at 09:00 (Europe/Rome)" in answer
    first, second = make_worker(rig, clock, "w1"), make_worker(rig, clock, "w2")
    await first.tick(poll=True)
    assert await digests(rig) == []
    clock.now = datetime(2026, 11, 23, 8, 1, tzinfo=UTC)  # 09:01 in Rome
    await first.tick(poll=True)
    await second.tick(poll=True)
    posted = await digests(rig)
    assert len(posted) == 1 and "yesterday" in posted[0].text and "Late" not in json.dumps(posted[0].blocks)
    assert_valid_message({"text": posted[0].text, "blocks": posted[0].blocks})
    # The leader dies; the other takes over within the lease: still one digest for the day.
    await rig.ctx.redis.delete(keys.LEASE)
    clock.now += timedelta(minutes=5)
    await second.tick(poll=True)
    await make_worker(rig, clock, "w3").tick(poll=True)
    assert len(await digests(rig)) == 1
    # No worker runs for two days: one late digest for the latest day, not three.
    clock.now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    await rig.ctx.redis.delete(keys.LEASE)
    await make_worker(rig, clock, "w4").tick(poll=True)
    posted = await digests(rig)
    assert len(posted) == 2 and "Late by" in json.dumps(posted[1].blocks)
    _, key = await rig.command("digest off")
    assert "Digest stopped" in json.dumps(await rig.reply(key))


@pytest.mark.parametrize("rig", [{"admins": "U0BOSS"}], indirect=True)
async def test_only_admins_set_digests(rig: AppRig) -> None:
    _, key = await rig.command("digest daily 09:00", user="U0RANDOM")
    assert "Only thorbot admins" in json.dumps(await rig.reply(key))


async def test_the_app_home_shows_the_fleets_uptime(rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, **WORKER)
    for _ in range(2):  # first seen, then twenty minutes watched
        for box in rig.thor.fleet.boxes.values():
            box.last_heartbeat = clock.now
        await worker.tick(poll=True)
        clock.now += POLL
    home = json.dumps(await rig.open_home("U0ALICE"), ensure_ascii=False)
    assert "Connectivity uptime, last 30 days: 100 %" in home, home


async def test_boxes_watched_before_history_existed_are_measured_after_an_upgrade(rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    await subscribe(rig, "all")
    for box in rig.thor.fleet.boxes.values():
        box.last_heartbeat = clock.now
    await make_worker(rig, clock, **WORKER).tick(poll=True)
    await rig.ctx.redis.delete(keys.HISTORY_FIRST_SEEN, keys.HISTORY_NAMES, keys.LEASE)  # as before this version
    clock.now += POLL
    await make_worker(rig, clock, "w2", **WORKER).tick(poll=True)  # the upgraded worker starts
    assert await rig.ctx.redis.hlen(keys.HISTORY_FIRST_SEEN) == len(rig.thor.fleet.boxes)
    seen = await rig.ctx.redis.hgetall(keys.HISTORY_FIRST_SEEN)
    clock.now += POLL
    await rig.ctx.redis.delete(keys.LEASE)
    await make_worker(rig, clock, "w3", **WORKER).tick(poll=True)  # another start: every box offered again…
    assert await rig.ctx.redis.hgetall(keys.HISTORY_FIRST_SEEN) == seen  # …and none measured from later


async def watch_an_outage(rig: AppRig, clock: Clock, before: Any = None) -> SimBox:
    """The whole fleet watched in C0ALERTS; `before()` runs once the worker has seen it; then one box is
    down for an hour."""
    rig.use_clock(clock)
    rig.thor.fleet.incident_rate = 0.0
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, **WORKER)
    box = next(iter(rig.thor.fleet.boxes.values()))
    for step in range(6):
        if step == 1 and before is not None:
            await before()
        box.connected = step not in (2, 3, 4)
        for each in rig.thor.fleet.boxes.values():
            if each.connected:
                each.last_heartbeat = clock.now
        await worker.tick(poll=True)
        clock.now += POLL
    return box


async def test_a_mute_covers_only_what_its_channel_watches(rig: AppRig, clock: Clock) -> None:
    async def mute_elsewhere() -> None:  # a channel that watches nothing mutes "all"; so does an old record
        _, key = await rig.command("mute all 6h", channel="C0NOTHING")
        assert "Muted" in json.dumps(await rig.reply(key))
        from thorbot.adapters.history_store import HistoryStore
        await HistoryStore(rig.ctx.redis).record_mute("C0OLD", ["*"], clock.now, clock.now + timedelta(hours=6))

    box = await watch_an_outage(rig, clock, mute_elsewhere)
    _, key = await rig.command(f"report {box.id} 7d")
    text = json.dumps(await rig.reply(key), ensure_ascii=False)
    assert "1 outage, down 1 h" in text and "excluded (maintenance)" not in text


async def test_download_csv_carries_the_box_id_even_when_names_repeat(rig: AppRig, clock: Clock) -> None:
    box = await watch_an_outage(rig, clock)
    twin = list(rig.thor.fleet.boxes.values())[1]
    await rig.ctx.redis.hset(keys.HISTORY_NAMES, twin.id, box.alias)
    record = json.loads(await rig.ctx.redis.hget(keys.BOXES, twin.id))
    await rig.ctx.redis.hset(keys.BOXES, twin.id, json.dumps({**record, "alias": box.alias}))  # same name
    _, key = await rig.command(f"report {box.id} 7d")
    report = await rig.reply(key)
    value = next(e["value"] for b in report["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == ACTION_REPORT_CSV)
    assert box.id in value and box.alias not in value
    _, key = await rig.action(ACTION_REPORT_CSV, value)
    shared = await wait_for_file(rig)
    rows = list(csv.DictReader(io.StringIO(shared["content"])))
    assert [r["box_id"] for r in rows if not r["port"]] == ["FLEET", box.id]
    assert {r["box_id"] for r in rows if r["port"]} == {box.id}  # its ports, each under it


async def test_reports_are_built_in_another_process_shared_and_cached(rig: AppRig, clock: Clock) -> None:
    await watch_an_outage(rig, clock)
    keys_ = [(await rig.command("report all 7d", channel=f"C0ROOM{i}"))[1] for i in range(5)]
    answers = [json.dumps(await rig.reply(k)) for k in keys_]
    assert all("Reliability report" in a for a in answers)
    assert rig.ctx.reports.builds == 1  # five people asked at once: one build, shared
    assert rig.ctx.reports.built_in is not None and rig.ctx.reports.built_in != os.getpid()  # not on serve's loop
    _, key = await rig.command("report all 7d")
    await rig.reply(key)
    assert rig.ctx.reports.builds == 1  # a moment later it is still fresh enough
    _, key = await rig.command("report all 30d")
    await rig.reply(key)
    assert rig.ctx.reports.builds == 2


@pytest.mark.parametrize("rig", [{"report_uploads": 2}], indirect=True)
async def test_report_files_are_limited_per_person(rig: AppRig, clock: Clock) -> None:
    await watch_an_outage(rig, clock)
    _, key = await rig.command("report all 7d")
    report = await rig.reply(key)
    value = next(e["value"] for b in report["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == ACTION_REPORT_CSV)
    for count in (1, 2):
        await rig.action(ACTION_REPORT_CSV, value)
        await wait_for_file(rig, count)
    _, key = await rig.action(ACTION_REPORT_CSV, value)
    assert "try again in a few minutes" in json.dumps(await rig.reply(key))
    _, key = await rig.action(ACTION_REPORT_CSV, value, user="U0BOB")  # someone else still may
    await wait_for_file(rig, 3)
    assert len(rig.slack.files) == 3
