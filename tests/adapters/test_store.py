"""The boxes' stores' Lua and transactions (adapters/store.py, subscription_store.py, record_store.py,
outbox_store.py, lease_store.py), straight against a real Redis: the lease, the claim that fences a
post, the commit that fences a cycle, the first sightings subscribe records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.store import Commit, new_records_version
from thorbot.context import Stores
from thorbot.domain.incidents import BoxRecord, Status
from thorbot.domain.notify import AlertJob, ThorHealth

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def alert(n: int = 1) -> AlertJob:
    return AlertJob(id=f"alert:i{n}:C1", channel="C1", created=NOW, incident_id=f"i{n}", box_id="B1")


async def test_the_lease_is_taken_once_renewed_by_its_holder_and_released_only_by_it(redis: Redis) -> None:
    stores = Stores.on(redis)
    assert await stores.lease.hold_lease("w1:a", 10.0)
    assert not await stores.lease.hold_lease("w2:b", 10.0)
    await redis.pexpire(keys.LEASE, 1000)
    assert await stores.lease.hold_lease("w1:a", 10.0) and await redis.pttl(keys.LEASE) > 5000  # renewed
    await stores.lease.release_lease("w2:b")
    assert await redis.get(keys.LEASE) == "w1:a"  # not the other's to release
    await stores.lease.release_lease("w1:a")
    assert await redis.get(keys.LEASE) is None and await stores.lease.hold_lease("w2:b", 10.0)


async def test_a_claim_records_the_attempt_only_for_the_lease_holder(redis: Redis) -> None:
    stores = Stores.on(redis)
    await stores.outbox.enqueue([alert(1), alert(2)])
    assert await stores.lease.hold_lease("w1:a", 10.0)
    assert not await stores.outbox.claim_for_post("w2:stale", 10.0, [alert(1)], "batchstale", ["i1"])
    [(job, _)] = [(j, d) for j, d in await stores.outbox.pending_jobs() if j.id == alert(1).id]
    assert not job.attempted and job.batches == [] and await redis.get(keys.batch("batchstale")) is None
    assert await stores.outbox.claim_for_post("w1:a", 10.0, [alert(1)], "batch1", ["i1"])
    [(job, _)] = [(j, d) for j, d in await stores.outbox.pending_jobs() if j.id == alert(1).id]
    assert job.attempted and job.attempts == 1 and job.batches == ["batch1"]
    assert await stores.outbox.batch_incidents("batch1") == ["i1"]
    await stores.outbox.delivered([alert(2)], "C1", "1.1", ["i2"])  # settled meanwhile by someone else…
    assert await stores.outbox.claim_for_post("w1:a", 10.0, [alert(2)], "batch2", ["i2"])
    assert [j.id for j, _ in await stores.outbox.pending_jobs()] == [alert(1).id]  # …and not brought back by a claim


async def test_a_stale_leaders_commit_is_refused_and_writes_nothing(redis: Redis) -> None:
    stores = Stores.on(redis)
    assert await stores.lease.hold_lease("w1:a", 10.0)
    record = BoxRecord(status=Status.ONLINE, since=NOW, alias="Box")
    assert not await stores.cycle.commit("w2:stale", Commit(records={"B1": record}, jobs=[alert()]))
    assert await redis.hlen(keys.BOXES) == 0 and await stores.outbox.pending_count() == 0
    assert await stores.cycle.commit("w1:a", Commit(records={"B1": record}, jobs=[alert()]))
    assert (await stores.records.records())["B1"] == record and await stores.outbox.pending_count() == 1


async def test_subscribes_sighting_never_overwrites_the_workers_record(redis: Redis) -> None:
    stores = Stores.on(redis)
    assert await stores.lease.hold_lease("w1:a", 10.0)
    offline = BoxRecord(status=Status.OFFLINE, since=NOW, alias="Known")
    assert await stores.cycle.commit("w1:a", Commit(records={"B1": offline}))
    online = BoxRecord(status=Status.ONLINE, since=NOW, alias="Seen")
    await stores.records.record_sightings({"B1": online, "B2": online})
    sighted = (await stores.cycle.cycle_start()).sighted
    assert sighted == {"B2": online} and await redis.ttl(keys.BOXES_SIGHTED) > 0


async def test_a_cycle_starts_from_every_channels_subscriptions_in_one_round_trip(redis: Redis) -> None:
    stores = Stores.on(redis)
    await stores.subscriptions.subscribe("C1", ["B1", "B2"])
    await stores.subscriptions.subscribe("C2", ["B2"])
    await stores.subscriptions.subscribe_all("C3")
    start = await stores.cycle.cycle_start()
    assert start.watchers == await stores.subscriptions.watchers()
    assert start.watchers.by_box == {"B1": frozenset({"C1"}), "B2": frozenset({"C1", "C2"})}
    assert start.watchers.whole_fleet == frozenset({"C3"})
    assert start.records_version == "0" and start.thor == ThorHealth() and start.sighted == {}


async def test_holding_the_lease_also_says_the_worker_is_alive(redis: Redis) -> None:
    stores = Stores.on(redis)
    assert await stores.lease.hold_lease("w1:a", 10.0, alive=("w1", NOW))
    assert not await stores.lease.hold_lease("w2:b", 10.0, alive=("w2", NOW))  # a standby is alive too
    assert await redis.get(keys.worker("w1")) == NOW.isoformat() and 0 < await redis.ttl(keys.worker("w2")) <= 10


async def test_a_held_alert_is_read_back_whatever_its_box_id_holds(redis: Redis) -> None:
    oncall = OnCallStore(redis)
    await oncall.remember_held("C1", 'a|b"c@1796000000:offline', 'a|b"c', NOW)
    await oncall.remember_held("C2", "i2", "B2", NOW - timedelta(hours=1))
    assert await oncall.held_alerts() == [("C2", "i2", "B2"), ("C1", 'a|b"c@1796000000:offline', 'a|b"c')]


async def test_the_records_version_stays_a_number_a_previous_worker_can_incr(redis: Redis) -> None:
    stores = Stores.on(redis)
    assert await stores.lease.hold_lease("w1:a", 10.0)
    record = BoxRecord(status=Status.ONLINE, since=NOW, alias="Box")
    assert await stores.cycle.commit("w1:a", Commit(records={"B1": record}, records_version=new_records_version()))
    named = await redis.get(keys.BOXES_VERSION)
    assert await redis.incr(keys.BOXES_VERSION) == int(named) + 1  # a deploy's overlap: the old worker's commit
    assert (await stores.cycle.cycle_start()).records_version != named  # …is seen as a change by the new one


async def test_a_job_of_a_kind_from_a_newer_version_is_left_not_a_failed_delivery(redis: Redis) -> None:
    stores = Stores.on(redis)
    await stores.outbox.enqueue([alert(1)])
    await redis.hset(keys.OUTBOX, "future:1", '{"id": "future:1", "kind": "hologram", "channel": "C1"}')
    await redis.zadd(keys.OUTBOX_DUE, {"future:1": NOW.timestamp()})
    assert [j.id for j, _ in await stores.outbox.pending_jobs()] == [alert(1).id]
    assert await redis.hexists(keys.OUTBOX, "future:1")  # kept for the newer worker to send
