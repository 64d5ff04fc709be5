"""Nothing grows for ever: 500 simulated days of a churning fleet through the real worker and the real
slash commands, on a real Redis whose TTLs are aged with the simulated clock. After day 400 (the history
kept) the key count and Redis's memory stay flat, and every key has a TTL or is one the daily sweep or a
trim bounds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.helpers import AppRig
from tests.worker_rig import Clock, make_worker, subscribe
from thorbot.adapters import keys
from thorbot.sim.fleet import SimBox

DAY = 86_400
# Keys without a TTL, and what bounds each (adapters/keys.py): the test fails on any other.
BOUNDED = [r"schema", r"boxes", r"boxes:version", r"subs:channels", r"subs:all", r"subs:[^:]+",
           r"incident:.+", r"incidents:recent", r"thor", r"lease", r"oncall", r"holds:.+", r"escalations",
           r"watches", r"watches:version", r"connectors", r"finished:seen", r"finished:read_at", r"inbox",
           r"stops:audit", r"delivery_errors", r"history:.+", r"digests", r"digests:posted", r"outbox",
           r"outbox:due", r"inbox:dropped", r"usage:version", r"usage:seeded", r"starts:seen",
           r"rotations", r"rotations:announced", r"pagers", r"pages:sent", r"maintenance",
           r"worker:last_cycle", r"metrics:worker", r"held:alerts",
           r"hours", r"drivers:inbox", r"drivers:dropped", r"drivers:actions", r"stickers:epochs"]


async def age_redis(redis: Redis, seconds: int) -> None:
    """Let `seconds` of simulated time pass for Redis's TTLs too (Redis keeps wall-clock time)."""
    names = [k async for k in redis.scan_iter(keys.PREFIX + "*", count=1000)]
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.pttl(name)
        ttls = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for name, ttl in zip(names, ttls, strict=True):
            if ttl > 0:
                if ttl <= seconds * 1000:
                    pipe.delete(name)
                else:
                    pipe.pexpire(name, ttl - seconds * 1000)
        await pipe.execute()


async def census(redis: Redis) -> tuple[int, int, list[str]]:
    """(keys, Redis's used memory in bytes, keys without a TTL that nothing is known to bound)."""
    names = [k async for k in redis.scan_iter(keys.PREFIX + "*", count=1000)]
    unbounded = []
    for name in names:
        if await redis.ttl(name) == -1 and not any(re.fullmatch(keys.PREFIX.replace("{", r"\{").replace(
                "}", r"\}") + pattern, name) for pattern in BOUNDED):
            unbounded.append(name)
    memory = int((await redis.info("memory"))["used_memory"])
    return len(names), memory, unbounded


def new_box(rig: AppRig, n: int) -> SimBox:
    template = next(iter(rig.thor.fleet.boxes.values()))
    return SimBox(id=f"CHURN{n:05d}", alias=f"Churned box {n}", connectors=list(template.connectors),
                  last_heartbeat=rig.thor.fleet.now)


async def live_one_day(rig: AppRig, worker: Any, clock: Clock, day: int) -> None:
    """Two polls: at midnight the day's box is down, at noon it is back. A charge ends each morning; every
    9th day three fail on another box."""
    fleet = rig.thor.fleet
    boxes = list(fleet.boxes.values())
    down = boxes[day % len(boxes)]
    for half in range(2):
        fleet.now = clock.now
        for box in fleet.boxes.values():
            box.connected = not (half == 0 and box is down)
            box.last_heartbeat = clock.now
        if half == 0:
            charge(rig, boxes[(day + 1) % len(boxes)].id, 1, 9_000)
            for _ in range(3 if day % 9 == 0 else 0):
                charge(rig, boxes[(day + 2) % len(boxes)].id, 2, 20)
        fleet.take_notifications()
        await worker.tick(poll=True)
        clock.now += timedelta(seconds=DAY // 2)


def charge(rig: AppRig, box_id: str, connector: int, energy_wh: int) -> None:
    session = rig.thor.fleet.start_session(box_id, connector, mode="local", minutes=60)
    if session is not None:
        session.energy_wh = energy_wh
        rig.thor.fleet.end_session(session.transaction)


@pytest.mark.timeout(600)
async def test_500_days_of_a_churning_fleet_leave_redis_flat_after_day_400(rig: AppRig) -> None:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    clock = Clock()
    clock.now = datetime(2025, 1, 1, tzinfo=UTC)
    fleet.now = clock.now
    rig.use_clock(clock)
    await subscribe(rig, "all")
    first = list(fleet.boxes)[:2]
    await subscribe(rig, " ".join(first), channel="C0PART")
    worker = make_worker(rig, clock, poll_interval=43_200.0, disconnect_grace=0.0, recovery_grace=0.0,
                         heartbeat_stale_after=10 * DAY, finished_interval=1.0, escalate_after=0.0,
                         failed_starts=3, lease_ttl=10 * DAY)
    seen: dict[int, tuple[int, int, list[str]]] = {}
    churned = 0
    for day in range(500):
        await live_one_day(rig, worker, clock, day)
        boxes = list(fleet.boxes.values())
        if day % 7 == 3:  # a maintenance window now and then
            _, key = await rig.command(f"mute {boxes[day % len(boxes)].id} 1h")
            assert "Muted" in json.dumps(await rig.reply(key))
        if day % 20 == 10:  # the fleet changes: a box is removed in Thor, a new one appears
            fleet.remove(boxes[0].id)
            churned += 1
            fleet.add(new_box(rig, churned))
        if day == 150:  # a channel stops watching its boxes
            _, key = await rig.command("unsubscribe all", channel="C0PART")
            await rig.reply(key)
        await age_redis(rig.ctx.redis, DAY)
        if day + 1 in (400, 450, 500):
            seen[day + 1] = await census(rig.ctx.redis)
    count_400, memory_400, _ = seen[400]
    count_500, memory_500, unbounded = seen[500]
    assert unbounded == [], unbounded
    assert count_500 <= count_400 * 1.05 + 5, seen
    assert memory_500 <= memory_400 * 1.10, seen
    await assert_history_within_400_days(rig, clock, churned)
    # Connectors' usage is kept for watched boxes only (the daily sweep; a day of slack).
    seeded = set(await rig.ctx.redis.hkeys(keys.USAGE_SEEDED))
    assert seeded and len(seeded - set(await rig.ctx.redis.hkeys(keys.BOXES))) <= 1, seeded


async def assert_history_within_400_days(rig: AppRig, clock: Clock, churned: int) -> None:
    # Every box with a history is watched, or stopped being watched less than 400 days ago.
    watched = set(await rig.ctx.redis.hkeys(keys.BOXES))
    unwatched_since = {b: float(t) for b, t in (await rig.ctx.redis.hgetall(keys.HISTORY_LAST_WATCHED)).items()}
    cutoff = (clock.now - timedelta(days=401)).timestamp()  # the sweep runs daily: a day of slack
    for box_id in await rig.ctx.redis.hkeys(keys.HISTORY_FIRST_SEEN):
        assert box_id in watched or unwatched_since.get(box_id, 0) >= cutoff, box_id
    assert len(unwatched_since) < churned  # the oldest of the churned boxes are gone for good
    async for name in rig.ctx.redis.scan_iter(keys.PREFIX + "history:*"):  # and no entry is older than 400 days
        if await rig.ctx.redis.type(name) == "zset":
            oldest = await rig.ctx.redis.zrange(name, 0, 0, withscores=True)
            assert not oldest or oldest[0][1] >= cutoff, name
