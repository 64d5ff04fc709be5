"""What the Slack listeners and the worker share: settings, clients, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis

from thorbot.adapters.lookup import Lookup
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.thor import ThorClient
from thorbot.settings import Settings


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass
class AppContext:
    """`thor` retries (the worker's); `thor_interactive` does not, because a person is waiting."""

    settings: Settings
    thor: ThorClient
    thor_interactive: ThorClient
    lookup: Lookup
    redis: Redis
    clock: Callable[[], datetime] = field(default=utc_now)
    slack: SlackApi | None = None  # the bot's Web API, once the Slack app is built
