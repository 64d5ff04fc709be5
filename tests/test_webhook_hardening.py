"""Thor's webhook under bad input: deep JSON, forged and stray notifications, bursts, absurd numbers,
proxies; and a Redis command error in the worker's commit. Real app, real Redis, signed nothing (Thor
signs nothing): the token in the path is the secret."""

from __future__ import annotations

import json
import logging

import pytest

from tests.helpers import WEBHOOK_TOKEN, AppRig
from tests.test_sessions import charge, stop_via_slack, wait_for_post
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.adapters.session_store import INBOX_CAP, SessionStore
from thorbot.domain.failed_starts import Attempt
from thorbot.domain.sessions import StopNote


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def quiet_fleet(rig: AppRig) -> None:
    rig.thor.fleet.incident_rate = 0.0


def refused(box_id: str, tag: str = "0011AA") -> dict[str, object]:
    return {"type": "start", "accepted": False, "chargebox": box_id, "connector": 1, "id": tag, "transaction_id": 0,
            "mode": "local"}


async def our_keys(rig: AppRig) -> list[str]:
    return sorted(await rig.ctx.redis.keys(keys.PREFIX + "*"))


async def test_a_deeply_nested_body_is_a_200_and_no_traceback(rig: AppRig, caplog: pytest.LogCaptureFixture) -> None:
    response = await rig.http.post(f"{rig.url}/thor/notifications/{WEBHOOK_TOKEN}", content=b"[" * 60_000)
    assert response.status_code == 200
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
    assert await our_keys(rig) == []


async def test_notifications_for_boxes_nobody_watches_create_nothing(rig: AppRig, clock: Clock) -> None:
    watched, stray = boxes(rig)[0], boxes(rig)[1]
    await subscribe(rig, watched.id)
    before = await our_keys(rig)
    for n in range(1500):  # a burst for unknown and unwatched boxes
        box_id = stray.id if n % 2 else f"NOSUCHBOX{n}"
        assert (await rig.notify(refused(box_id, f"TAG{n}"))).status_code == 200
    assert await our_keys(rig) == before and await rig.ctx.redis.llen(keys.INBOX) == 0
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    assert alerts(rig) == []  # three forged refusals for an unwatched box alert nobody


async def test_the_inbox_keeps_the_newest_attempts_and_counts_what_it_dropped(rig: AppRig) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    store = SessionStore(rig.ctx.redis)
    attempt = Attempt(box_id=box.id, connector=1, at=rig.ctx.clock(), ok=False)
    await rig.ctx.redis.rpush(keys.INBOX, *[attempt.model_dump_json()] * INBOX_CAP)
    assert (await rig.notify(refused(box.id))).status_code == 200
    assert await rig.ctx.redis.llen(keys.INBOX) == INBOX_CAP
    assert await rig.ctx.redis.get(keys.INBOX_DROPPED) == "1"
    newest = json.loads(await rig.ctx.redis.lindex(keys.INBOX, -1))
    assert newest["box_id"] == box.id and newest["ok"] is False
    assert await store.save_note(StopNote(box_id=box.id, connector=1, transaction=5, accepted=True, at=attempt.at),
                                 attempt) == 1


@pytest.mark.parametrize("kwh", [2**63 - 1, 10**10, -5, None, "900", 1.5])
async def test_an_energy_thorbot_cannot_read_is_unknown_not_a_failed_charge(rig: AppRig, clock: Clock,
                                                                           kwh: object) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    note = {"type": "stop_transaction", "accepted": True, "unlocked": False, "chargebox": box.id, "connector": 1,
            "idTag": "0011AA", "transaction_id": 77, "time": 600, **({} if kwh is None else {"kwh": kwh})}
    assert (await rig.notify(note)).status_code == 200
    stored = json.loads(await rig.ctx.redis.get(keys.stop_note(77)))
    assert stored["energy_wh"] is None
    assert await rig.ctx.redis.llen(keys.INBOX) == 0  # not counted as an attempt, failed or not
    worker = make_worker(rig, clock, finished_interval=1.0)
    await poll(worker, clock, rig)  # and the next normal charge is counted as usual
    rig.thor.fleet.end_session(charge(rig, clock, energy=18_000).transaction)
    await poll(worker, clock, rig, 5)
    assert worker.is_leader and await rig.ctx.redis.llen(keys.attempts(f"{box.id}#1")) == 1


async def test_only_the_stop_of_that_charge_confirms_a_remote_stop(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    await subscribe(rig, session.box_id)
    await stop_via_slack(rig, session)
    audit = await wait_for_post(rig, "Thor accepted the command")
    session.stop_requested_at = None  # the box has not stopped it (yet)
    forged = {"type": "stop_transaction", "accepted": True, "unlocked": False, "chargebox": session.box_id,
              "connector": 1, "idTag": "GUESSED", "transaction_id": session.transaction, "kwh": 5000}
    assert (await rig.notify(forged)).status_code == 200
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig, 1)
    assert [m for m in rig.slack.posts() if m.thread_ts == audit.ts] == []  # not confirmed by a stranger's note
    await rig.ctx.redis.delete(keys.stop_note(session.transaction))
    real = {**forged, "idTag": session.id_tag}
    await rig.ctx.redis.delete(*await rig.ctx.redis.keys(keys.PREFIX + "noteseen:*"))
    assert (await rig.notify(real)).status_code == 200
    await poll(worker, clock, rig, 1)
    [outcome] = [m for m in rig.slack.posts() if m.thread_ts == audit.ts]
    assert "Confirmed" in outcome.text


@pytest.mark.parametrize("rig", [{"thor_webhook_allow": "203.0.113.0/24"}], indirect=True)
async def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(rig: AppRig) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    url = f"{rig.url}/thor/notifications/{WEBHOOK_TOKEN}"
    spoofed = await rig.http.post(url, json=refused(box.id), headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 404  # anyone can send the header: loopback is not in the allowlist


@pytest.mark.parametrize("rig", [{"thor_webhook_allow": "203.0.113.0/24", "trusted_proxy_hops": 1}],
                         indirect=True)
async def test_behind_a_trusted_proxy_the_forwarded_address_is_checked(rig: AppRig) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    url = f"{rig.url}/thor/notifications/{WEBHOOK_TOKEN}"
    allowed = await rig.http.post(url, json=refused(box.id), headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.9"})
    assert allowed.status_code == 200
    outside = await rig.http.post(url, json=refused(box.id), headers={"X-Forwarded-For": "203.0.113.9, 10.9.9.9"})
    assert outside.status_code == 404  # what the proxy saw is the rightmost entry; the rest is the client's say


async def test_a_command_redis_refuses_does_not_cost_the_lease(rig: AppRig, clock: Clock,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, finished_interval=1.0)
    await poll(worker, clock, rig)
    day = clock.now.strftime("%Y%m%d")
    await rig.ctx.redis.hset(keys.sessions_daily(box.id), f"{day}:wh", 2**63 - 1)  # one more Wh overflows it
    rig.thor.fleet.end_session(charge(rig, clock, energy=18_000).transaction)
    box.connected = False
    with caplog.at_level(logging.ERROR):
        await poll(worker, clock, rig, 5)
        await poll(worker, clock, rig, 200)
    assert worker.is_leader and worker.last_report is not None and worker.last_report.committed
    assert "Redis refused" in caplog.text and "unreachable" not in caplog.text
    assert len(alerts(rig)) == 1  # the rest of the cycle landed: the outage is alerted
    assert await rig.ctx.redis.llen(keys.attempts(f"{box.id}#1")) == 1
