"""Redis adapter: the leader lease (one worker polls and sends at a time)."""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from thorbot.adapters import keys

_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def hold_lease(self, token: str, ttl_s: float, *, alive: tuple[str, datetime] | None = None) -> bool:
        """Take the lease if free, or extend it if it is ours; `alive` (worker id, now) also records that this
        worker is running, in the same round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.eval(_HOLD, 1, keys.LEASE, token, int(ttl_s * 1000))
            if alive is not None:
                worker_id, now = alive
                pipe.set(keys.worker(worker_id), now.isoformat(), ex=max(1, int(ttl_s)))
            held, *_ = await pipe.execute()
        return bool(held)

    async def release_lease(self, token: str) -> None:
        await self.redis.eval(_RELEASE, 1, keys.LEASE, token)

