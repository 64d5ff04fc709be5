"""Redis housekeeping: what no TTL bounds is swept, once a day, by the leader.

Most keys carry a TTL (adapters/keys.py). What cannot (a hash field, a sorted-set member, a key whose
life depends on whether a box is still watched) is swept here:

- each box's incident history (`history:<box>`), the mute windows (`history:mutes`) and the outages'
  causes (`history:causes`): entries that ended (or began) more than 400 days ago;
- a box no channel watches any more: its history, first sighting and name are kept for 400 days after
  it was last watched (reports reach that far back), then deleted; `history:last_watched` remembers when
  the sweep first found it unwatched;
- the `connectors` hash (failed-start counts per connector): entries of boxes nobody watches, whose
  open failed-starts incident is then let expire like a resolved one;
- connectors' usage (`usage:seeded`, `usage:<box>`) of boxes nobody watches: deleted, and an open
  "not charging anyone" incident let expire the same way (watched again, a box is seeded afresh).

Deleting only what is old and unwatched, the sweep is idempotent: two workers running it at once (a
leader change mid-sweep) delete the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.failed_starts import ConnectorRecord
from thorbot.domain.usage import Usage

SWEEP_EVERY = 24 * 3600
BATCH = 500


@dataclass
class Swept:
    history_entries: int = 0
    forgotten_boxes: int = 0
    connectors: int = 0
    usage: int = 0


def _epoch(when: datetime) -> int:
    return int(when.astimezone(UTC).timestamp())


class Housekeeping:
    """The daily sweep as a store the worker holds (it never sees the Redis client or a key name)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def due(self, worker_token: str) -> bool:
        return await sweep_due(self.redis, worker_token)

    async def sweep(self, now: datetime) -> Swept:
        return await sweep(self.redis, now)


async def sweep_due(redis: Redis, worker_token: str) -> bool:
    """True once a day, for one worker: the claim expires after a day."""
    return bool(await redis.set(keys.SWEPT, worker_token, nx=True, ex=SWEEP_EVERY))


async def sweep(redis: Redis, now: datetime) -> Swept:
    swept = Swept()
    cutoff = _epoch(now - timedelta(days=keys.HISTORY_DAYS))
    watched = {str(b) for b in await redis.hkeys(keys.BOXES)} | {str(b) for b in await redis.hkeys(keys.BOXES_SIGHTED)}
    first_seen = [str(b) for b in await redis.hkeys(keys.HISTORY_FIRST_SEEN)]
    last_watched = {str(b): float(v) for b, v in (await redis.hgetall(keys.HISTORY_LAST_WATCHED)).items()}
    for start in range(0, len(first_seen), BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for box_id in first_seen[start:start + BATCH]:
                pipe.zremrangebyscore(keys.history(box_id), "-inf", cutoff)
                pipe.hkeys(keys.causes(box_id))
            answers = await pipe.execute()
        swept.history_entries += sum(int(n) for n in answers[::2])
        async with redis.pipeline(transaction=False) as pipe:
            for box_id, fields in zip(first_seen[start:start + BATCH], answers[1::2], strict=True):
                old = [str(f) for f in fields if _started(str(f)) < cutoff]
                if old:
                    pipe.hdel(keys.causes(box_id), *old)
            swept.history_entries += sum(int(n) for n in await pipe.execute())
    swept.history_entries += int(await redis.zremrangebyscore(keys.HISTORY_MUTES, "-inf", cutoff))
    swept.history_entries += int(await redis.zremrangebyscore(keys.UNCONFIRMED_REPORTS, "-inf", cutoff))
    swept.history_entries += int(await redis.zremrangebyscore(keys.MAINTENANCE, "-inf", cutoff))  # by their end
    gone = [b for b in first_seen if b not in watched]
    async with redis.pipeline(transaction=True) as pipe:
        for box_id in gone:
            since = last_watched.get(box_id)
            if since is None:
                pipe.hset(keys.HISTORY_LAST_WATCHED, box_id, _epoch(now))  # the clock starts now
            elif since < cutoff:
                pipe.hdel(keys.HISTORY_FIRST_SEEN, box_id)
                pipe.hdel(keys.HISTORY_NAMES, box_id)
                pipe.hdel(keys.HISTORY_PORTS, box_id)
                pipe.hdel(keys.HISTORY_LAST_WATCHED, box_id)
                pipe.delete(keys.history(box_id), keys.causes(box_id))
                swept.forgotten_boxes += 1
        back = [b for b in last_watched if b in watched or b not in first_seen]
        if back:
            pipe.hdel(keys.HISTORY_LAST_WATCHED, *back)
        await pipe.execute()
    swept.connectors = await _sweep_connectors(redis, watched)
    swept.usage = await _sweep_usage(redis, watched)
    return swept


async def _sweep_usage(redis: Redis, watched: set[str]) -> int:
    gone = [str(b) for b in await redis.hkeys(keys.USAGE_SEEDED) if str(b) not in watched]
    for start in range(0, len(gone), BATCH):
        chunk = gone[start:start + BATCH]
        async with redis.pipeline(transaction=False) as pipe:
            for box_id in chunk:
                pipe.hvals(keys.usage(box_id))
            rows = await pipe.execute()
        async with redis.pipeline(transaction=True) as pipe:
            for box_id, values in zip(chunk, rows, strict=True):
                for value in values:
                    quiet = Usage.model_validate_json(value).quiet
                    if quiet is not None:
                        pipe.expire(keys.incident(quiet.id), keys.INCIDENT_TTL)
                pipe.delete(keys.usage(box_id))
            pipe.hdel(keys.USAGE_SEEDED, *chunk)
            await pipe.execute()
    return len(gone)


def _started(cause_field: str) -> float:
    """The outage start in a cause's field (`kind|start`); a field that is not ours sorts as ancient."""
    try:
        return float(cause_field.rsplit("|", 1)[1])
    except (IndexError, ValueError):
        return 0.0


async def _sweep_connectors(redis: Redis, watched: set[str]) -> int:
    stale: dict[str, str] = {}
    async for field, value in redis.hscan_iter(keys.CONNECTORS, count=BATCH):
        if str(field).rsplit("#", 1)[0] not in watched:
            stale[str(field)] = str(value)
    if not stale:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.CONNECTORS, *stale)
        pipe.srem(keys.DRIVERS_OPEN, *stale)
        for value in stale.values():
            record = ConnectorRecord.model_validate_json(value)
            if record.incident is not None:  # nobody will see it resolve: let it expire like a resolved one
                pipe.expire(keys.incident(record.incident.id), keys.INCIDENT_TTL)
        await pipe.execute()
    return len(stale)
