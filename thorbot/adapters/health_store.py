"""What `/healthz`, `/readyz` and `/metrics` read, through one store so serve/ holds no Redis client: whether Redis
answers, Thor's health as the worker last saw it, and one metrics scrape (this process's figures merged with the
worker's published ones and the outbox's). When the worker last cycled is metrics.WorkerStatusStore's."""

from __future__ import annotations

from redis.asyncio import Redis

from thorbot.adapters import keys, metrics
from thorbot.domain.notify import ThorHealth


class HealthStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def ping(self) -> None:
        """Raises one of RedisDown (adapters/store.py) when Redis does not answer."""
        await self.redis.ping()

    async def thor_health(self) -> ThorHealth:
        """Consecutive failed calls to Thor, as the worker last recorded them (none recorded: healthy)."""
        raw = await self.redis.get(keys.THOR)
        return ThorHealth.model_validate_json(raw) if raw else ThorHealth()

    async def scrape(self, own: metrics.Metrics, process: str) -> bytes:
        return await metrics.scrape(self.redis, own, process)
