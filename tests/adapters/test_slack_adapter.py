"""The one Slack adapter against the fake Slack over loopback: 429s, unreadable answers, response_url."""

from __future__ import annotations

import time

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.helpers import SLACK_TOKEN
from thorbot.adapters.slack import ResponseUrl, SlackApi
from thorbot.errors import SlackPermanent, SlackRateLimited, SlackTransient
from thorbot.sim.slack_server import FakeSlack

PAYLOAD = {"text": "hello", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]}


def api(fake_slack: FakeSlack, wait: float) -> SlackApi:
    client = AsyncWebClient(token=SLACK_TOKEN, base_url=fake_slack.base_url + "/api/", retry_handlers=[])
    return SlackApi(client, rate_limit_wait=wait)


async def test_a_429_within_the_wait_budget_waits_retry_after_and_posts(fake_slack: FakeSlack) -> None:
    fake_slack.faults.fail_next["chat.postMessage"] = [429]
    started = time.monotonic()
    ts = await api(fake_slack, wait=3).post_message("C1", PAYLOAD)
    assert ts and time.monotonic() - started >= 0.9
    assert [c.status for c in fake_slack.calls if c.method == "chat.postMessage"] == [429, 200]


async def test_a_429_beyond_the_wait_budget_is_raised_with_its_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.faults.fail_next["chat.postMessage"] = [429]
    fake_slack.faults.retry_after = 7
    with pytest.raises(SlackRateLimited) as caught:
        await api(fake_slack, wait=3).post_message("C1", PAYLOAD)
    assert caught.value.retry_after == 7 and fake_slack.count("chat.postMessage") == 1


@pytest.mark.parametrize(("status", "content_type", "body"), [(502, "text/html", "<html>Bad Gateway</html>"),
                                                              (503, "text/plain", "no healthy upstream"),
                                                              (500, "application/json", "{broken")])
async def test_an_unreadable_answer_is_transient(fake_slack: FakeSlack, status: int, content_type: str,
                                                 body: str) -> None:
    fake_slack.faults.raw_next["chat.postMessage"] = [(status, content_type, body)]
    with pytest.raises(SlackTransient) as caught:
        await api(fake_slack, wait=0).post_message("C1", PAYLOAD)
    assert caught.value.status == status


async def test_a_refusal_for_good_is_permanent(fake_slack: FakeSlack) -> None:
    fake_slack.private_channels.add("G1")
    with pytest.raises(SlackPermanent) as caught:
        await api(fake_slack, wait=0).post_message("G1", PAYLOAD)
    assert caught.value.error == "not_in_channel"


async def test_response_url_honours_a_429(fake_slack: FakeSlack) -> None:
    fake_slack.faults.response_429 = 1
    poster = ResponseUrl(rate_limit_wait=3)
    try:
        await poster.post(fake_slack.response_url(fake_slack.base_url, "k1"), {"text": "hi"})
    finally:
        await poster.aclose()
    assert fake_slack.responses["k1"] == [{"text": "hi"}]


async def test_an_expired_response_url_is_permanent(fake_slack: FakeSlack) -> None:
    poster = ResponseUrl()
    url = fake_slack.response_url(fake_slack.base_url, "k2")
    try:
        for _ in range(5):
            await poster.post(url, {"text": "hi"})
        with pytest.raises(SlackPermanent):
            await poster.post(url, {"text": "sixth"})
    finally:
        await poster.aclose()
