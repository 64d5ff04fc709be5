"""Redis adapter: which channels watch which boxes (explicitly, or the whole fleet)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.notify import Watchers

# Every subscribing channel with its boxes, in one round trip. The per-channel keys are not in KEYS (they are
# not known before the script runs); all share the {thorbot} hash tag, so they live in the same slot.
_SUBSCRIPTIONS = """
local out = {}
for _, channel in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = channel
  out[#out + 1] = redis.call('SMEMBERS', ARGV[1] .. channel)
end
return out
"""


def read_watchers(pipe: Any) -> None:
    """Queue the reads `watchers_of` needs on a pipeline (the poll cycle's start reads them with the rest)."""
    pipe.eval(_SUBSCRIPTIONS, 1, keys.SUB_CHANNELS, keys.subs(""))
    pipe.smembers(keys.SUB_ALL)


def watchers_of(subscriptions: list[Any], all_channels: Iterable[str]) -> Watchers:
    """Which channels watch which boxes, from what `read_watchers` queued."""
    by_box: dict[str, set[str]] = {}
    for channel, ids in zip(subscriptions[::2], subscriptions[1::2], strict=True):
        for box_id in ids:
            by_box.setdefault(box_id, set()).add(channel)
    return Watchers.of(by_box, all_channels)


class SubscriptionStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def subscribe(self, channel: str, box_ids: Iterable[str]) -> int:
        ids = list(box_ids)
        if not ids:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.subs(channel), *ids)
            pipe.sadd(keys.SUB_CHANNELS, channel)
            added, _ = await pipe.execute()
        return int(added)

    async def subscribe_all(self, channel: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.SUB_ALL, channel)
            pipe.sadd(keys.SUB_CHANNELS, channel)
            added, _ = await pipe.execute()
        return bool(added)

    async def unsubscribe(self, channel: str, box_ids: Iterable[str]) -> int:
        ids = list(box_ids)
        if not ids:
            return 0
        removed = int(await self.redis.srem(keys.subs(channel), *ids))
        await self._forget_channel_if_empty(channel)
        return removed

    async def unsubscribe_all(self, channel: str) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.scard(keys.subs(channel))
            pipe.srem(keys.SUB_ALL, channel)
            pipe.delete(keys.subs(channel))
            pipe.srem(keys.SUB_CHANNELS, channel)
            count, was_all, _, _ = await pipe.execute()
        return int(count) + int(was_all)

    async def _forget_channel_if_empty(self, channel: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.scard(keys.subs(channel))
            pipe.sismember(keys.SUB_ALL, channel)
            count, is_all = await pipe.execute()
        if not count and not is_all:
            await self.redis.srem(keys.SUB_CHANNELS, channel)

    async def channel_subscriptions(self, channel: str) -> tuple[set[str], bool]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.subs(channel))
            pipe.sismember(keys.SUB_ALL, channel)
            ids, is_all = await pipe.execute()
        return set(ids), bool(is_all)

    async def watchers(self) -> Watchers:
        """Which channels watch which boxes (explicitly, or the whole fleet)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            read_watchers(pipe)
            subscriptions, all_channels = await pipe.execute()
        return watchers_of(subscriptions, all_channels)


    async def is_watching(self, channel: str, box_id: str | None) -> bool:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sismember(keys.SUB_ALL, channel)
            pipe.sismember(keys.subs(channel), box_id or "")
            pipe.sismember(keys.SUB_CHANNELS, channel)
            is_all, is_member, has_any = await pipe.execute()
        return bool(has_any) and (bool(is_all) or (box_id is not None and bool(is_member)))

