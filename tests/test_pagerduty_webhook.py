"""PagerDuty's v3 webhook into the real `thorbot serve` HTTP endpoint: bodies however they arrive, and only
events about pages this channel's PagerDuty really took (findings 6 and 9 of issue 28)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.helpers import PAGERDUTY_WEBHOOK_SECRET, AppRig, fake_pagerduty
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.domain.pager import PagerLink, page_key
from thorbot.sim.pagerduty import FakePagerDuty, webhook_request
from thorbot.worker.loop import Worker

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
OTHER_KEY = "0THERKEY0123456789abcdefABCDEFGH"
HOOK = "/pagerduty/webhook"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def calm_fleet(rig: AppRig) -> None:
    rig.thor.fleet.incident_rate = 0.0


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with fake_pagerduty(ROUTING_KEY, OTHER_KEY) as fake:
        yield fake


async def link(rig: AppRig, channel: str = "C0ALERTS", routing_key: str = ROUTING_KEY, delay: int = 0) -> None:
    """The channel's PagerDuty, stored as the pager form stores it."""
    await rig.ctx.stores.pagers.set_link(channel, PagerLink(kind="pagerduty", sealed=rig.ctx.secrets.seal(routing_key),
                                                            delay=delay, by="U0ADMIN",
                                                            at=datetime(2026, 1, 1, tzinfo=UTC)))


async def paged_alert(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty, *channels: str) -> tuple[Worker, str]:
    """A box watched in each of `channels` drops; its alert posts and C0ALERTS's page goes out. The alert's ts."""
    rig.use_clock(clock)
    box = boxes(rig)[0]
    for channel in ("C0ALERTS", *channels):
        await subscribe(rig, box.id, channel=channel)
    worker = make_worker(rig, clock, pagerduty_events_url=pagerduty.events_url)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    await worker.tick(poll=False)
    [alert] = alerts(rig)
    assert [p.dedup_key for p in pagerduty.incidents()] == [page_key("C0ALERTS", alert.ts)]
    return worker, str(alert.ts)


async def post(rig: AppRig, key: str, details: int = 0) -> int:
    body, headers = webhook_request(PAGERDUTY_WEBHOOK_SECRET, "incident.acknowledged", key, details=details)
    async with aiohttp.ClientSession() as http, http.post(rig.url + HOOK, data=body, headers=headers) as response:
        return response.status


def acked_in_slack(rig: AppRig, channel: str, ts: str) -> bool:
    message = next(m for m in rig.slack.posts(channel) if m.ts == ts)
    return "Acknowledged in PagerDuty by Ana Ruiz" in json.dumps(message.blocks)


# --- finding 6: the whole body, however it arrives ----------------------------------------------------
async def post_in_two(rig: AppRig, body: bytes, headers: dict[str, str], split_at: int) -> bytes:
    """POST over a raw socket, the body in two TCP segments: the second only once serve's handler has the request
    and the first (it answers "100 Continue" then: a condition, not a sleep). The answer's status line."""
    url = urlsplit(rig.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = "".join(f"{name}: {value}\r\n" for name, value in {
        **headers, "Host": url.netloc, "Content-Length": str(len(body)), "Connection": "close",
        "Expect": "100-continue"}.items())
    writer.write(f"POST {HOOK} HTTP/1.1\r\n{head}\r\n".encode() + body[:split_at])
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
    with contextlib.suppress(ConnectionError):  # a server that already answered may have closed the link
        writer.write(body[split_at:])
        await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer.split(b"\r\n", 1)[0]


async def test_a_signed_event_in_two_tcp_segments_is_taken(rig: AppRig, clock: Clock,
                                                           pagerduty: FakePagerDuty) -> None:
    await link(rig)
    _, ts = await paged_alert(rig, clock, pagerduty)
    body, headers = webhook_request(PAGERDUTY_WEBHOOK_SECRET, "incident.acknowledged", page_key("C0ALERTS", ts))
    assert 380 < len(body) < 520  # an ordinary event, like the 401-byte one of the finding
    assert await post_in_two(rig, body, headers, 150) == b"HTTP/1.1 200 OK"
    assert acked_in_slack(rig, "C0ALERTS", ts)


async def test_a_large_signed_event_is_read_whole(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    await link(rig)
    _, ts = await paged_alert(rig, clock, pagerduty)
    body, headers = webhook_request(PAGERDUTY_WEBHOOK_SECRET, "incident.acknowledged", page_key("C0ALERTS", ts),
                                    details=153 * 1024)
    assert await post_in_two(rig, body, headers, 128_000) == b"HTTP/1.1 200 OK"  # cut where the finding's was
    assert acked_in_slack(rig, "C0ALERTS", ts)


async def test_a_body_over_the_limit_is_413_and_changes_nothing(rig: AppRig, clock: Clock,
                                                                pagerduty: FakePagerDuty) -> None:
    await link(rig)
    _, ts = await paged_alert(rig, clock, pagerduty)
    assert await post(rig, page_key("C0ALERTS", ts), details=1024 * 1024) == 413
    assert await rig.ctx.stores.oncall.ack("C0ALERTS", ts) is None


# --- finding 9: only pages this channel's PagerDuty took ---------------------------------------------
def ignored(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "ignored a PagerDuty webhook" in r.getMessage()]


async def test_an_event_about_a_message_never_paged_writes_nothing(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty, caplog: pytest.LogCaptureFixture) -> None:
    await link(rig)
    _, ts = await paged_alert(rig, clock, pagerduty)
    never = "1700000000.000100"
    with caplog.at_level(logging.INFO):
        assert await post(rig, page_key("C0ALERTS", never)) == 200  # 200: PagerDuty must not retry it
    assert await rig.ctx.redis.exists(keys.ack("C0ALERTS", never)) == 0
    assert len(ignored(caplog)) == 1
    assert ROUTING_KEY not in caplog.text and PAGERDUTY_WEBHOOK_SECRET not in caplog.text
    assert await rig.ctx.stores.oncall.ack("C0ALERTS", ts) is None


async def test_an_event_cannot_acknowledge_another_channels_alert(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty, caplog: pytest.LogCaptureFixture) -> None:
    await link(rig)
    await link(rig, "C0OTHER", OTHER_KEY, delay=1800)  # its own PagerDuty, not paged yet (the delay)
    _, ts = await paged_alert(rig, clock, pagerduty, "C0OTHER")
    [other] = alerts(rig, "C0OTHER")
    with caplog.at_level(logging.INFO):
        assert await post(rig, page_key("C0OTHER", other.ts)) == 200
    assert await rig.ctx.redis.exists(keys.ack("C0OTHER", other.ts)) == 0
    assert not acked_in_slack(rig, "C0OTHER", other.ts) and len(ignored(caplog)) == 1
    assert await post(rig, page_key("C0ALERTS", ts)) == 200  # the page C0ALERTS's PagerDuty took: applied
    assert acked_in_slack(rig, "C0ALERTS", ts)


async def test_an_event_about_a_page_sent_through_a_pager_since_replaced_is_ignored(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty, caplog: pytest.LogCaptureFixture) -> None:
    await link(rig)
    _, ts = await paged_alert(rig, clock, pagerduty)
    await link(rig, routing_key=OTHER_KEY)  # the channel now pages another PagerDuty service
    with caplog.at_level(logging.INFO):
        assert await post(rig, page_key("C0ALERTS", ts)) == 200
    assert await rig.ctx.redis.exists(keys.ack("C0ALERTS", ts)) == 0 and len(ignored(caplog)) == 1
