"""Redis adapter for digest plans: one per channel. The period last queued is kept apart from the plan
(`digests:posted`), so the worker's commit never overwrites a plan someone changed meanwhile."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.digest import DigestPlan


class DigestStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def plan(self, channel: str) -> DigestPlan | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.DIGESTS, channel)
            pipe.hget(keys.DIGESTS_POSTED, channel)
            raw, posted = await pipe.execute()
        if not raw:
            return None
        return DigestPlan.model_validate_json(raw).model_copy(update={"last_period": posted})

    async def set(self, channel: str, plan: DigestPlan) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.DIGESTS, channel, plan.model_copy(update={"last_period": None}).model_dump_json())
            if plan.last_period:
                pipe.hset(keys.DIGESTS_POSTED, channel, plan.last_period)
            await pipe.execute()

    async def remove(self, channel: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.DIGESTS, channel)
            pipe.hdel(keys.DIGESTS_POSTED, channel)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def plans(self) -> dict[str, DigestPlan]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.DIGESTS)
            pipe.hgetall(keys.DIGESTS_POSTED)
            raw, posted = await pipe.execute()
        out = {}
        for channel, value in raw.items():
            try:
                plan = DigestPlan.model_validate_json(value)
            except ValueError:
                continue  # a plan this version cannot read: leave it, post nothing for it
            out[str(channel)] = plan.model_copy(update={"last_period": posted.get(channel)})
        return out


def write_posted(pipe: Any, posted: dict[str, str]) -> None:
    """In the cycle's commit: channel → the period whose digest was queued with it (exactly once)."""
    if posted:
        pipe.hset(keys.DIGESTS_POSTED, mapping=posted)
