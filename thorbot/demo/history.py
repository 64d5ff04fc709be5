"""`thorbot demo --history-days N`: N days of made-up history for the simulated fleet, so `report` has
something to show at once. Written with the worker's own history writes, seeded like the fleet."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from redis.asyncio import Redis

from thorbot.adapters.history_store import HistoryCommit, HistoryStore, write_cycle
from thorbot.adapters.store import write_attempts
from thorbot.domain.failed_starts import Attempt
from thorbot.domain.incidents import Incident
from thorbot.sim.fleet import Fleet

BATCH = timedelta(hours=6)


async def pregenerate(redis: Redis, fleet: Fleet, days: int, now: datetime, seed: int) -> int:
    """About one outage per box per week (a few in maintenance), two short spells where thorbot was not
    watching, and a few charges a day per box; returns the number of incidents written."""
    rng = random.Random(seed * 7919 + days)
    start = now - timedelta(days=days)
    blind = [(start + timedelta(days=rng.uniform(0, days)), timedelta(minutes=rng.randint(10, 40)))
             for _ in range(2)]
    incidents: list[Incident] = []
    attempts: list[Attempt] = []
    mutes: list[tuple[str, datetime, datetime]] = []
    for box in fleet.boxes.values():
        t = start
        while True:
            t += timedelta(days=rng.expovariate(1 / 7))
            if t >= now - timedelta(hours=8):
                break
            length = timedelta(minutes=rng.choice([6, 12, 25, 45, 90, 180, 360]))
            kind = "silent" if rng.random() < 0.25 else "offline"
            incidents.append(Incident(id=f"demo-{box.id}-{int(t.timestamp())}", box_id=box.id, alias=box.alias,
                                      kind=kind, started=t, opened=t, resolved=t + length))
            if rng.random() < 0.15:  # planned maintenance: muted beforehand
                mutes.append((box.id, t - timedelta(minutes=10), t + length + timedelta(minutes=10)))
        for day in range(days):
            for _ in range(rng.randint(0, 6)):
                at = start + timedelta(days=day, minutes=rng.randint(0, 1439))
                ok = rng.random() > 0.12
                attempts.append(Attempt(box_id=box.id, connector=1 + rng.randrange(max(1, len(box.connectors))),
                                        at=at, ok=ok, energy_wh=rng.randint(4000, 40000) if ok else rng.randint(0, 90)))
    async with redis.pipeline(transaction=False) as pipe:
        write_cycle(pipe, HistoryCommit(now=start, first_seen={b.id: b.alias for b in fleet.boxes.values()}), [])
        write_cycle(pipe, HistoryCommit(now=now), incidents)
        t = start
        while t < now:  # observed, but for the blind spells
            end = min(now, t + BATCH)
            cuts = sorted((a, a + n) for a, n in blind if a < end and a + n > t)
            cursor = t
            for a, b in cuts:
                if a > cursor:
                    write_cycle(pipe, HistoryCommit(observed_from=cursor, now=a - timedelta(minutes=1)), [])
                cursor = max(cursor, b)
            if cursor < end:
                write_cycle(pipe, HistoryCommit(observed_from=cursor, now=end), [])
            t = end
        write_attempts(pipe, attempts, now)
        await pipe.execute()
    history = HistoryStore(redis)
    for box_id, a, b in mutes:
        await history.record_mute("C0DEMOALERTS", [box_id], a, b)
    return len(incidents)
