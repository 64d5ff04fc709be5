"""Redis adapter: what a report reads (the history store and the box records), and how to read the same from
another process (services/reports.py builds reports in a process of their own, which opens its own connection)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import ConnectionPool, Redis

from thorbot.adapters.history_store import HistoryStore, read_records
from thorbot.domain.incidents import BoxRecord

PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ReportConnection:
    """How to connect to the same Redis from another process (picklable): the pool's class and its plain
    settings."""

    connection_class: type[Any]
    kwargs: dict[str, Any]


class ReportSource:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self.history = HistoryStore(redis)

    async def records(self) -> dict[str, BoxRecord]:
        """Every box's last seen state."""
        return await read_records(self._redis)

    def connection(self) -> ReportConnection:
        pool = self._redis.connection_pool
        return ReportConnection(pool.connection_class,
                                {k: v for k, v in pool.connection_kwargs.items() if isinstance(v, PLAIN)})

    @classmethod
    @contextlib.asynccontextmanager
    async def reconnect(cls, connection: ReportConnection) -> AsyncIterator[ReportSource]:
        """The same source on a connection of this process's own (a report process), closed after."""
        client = Redis(connection_pool=ConnectionPool(connection_class=connection.connection_class,
                                                      **connection.kwargs))
        try:
            yield cls(client)
        finally:
            await client.aclose()
