"""The worker end to end: real Redis, fake Thor and fake Slack over loopback, slash-command subscriptions."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import AppRig, assert_valid_message
from tests.worker_rig import Clock, alerts, box_drops, boxes, heartbeat_all, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.sim.fleet import SimBox
from thorbot.worker.loop import Worker


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_one_alert_one_recovery(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    box.occupied = {1}
    confirmation = await subscribe(rig, box.id)
    assert "Now watching" in confirmation["text"]
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 30)
    await poll(worker, clock, rig, 60)
    assert alerts(rig) == []  # within the grace period
    await poll(worker, clock, rig, 60)
    [alert] = alerts(rig)
    assert box.alias in alert.text and "offline" in alert.text
    assert "charging session running on connector #1" in str(alert.blocks)
    assert_valid_message({"text": alert.text, "blocks": alert.blocks})
    for _ in range(3):
        await poll(worker, clock, rig, 60)
    assert len(alerts(rig)) == 1
    box.connected = True
    await poll(worker, clock, rig, 30)
    await poll(worker, clock, rig, 61)
    replies = [m for m in rig.slack.posts("C0ALERTS") if m.thread_ts == alert.ts]
    assert len(replies) == 1 and "back online" in replies[0].text
    assert alert.updates == 1 and "Resolved" in alert.text
    await poll(worker, clock, rig, 60)
    assert len(rig.slack.posts("C0ALERTS")) == 2


async def test_a_blip_posts_nothing(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 20)
    box.connected = True
    await poll(worker, clock, rig, 20)
    await poll(worker, clock, rig, 200)
    assert rig.slack.posts() == []


async def test_silent_box_gets_its_own_alert(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    clock.advance(1000)
    box.last_heartbeat = clock.now.replace() - __import__("datetime").timedelta(seconds=1000)
    await worker.tick(poll=True)
    [alert] = alerts(rig)
    assert "silent" in alert.text


async def test_thor_outage_is_not_a_fleet_outage(rig: AppRig, clock: Clock) -> None:
    for box in boxes(rig)[:3]:
        await subscribe(rig, box.id)
    worker = make_worker(rig, clock, thor_retries=0)
    await poll(worker, clock, rig)
    rig.thor.faults.error = "InternalServerError"
    for box in boxes(rig):
        box.connected = False
    for _ in range(6):
        await poll(worker, clock, rig, 60)
    posts = rig.slack.posts()
    assert len(posts) == 1 and "Thor API unreachable" in posts[0].text and "InternalServerError" in posts[0].text
    rig.thor.faults.error = None
    for box in boxes(rig):
        box.connected = True
    await poll(worker, clock, rig, 60)
    assert [("recovered" in p.text) for p in rig.slack.posts()] == [False, True]
    await poll(worker, clock, rig, 200)
    assert len(rig.slack.posts()) == 2


async def test_thor_timeouts_for_several_cycles_do_not_alert_boxes(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, thor_retries=0, thor_timeout=0.2, thor_outage_cycles=10)
    await poll(worker, clock, rig)
    rig.thor.faults.hang = True
    box.connected = False
    for _ in range(3):
        await poll(worker, clock, rig, 120)
    assert rig.slack.posts() == []


async def test_bad_api_key_is_reported_once_with_the_fix(rig: AppRig, clock: Clock) -> None:
    await subscribe(rig, boxes(rig)[0].id)
    worker = make_worker(rig, clock)
    rig.thor.api_key = "rotated"
    for _ in range(4):
        await poll(worker, clock, rig, 60)
    [notice] = rig.slack.posts()
    assert "APIKeyNotFound" in str(notice.blocks) and "THOR_API_KEY" in str(notice.blocks)


async def test_restarted_worker_does_not_repeat_the_alert(rig: AppRig, clock: Clock) -> None:
    first, box = await box_drops(rig, clock, worker_id="first")
    await poll(first, clock, rig, 150)
    assert len(alerts(rig)) == 1
    await rig.ctx.redis.delete(keys.LEASE)  # the first worker was killed; its lease expired
    second = make_worker(rig, clock, worker_id="second")
    for _ in range(3):
        await poll(second, clock, rig, 60)
    assert len(alerts(rig)) == 1
    box.connected = True
    await poll(second, clock, rig, 10)
    await poll(second, clock, rig, 70)
    assert len(rig.slack.posts()) == 2


async def test_crash_between_deciding_and_posting_loses_nothing(rig: AppRig, clock: Clock) -> None:
    first, box = await box_drops(rig, clock, worker_id="first")
    clock.advance(150)
    heartbeat_all(rig, clock)
    await first.poller.run_once(clock(), first.token)  # decided and committed, then "crashed"
    assert rig.slack.posts() == [] and await first.outbox.store.pending_count() == 1
    await rig.ctx.redis.delete(keys.LEASE)
    second = make_worker(rig, clock, worker_id="second")
    await poll(second, clock, rig, 60)
    assert len(alerts(rig)) == 1


async def test_ambiguous_slack_failure_is_not_posted_twice(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    rig.slack.faults.post_then_fail = 1  # Slack stored the message but answered 500
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert len(alerts(rig)) == 1
    clock.advance(30)
    await worker.tick(poll=False)
    assert len(alerts(rig)) == 1 and await worker.outbox.store.pending_count() == 0


async def test_two_workers_one_alert(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    workers = [make_worker(rig, clock, worker_id=f"w{i}") for i in range(2)]
    heartbeat_all(rig, clock)
    await asyncio.gather(*(w.tick(poll=True) for w in workers))
    box.connected = False
    for step in (10, 150, 60):
        clock.advance(step)
        heartbeat_all(rig, clock)
        await asyncio.gather(*(w.tick(poll=True) for w in workers))
    assert len(alerts(rig)) == 1
    assert sum(w.is_leader for w in workers) == 1


async def test_standby_takes_over_when_the_leader_dies(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    leader = make_worker(rig, clock, worker_id="leader")
    standby = make_worker(rig, clock, worker_id="standby")
    await poll(leader, clock, rig)
    await poll(standby, clock, rig)
    assert leader.is_leader and not standby.is_leader
    assert await rig.ctx.redis.pttl(keys.LEASE) > 0  # it lasts only while renewed
    await rig.ctx.redis.delete(keys.LEASE)  # the leader died: nobody renews, and Redis lets the lease expire
    box.connected = False
    await poll(standby, clock, rig, 10)
    await poll(standby, clock, rig, 150)
    assert standby.is_leader and len(alerts(rig)) == 1


async def test_slack_429_delivers_the_alert_once(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    rig.slack.faults.fail_next["chat.postMessage"] = [429, 429, 429, 429]
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    for _ in range(5):
        clock.advance(2)
        await worker.tick(poll=False)
    assert len(alerts(rig)) == 1
    assert rig.slack.count("chat.postMessage") >= 5


async def test_unsubscribe_means_silence(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    _, key = await rig.command(f"unsubscribe {box.id}")
    assert "Stopped watching" in (await rig.reply(key))["text"]
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 200)
    assert rig.slack.posts() == []
    assert await rig.ctx.redis.hlen(keys.BOXES) == 0


async def test_subscribe_all_picks_up_a_new_box(rig: AppRig, clock: Clock) -> None:
    reply = await subscribe(rig, "all")
    assert "whole fleet" in reply["text"]
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    new = rig.thor.fleet.add(SimBox(id="NEWBOX0000000001", alias="Brand new box", last_heartbeat=clock.now))
    await poll(worker, clock, rig, 30)
    new.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    [alert] = alerts(rig)
    assert "Brand new box" in alert.text


async def test_a_burst_in_one_channel_is_one_grouped_message(rig: AppRig, clock: Clock) -> None:
    for i in range(50):
        rig.thor.fleet.add(SimBox(id=f"BURST{i:03d}", alias=f"Burst box {i}", last_heartbeat=clock.now))
    await subscribe(rig, "all")
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    for box in boxes(rig):
        box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    [alert] = alerts(rig)
    assert "56 chargeboxes" in alert.text
    assert_valid_message({"text": alert.text, "blocks": alert.blocks})


async def box_deleted(rig: AppRig, clock: Clock) -> tuple[Worker, SimBox]:
    """The first box, watched and seen by a worker, is deleted in Thor and polled four times since."""
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    rig.thor.fleet.remove(box.id)
    for _ in range(4):
        await poll(worker, clock, rig, 60)
    return worker, box


async def test_deleted_box_gets_one_notice(rig: AppRig, clock: Clock) -> None:
    await box_deleted(rig, clock)
    [notice] = rig.slack.posts()
    assert "deleted in Thor" in notice.text


async def test_sigterm_finishes_the_cycle_and_releases_the_lease(rig: AppRig, clock: Clock) -> None:
    await subscribe(rig, boxes(rig)[0].id)
    worker = make_worker(rig, clock, poll_interval=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert worker.cycles >= 1
    assert await rig.ctx.redis.get(keys.LEASE) is None


async def test_list_shows_problems_first(rig: AppRig, clock: Clock) -> None:
    all_boxes = boxes(rig)
    await subscribe(rig, " ".join(b.id for b in all_boxes))
    all_boxes[3].connected = False
    _, key = await rig.command("list")
    reply = await rig.reply(key)
    assert_valid_message(reply)
    assert "1 disconnected" in reply["text"] and "5 online" in reply["text"]
    assert all_boxes[3].id in reply["blocks"][2]["text"]["text"]


async def test_list_of_a_big_fleet_stays_within_limits(rig: AppRig, clock: Clock) -> None:
    for i in range(600):
        rig.thor.fleet.add(SimBox(id=f"BIG{i:04d}", alias=f"Big fleet box {i}", connected=i % 7 != 0,
                                  last_heartbeat=clock.now))
    await subscribe(rig, "all")
    _, key = await rig.command("list")
    reply = await rig.reply(key)
    assert_valid_message(reply)
    assert "more with problems" in str(reply["blocks"]) and "more" in str(reply["blocks"])


async def test_a_channel_the_bot_cannot_post_in_is_told_at_subscribe_time_and_in_list(
        rig: AppRig, clock: Clock) -> None:
    rig.slack.private_channels.add("G0SECRET")
    box = boxes(rig)[0]
    reply = await subscribe(rig, box.id, channel="G0SECRET")
    assert "invite it with `/invite @thorbot`" in reply["text"]
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert rig.slack.posts("G0SECRET") == [] and await worker.outbox.store.pending_count() == 0
    _, key = await rig.command("list", channel="G0SECRET")
    assert "could not be posted here (`not_in_channel`" in str(await rig.reply(key))
    rig.slack.bot_channels.add("G0SECRET")  # invited; the next alert lands and clears the warning
    box.connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert len(rig.slack.posts("G0SECRET")) == 1
    _, key = await rig.command("list", channel="G0SECRET")
    assert "could not be posted" not in str(await rig.reply(key))


async def test_an_open_incident_of_a_box_nobody_watches_expires(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    [incident_key] = await rig.ctx.redis.keys(keys.PREFIX + "incident:*")
    assert await rig.ctx.redis.ttl(incident_key) == -1  # open: kept while watched
    _, key = await rig.command(f"unsubscribe {box.id}")
    await rig.reply(key)
    await poll(worker, clock, rig, 60)
    assert 0 < await rig.ctx.redis.ttl(incident_key) <= keys.INCIDENT_TTL


@pytest.mark.parametrize("target", ["one box", "the whole fleet"])
async def test_a_box_that_drops_before_the_first_poll_is_still_alerted(rig: AppRig, clock: Clock,
                                                                      target: str) -> None:
    box = boxes(rig)[0]
    confirmation = await subscribe(rig, box.id if target == "one box" else "all")  # subscribe saw it online
    assert "watch" in str(confirmation).lower()
    box.connected = False  # … and it drops before any worker polls it (a failover, a deploy, one interval)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    await poll(worker, clock, rig, 200)
    [alert] = alerts(rig)
    assert box.alias in alert.text and "offline" in alert.text
    assert await rig.ctx.redis.hlen(keys.BOXES_SIGHTED) == 0  # the worker holds its own record now


async def test_a_box_already_down_when_subscribed_is_listed_not_alerted(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    box.connected = False
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    await poll(worker, clock, rig, 200)
    assert alerts(rig) == []


async def test_a_box_deleted_long_ago_that_comes_back_closes_its_notice(rig: AppRig, clock: Clock) -> None:
    worker, box = await box_deleted(rig, clock)
    rig.thor.fleet.add(box)  # back in Thor at the first poll after a week and a day (the worker was stopped)
    await poll(worker, clock, rig, 8 * 86400)
    notice, back = rig.slack.posts()
    assert "deleted in Thor" in notice.text and back.thread_ts == notice.ts, back.text
    assert (await rig.ctx.stores.records.records())[box.id].incident is None
