"""Rotating THORBOT_SECRETS_KEY (finding 17 of issue 28): a comma-separated list, newest first; what was sealed
under an older key still opens, and is sealed again under the newest as the worker reads it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from tests.helpers import AppRig, fake_pagerduty
from tests.test_doctor import doctor, good
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.secrets_box import SecretBox, SecretsUnavailable
from thorbot.domain.pager import PagerLink
from thorbot.runtime import build_worker, open_context
from thorbot.sim.pagerduty import FakePagerDuty
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
KEY_A = "q9lOgOWpG0NTYpRmDtbMqdyX5Bjo4zfWhJqTKEnM7Ww="  # the rig's own key (tests/helpers.SECRETS_KEY)
KEY_B = "Qn3v0bqk2kS1vJxYl0k8mZJ6b0ZkYw8f0Xh8kQ3t9Yc="
KEY_C = "3bXk1m9vH2pQ8sR4tU6wY0zA5cE7gI9kM1oQ3sU5wY8="


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def calm_fleet(rig: AppRig) -> None:
    rig.thor.fleet.incident_rate = 0.0


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with fake_pagerduty(ROUTING_KEY) as fake:
        yield fake


def link_sealed_with(key: str) -> PagerLink:
    return PagerLink(kind="pagerduty", sealed=SecretBox(key).seal(ROUTING_KEY), by="U0ADMIN",
                     at=datetime(2026, 1, 1, tzinfo=UTC))


async def page_once_under(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty, secrets_key: str, box: int) -> None:
    """A worker started afresh with THORBOT_SECRETS_KEY=`secrets_key` (open_context, as `thorbot worker` does);
    box number `box` drops, its alert posts and its page goes out, or not."""
    settings = rig.settings.with_changes(secrets_key=secrets_key, slack_channel_gap=0.0,
                                         pagerduty_events_url=pagerduty.events_url)
    dropping = boxes(rig)[box]
    await subscribe(rig, dropping.id)
    async with open_context(settings, clock=clock) as ctx:
        worker = build_worker(ctx, worker_id=f"w{box}")
        try:
            await poll(worker, clock, rig)
            dropping.connected = False
            await poll(worker, clock, rig, 10)
            await poll(worker, clock, rig, 150)
            await worker.tick(poll=False)
            await worker.tick(poll=False)
        finally:
            await worker.aclose()
    await rig.ctx.redis.delete(keys.LEASE)  # the stopped worker's lease runs out before the next one starts


async def test_seal_with_a_restart_with_b_a_reseals_under_b_and_b_alone_still_reads(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    await rig.ctx.stores.pagers.set_link("C0ALERTS", link_sealed_with(KEY_A))
    await page_once_under(rig, clock, pagerduty, f"{KEY_B},{KEY_A}", 0)
    assert [r["event_action"] for r in pagerduty.requests] == ["trigger"]
    stored = await rig.ctx.stores.pagers.link("C0ALERTS")
    assert stored is not None and SecretBox(KEY_B).current(stored.sealed)  # re-sealed under the newest key
    assert stored.by == "U0ADMIN" and stored.at == datetime(2026, 1, 1, tzinfo=UTC)  # nothing else changed
    await page_once_under(rig, clock, pagerduty, KEY_B, 1)  # the old key dropped: pages still go out
    assert [r["event_action"] for r in pagerduty.requests] == ["trigger", "trigger"]
    assert ROUTING_KEY not in json.dumps(await rig.ctx.redis.hgetall(keys.PAGERS), default=str)


async def test_a_page_no_key_opens_is_said_once_in_the_log_the_channel_and_the_pager_status(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty, caplog: pytest.LogCaptureFixture) -> None:
    await rig.ctx.stores.pagers.set_link("C0ALERTS", link_sealed_with(KEY_C))  # a key thorbot no longer has
    worker = make_worker(rig, clock, pagerduty_events_url=pagerduty.events_url)
    for number, box in enumerate(boxes(rig)[:2]):
        await subscribe(rig, box.id)
        await poll(worker, clock, rig)
        box.connected = False
        await poll(worker, clock, rig, 10)
        await poll(worker, clock, rig, 150)
        await worker.tick(poll=False)
        await worker.tick(poll=False)
        assert len(alerts(rig)) >= number + 1
    assert pagerduty.requests == []
    said = [m for m in rig.slack.posts("C0ALERTS") if "gets no pages for now" in m.text]
    assert len(said) == 1 and "THORBOT_SECRETS_KEY" in said[0].text and "old key back" in said[0].text
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "THORBOT_SECRETS_KEY" in r.getMessage()]
    assert len(errors) == 1
    _, key = await rig.command("pager")
    status = json.dumps(await rig.reply(key))
    assert "THORBOT_SECRETS_KEY" in status and "old key back" in status


def test_the_box_takes_a_list_newest_first() -> None:
    old = SecretBox(KEY_A).seal("secret")
    both = SecretBox(f" {KEY_B} , {KEY_A} ")
    assert both.open(old) == "secret" and not both.current(old)
    assert SecretBox(KEY_B).open(both.seal("new")) == "new"  # the first key seals
    link = PagerLink(kind="webhook", sealed=old, sealed_url=SecretBox(KEY_A).seal("https://example.com/hook"))
    fresh = both.resealed(link)
    assert fresh is not None and SecretBox(KEY_B).open(fresh.sealed) == "secret"
    assert SecretBox(KEY_B).open(fresh.sealed_url or "") == "https://example.com/hook"
    assert both.resealed(fresh) is None  # already under the newest: nothing to write
    with pytest.raises(SecretsUnavailable, match="old key back"):
        SecretBox(KEY_B).open(old)
    with pytest.raises(SecretsUnavailable, match="key 2 of THORBOT_SECRETS_KEY"):
        SecretBox(f"{KEY_B},not-a-key")


async def test_doctor_says_when_the_older_key_can_be_dropped(fake_thor: FakeThor, fake_slack: FakeSlack,
                                                             redis_url: str, redis: Redis) -> None:
    store = PagerStore(redis)
    await store.set_link("C0ALERTS", link_sealed_with(KEY_A))
    env = {**good(fake_thor, fake_slack, redis_url), "THORBOT_SECRETS_KEY": f"{KEY_B},{KEY_A}"}
    code, out = await doctor(**env)
    assert "set, 2 keys" in out and "1 pager(s) still sealed under an older key (C0ALERTS)" in out, out
    old = await store.link("C0ALERTS")
    assert old is not None
    fresh = SecretBox(f"{KEY_B},{KEY_A}").resealed(old)
    assert fresh is not None and await store.replace_link("C0ALERTS", old, fresh)
    code, out = await doctor(**env)
    assert "every pager is sealed under the first key" in out, out
    assert KEY_A not in out and KEY_B not in out and ROUTING_KEY not in out
