"""Assemble the real parts from Settings (Redis, embedded or REDIS_URL; Thor; Slack) into an AppContext.

The Slack app and the worker both run on an AppContext; only this module and the entry points
(cli/, demo/) build one. The clock is read here and nowhere in domain/.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.redis_server import EmbeddedRedis
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.thor import ThorClient
from thorbot.domain.incidents import Thresholds
from thorbot.errors import ConfigError
from thorbot.redact import register_secret
from thorbot.services.lookup import Lookup
from thorbot.services.reports import ReportBuilds
from thorbot.settings import Settings


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass
class AppContext:
    """What the Slack listeners and the worker share: settings, clients, the clock.

    `thor` retries (the worker's); `thor_interactive` does not, because a person is waiting.
    """

    settings: Settings
    thor: ThorClient
    thor_interactive: ThorClient
    lookup: Lookup
    redis: Redis
    reports: ReportBuilds
    clock: Callable[[], datetime] = field(default=utc_now)
    slack: SlackApi | None = None  # the bot's Web API, once the Slack app is built


def thresholds(settings: Settings) -> Thresholds:
    """The incident state machine's thresholds, from THORBOT_* settings."""
    return Thresholds(grace=timedelta(seconds=settings.disconnect_grace),
                      stale_after=timedelta(seconds=settings.heartbeat_stale_after),
                      recovery_grace=timedelta(seconds=settings.recovery_grace))


def require(settings: Settings, command: str) -> None:
    """Raise one ConfigError naming every setting `command` needs that is not set."""
    missing = settings.missing_for(command)
    if missing:
        raise ConfigError("not set: " + "; ".join(missing) + ". See README → Configuration.")


def thor_client(settings: Settings) -> ThorClient:
    require(settings, "status")
    assert settings.thor_api_key is not None
    return ThorClient(settings.thor_api_url, settings.thor_api_key.get_secret_value(),
                      timeout=settings.thor_timeout, retries=settings.thor_retries,
                      max_connections=max(settings.poll_concurrency, 50),
                      max_list_bytes=settings.thor_max_list_mb * 1024 * 1024)


def slack_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    # No retry handlers: thorbot.adapters.slack owns 429s and retries (a blind retry after a
    # connection reset could post an alert twice).
    # Inside the lease's margin (worker/lease.py): a post started while the lease held has landed, or
    # given up, before another worker can take the lease over and look for it.
    timeout: Any = settings.call_timeout()  # slack_sdk types it int; aiohttp takes any number of seconds
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, retry_handlers=[], timeout=timeout)


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir)
        url = embedded.start()
    # Every call gives up well inside the leader lease (a fifth of it, at most 10 s): a reply held by the
    # network for longer is not waited for (worker/lease.py).
    timeout = settings.call_timeout()
    client: Redis = Redis.from_url(url, decode_responses=True, socket_timeout=timeout,
                                   socket_connect_timeout=timeout, health_check_interval=30)
    try:
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            embedded.stop()


@contextlib.asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[AppContext]:
    for secret in settings.secret_values():
        register_secret(secret)
    thor = thor_client(settings)
    try:
        async with open_redis(settings) as redis:
            interactive = thor.interactive()
            reports = ReportBuilds(redis, processes=settings.report_processes)
            try:
                yield AppContext(settings=settings, thor=thor, thor_interactive=interactive, redis=redis,
                                 clock=utc_now, lookup=Lookup(interactive, cache_ttl=settings.name_cache_ttl),
                                 reports=reports)
            finally:
                reports.close()
    finally:
        await thor.aclose()
