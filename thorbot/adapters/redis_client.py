"""Redis's own names, for the rooms that hold a client the root opened but may not import redis themselves
(docs/architecture.md, "Outside packages"): the client's type, its pool, its error, and its URL grammar."""

from __future__ import annotations

from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.connection import parse_url
from redis.exceptions import RedisError

__all__ = ["ConnectionPool", "Redis", "RedisError", "parse_redis_url"]


def parse_redis_url(url: str) -> dict[str, Any]:
    """redis-py's own reading of a REDIS_URL, so settings accept exactly what the client will open; ValueError if
    it is not one (redis://, rediss://, unix://, and valid query arguments)."""
    parsed: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
    return parsed
