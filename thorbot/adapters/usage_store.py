"""Redis adapter for connectors' usage (domain/usage.py): one hash per box, connector → Usage JSON.

The worker keeps every watched connector's usage in memory and re-reads it only when `usage:version`
is not the one its own last commit wrote (another worker wrote since); its changes go out in the
cycle's fenced commit (`write_usage`). Starts are counted once per transaction (`starts:seen`), polled or notified.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.usage import Usage

BATCH = 500
SEEN_BATCH = 5_000
USAGE_TTL = 35 * 24 * 3600  # a box with no start for 35 days has no baseline worth keeping
STARTS_SEEN_TTL = 3 * 24 * 3600


class UsageStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def version(self) -> str:
        return str(await self.redis.get(keys.USAGE_VERSION) or "0")

    async def load(self, box_ids: list[str]) -> dict[tuple[str, int], Usage]:
        """Every connector's usage for these boxes (the ones with none are left out)."""
        out: dict[tuple[str, int], Usage] = {}
        for start in range(0, len(box_ids), BATCH):
            chunk = box_ids[start:start + BATCH]
            async with self.redis.pipeline(transaction=False) as pipe:
                for box_id in chunk:
                    pipe.hgetall(keys.usage(box_id))
                rows = await pipe.execute()
            for box_id, row in zip(chunk, rows, strict=True):
                for connector, raw in (row or {}).items():
                    if str(connector).isdigit():
                        out[(box_id, int(connector))] = Usage.model_validate_json(raw)
        return out

    async def box(self, box_id: str) -> dict[int, Usage]:
        """One box's connectors (for its card)."""
        return {int(c): Usage.model_validate_json(v) for c, v in (await self.redis.hgetall(keys.usage(box_id))).items()
                if str(c).isdigit()}

    async def unseen_starts(self, transactions: list[int]) -> set[int]:
        """The transactions whose start was not counted yet (in one round trip, in batches for a seeding)."""
        if not transactions:
            return set()
        unseen: set[int] = set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(transactions), SEEN_BATCH):
                pipe.zmscore(keys.STARTS_SEEN, [str(t) for t in transactions[start:start + SEEN_BATCH]])
            for start, scores in zip(range(0, len(transactions), SEEN_BATCH), await pipe.execute(), strict=True):
                chunk = transactions[start:start + SEEN_BATCH]
                unseen.update(t for t, score in zip(chunk, scores, strict=True) if score is None)
        return unseen

    async def seeded(self) -> dict[str, float]:
        return {str(b): float(t) for b, t in (await self.redis.hgetall(keys.USAGE_SEEDED)).items()}


def write_usage(pipe: Any, usage: dict[tuple[str, int], Usage], starts: dict[int, float], seeded: dict[str, float],
                version: str | None, now: float, *, reset: list[str] | None = None) -> None:
    """Add a cycle's usage changes to its transaction (store.commit calls this)."""
    for box_id in reset or []:  # before the new values: a reset box keeps only what this cycle counted
        pipe.delete(keys.usage(box_id))
    if reset:
        pipe.hdel(keys.USAGE_SEEDED, *reset)
    by_box: dict[str, dict[str, str]] = {}
    for (box_id, connector), value in usage.items():
        by_box.setdefault(box_id, {})[str(connector)] = value.model_dump_json()
    for box_id, mapping in by_box.items():
        pipe.hset(keys.usage(box_id), mapping=mapping)
        pipe.expire(keys.usage(box_id), USAGE_TTL)
    if version is not None:  # the writer remembers it: its own commit does not make it re-read everything
        pipe.set(keys.USAGE_VERSION, version)
    if starts:
        pipe.zadd(keys.STARTS_SEEN, {str(t): at for t, at in starts.items()})
        pipe.zremrangebyscore(keys.STARTS_SEEN, "-inf", now - STARTS_SEEN_TTL)
    if seeded:
        pipe.hset(keys.USAGE_SEEDED, mapping={b: str(t) for b, t in seeded.items()})
