"""Delivery under Slack faults: every incident gets exactly its own alert, in its own message."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from redis.asyncio import Redis

from tests.helpers import AppRig
from tests.worker_rig import Clock, alerts, box_drops, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.context import Stores
from thorbot.runtime import build_worker
from thorbot.sim.slack_server import SlackMessage
from thorbot.sim.tcp_proxy import StallingProxy
from thorbot.worker.lease import LostLease


@pytest.fixture
def clock() -> Clock:
    return Clock()


def named(rig: AppRig, alias: str) -> list[object]:
    return [m for m in alerts(rig) if alias in m.text]


async def test_a_retry_overlapping_an_earlier_post_posts_exactly_the_rest(rig: AppRig, clock: Clock) -> None:
    first, second = boxes(rig)[:2]
    await subscribe(rig, f"{first.id} {second.id}")
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    first.connected = False
    await poll(worker, clock, rig, 10)
    rig.slack.faults.post_then_fail = 1  # the alert lands, but Slack answers 500
    second.connected = False  # its alert falls due together with the retry of the first
    await poll(worker, clock, rig, 150)
    assert len(alerts(rig)) == 1
    await poll(worker, clock, rig, 150)
    await poll(worker, clock, rig, 150)
    assert len(named(rig, first.alias)) == 1, [m.text for m in alerts(rig)]
    assert len(named(rig, second.alias)) == 1, [m.text for m in alerts(rig)]
    assert await worker.outbox.store.pending_count() == 0
    first.connected = second.connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    for box in (first, second):
        [alert] = named(rig, box.alias)
        replies = [m for m in rig.slack.posts() if m.thread_ts == alert.ts]  # type: ignore[attr-defined]
        assert len(replies) == 1 and box.alias in replies[0].text, [r.text for r in replies]


@pytest.mark.parametrize(("content_type", "body"), [("text/html", "<html><h1>502 Bad Gateway</h1></html>"),
                                                    ("text/plain", "upstream connect error"),
                                                    ("application/json", "{not json")])
async def test_an_unreadable_slack_5xx_is_retried_not_a_crash(rig: AppRig, clock: Clock, content_type: str,
                                                               body: str) -> None:
    worker, box = await box_drops(rig, clock)
    rig.slack.faults.raw_next["chat.postMessage"] = [(502, content_type, body)]
    await poll(worker, clock, rig, 150)
    assert alerts(rig) == [] and await worker.outbox.store.pending_count() == 1
    await poll(worker, clock, rig, 10)
    assert len(alerts(rig)) == 1 and await worker.outbox.store.pending_count() == 0


@pytest.mark.parametrize(("content_type", "body"), [("text/plain", "upstream connect error"),
                                                    ("application/json", "{not json")])
async def test_subscribe_survives_an_unreadable_conversations_info(rig: AppRig, content_type: str, body: str) -> None:
    rig.slack.faults.raw_next["conversations.info"] = [(503, content_type, body)]
    box = boxes(rig)[0]
    reply = await subscribe(rig, box.id)
    assert "Now watching" in reply["text"], reply


async def test_a_retry_finds_its_earlier_post_pages_back(rig: AppRig, clock: Clock) -> None:
    worker, box = await box_drops(rig, clock)
    rig.slack.faults.post_then_fail = 1
    await poll(worker, clock, rig, 150)
    for i in range(250):  # a busy channel: the alert is now three pages back in its history
        rig.slack.messages.append(SlackMessage("C0ALERTS", f"1.{i:06d}", f"chatter {i}", []))
    await poll(worker, clock, rig, 10)
    assert len(named(rig, box.alias)) == 1 and await worker.outbox.store.pending_count() == 0


async def test_when_history_cannot_be_read_a_retry_posts_rather_than_loses(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    rig.slack.history_denied.add("C0ALERTS")  # public channel, bot not a member: it can post, not read
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    rig.slack.faults.post_then_fail = 1
    await poll(worker, clock, rig, 150)
    await poll(worker, clock, rig, 10)
    assert 1 <= len(named(rig, box.alias)) <= 2 and await worker.outbox.store.pending_count() == 0


async def test_a_worker_that_lost_the_lease_does_not_post_what_the_leader_posts(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    leader, standby = make_worker(rig, clock, worker_id="leader"), make_worker(rig, clock, worker_id="standby")
    await poll(leader, clock, rig)
    box.connected = False
    await poll(leader, clock, rig, 10)
    clock.advance(150)
    await leader.poller.run_once(clock(), leader.token)  # the alert is decided; nobody has delivered it yet
    # The leader's post is held in flight at Slack: claimed and sent, not yet in the channel. A standby
    # that runs now finds the job due and no earlier post in the channel; only the lease can stop it.
    release = rig.slack.faults.hold["chat.postMessage"] = asyncio.Event()
    leading = asyncio.create_task(leader.outbox.deliver_due())
    while "chat.postMessage" not in rig.slack.faults.held:
        await asyncio.sleep(0.01)
    with pytest.raises(LostLease):
        await standby.outbox.deliver_due()
    release.set()
    assert await leading == 1
    assert len(named(rig, box.alias)) == 1 and standby.outbox.posts == 0
    assert await leader.outbox.store.pending_count() == 0


async def test_a_delivery_cut_short_leaves_no_send_running_into_the_next_tick(rig: AppRig, clock: Clock) -> None:
    """One channel's send finds the lease gone while another channel's post is in flight: the delivery gives
    up, and takes the in-flight send with it. Left running, it would still be posting when the next tick
    delivers the same job again (the soak's duplicated recoveries)."""
    first, second = boxes(rig)[:2]
    await subscribe(rig, first.id)
    await subscribe(rig, second.id, channel="C0OTHER")
    worker = make_worker(rig, clock, slack_channel_gap=5.0)  # C0OTHER's next post waits for its gap
    await poll(worker, clock, rig)
    second.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)  # C0OTHER's alert is posted: its next post paces
    assert len(alerts(rig, "C0OTHER")) == 1
    first.connected, second.connected = False, True
    await poll(worker, clock, rig, 10)
    clock.advance(150)
    await worker.poller.run_once(clock(), worker.token)  # an alert in C0ALERTS, a recovery in C0OTHER: undelivered
    release = rig.slack.faults.hold["chat.postMessage"] = asyncio.Event()
    delivering = asyncio.create_task(worker.outbox.deliver_due())
    while "chat.postMessage" not in rig.slack.faults.held:  # C0ALERTS' alert: claimed, in flight
        await asyncio.sleep(0.01)
    await rig.ctx.redis.set(keys.LEASE, "w9:another-leader")  # while C0OTHER's recovery waits for its gap
    with pytest.raises(LostLease):
        await delivering
    running = [t for t in asyncio.all_tasks() if "_channel" in repr(t.get_coro())]
    assert running == []  # nothing of that delivery is still sending
    release.set()


async def test_an_alert_delayed_past_its_recovery_still_gets_its_recovery_in_its_thread(
        rig: AppRig, clock: Clock) -> None:
    worker, box = await box_drops(rig, clock, cause_reminder=0.0)  # no reminder due a day later in the outbox
    rig.slack.faults.fail_next["chat.postMessage"] = [503] * 3  # Slack is down while the box is down
    await poll(worker, clock, rig, 150)
    box.connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)  # resolved; both jobs wait for Slack
    for _ in range(4):
        await poll(worker, clock, rig, 30)
    [alert] = named(rig, box.alias)
    replies = [m for m in rig.slack.posts() if m.thread_ts == alert.ts]  # type: ignore[attr-defined]
    assert len(replies) == 1 and "back online" in replies[0].text
    assert await worker.outbox.store.pending_count() == 0


async def test_a_recovery_never_overtakes_its_alert_waiting_for_a_retry(rig: AppRig, clock: Clock) -> None:
    worker, box = await box_drops(rig, clock, recovery_grace=0.0)
    rig.slack.faults.fail_next["chat.postMessage"] = [503]
    await poll(worker, clock, rig, 150)  # the alert fails and waits a second or two for its retry
    box.connected = True
    await poll(worker, clock, rig, 0.5)  # resolved: the recovery is due before the alert's retry
    await poll(worker, clock, rig, 5)
    [alert] = named(rig, box.alias)
    replies = [m for m in rig.slack.posts() if m.thread_ts == alert.ts]  # type: ignore[attr-defined]
    assert len(replies) == 1 and "back online" in replies[0].text


async def test_a_429_reschedules_the_alert_at_retry_after(rig: AppRig, clock: Clock) -> None:
    worker, box = await box_drops(rig, clock)
    rig.slack.faults.fail_next["chat.postMessage"] = [429]
    rig.slack.faults.retry_after = 37
    await poll(worker, clock, rig, 150)
    [(job, due)] = await worker.outbox.store.pending_jobs()
    assert (due - clock.now).total_seconds() == pytest.approx(37, abs=1)
    clock.advance(30)
    await worker.tick(poll=False)
    assert alerts(rig) == []  # still waiting for Slack's Retry-After
    clock.advance(8)
    await worker.tick(poll=False)
    assert len(named(rig, box.alias)) == 1


class PausableClock:
    """A worker's monotonic clock that the test can jump ahead: the worker was paused (SIGSTOP, a long GC,
    a frozen VM) or its Redis answers were held for that long."""

    def __init__(self) -> None:
        self.paused_for = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.paused_for


async def test_a_paused_leader_resuming_after_its_lease_moved_posts_nothing(rig: AppRig, clock: Clock,
                                                                          redis_url: str) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    proxy = StallingProxy(*split_host_port(redis_url))
    await proxy.start()
    through_proxy: Redis = Redis.from_url(proxy.url, decode_responses=True)
    paused = PausableClock()
    settings = rig.settings.with_changes(slack_channel_gap=0.0)
    cut_off = dataclasses.replace(rig.ctx.with_settings(settings).with_clock(clock), stores=Stores.on(through_proxy))
    leader = build_worker(cut_off, worker_id="old", monotonic=paused)
    try:
        await poll(leader, clock, rig)
        box.connected = False
        await poll(leader, clock, rig, 10)
        # The alert falls due. The leader claims its post; Redis grants it, but the answer is held by the network.
        proxy.hold_answer_to(b"HEXISTS")  # only the claim script uses it
        clock.advance(150)
        leading = asyncio.create_task(leader.tick(poll=True))
        await asyncio.wait_for(proxy.answer_held.wait(), 10)
        # Meanwhile the lease runs out; another worker takes over and posts the alert.
        paused.paused_for = settings.effective_lease_ttl()
        await rig.ctx.redis.delete(keys.LEASE)
        successor = make_worker(rig, clock, worker_id="new")
        await successor.tick(poll=False)
        assert successor.is_leader and len(named(rig, box.alias)) == 1
        # The old leader's "you may post" arrives now, long after the lease it spoke of: worthless.
        proxy.release()
        await leading
        assert not leader.is_leader and leader.outbox.posts == 0
        assert len(named(rig, box.alias)) == 1
    finally:
        await through_proxy.aclose()
        await proxy.stop()


def split_host_port(url: str) -> tuple[str, int]:
    netloc = url.split("//", 1)[1].split("/", 1)[0]
    host, port = netloc.rsplit(":", 1)
    return host, int(port)
