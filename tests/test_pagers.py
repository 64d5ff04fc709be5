"""Rotations and pagers end to end: signed slash commands and modal submissions into the app, a real worker,
real Redis, and fake PagerDuty / webhook receivers over loopback (thorbot/sim/pagerduty.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.helpers import PAGERDUTY_WEBHOOK_SECRET, AppRig, assert_valid_message, fake_pagerduty, served
from tests.worker_rig import Clock, alerts, box_drops, boxes, heartbeat_all, is_audit, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.adapters.outbound import OutboundPolicy
from thorbot.adapters.pager import PagerClient
from thorbot.domain.pager import PagerLink, page_key
from thorbot.errors import PagerRetry
from thorbot.runtime import build_worker
from thorbot.sim.pagerduty import FakePagerDuty, FakeWebhookReceiver
from thorbot.worker.loop import Worker

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
HOOK_SECRET = "hook-secret-0123456789-abcdef"

# Connecting a pager and a rotation's user group need a named admin (serve/registry.py): the rig's user is one.
RIG_DEFAULTS = {"admins": "U0ALICE"}


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


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with served(FakeWebhookReceiver(HOOK_SECRET)) as fake:
        yield fake


def form(kind: str, secret: str, url: str = "", delay: str = "0", channel: str = "C0ALERTS") -> dict[str, Any]:
    """The pager modal as submitted (Slack's view_submission state)."""
    def select(value: str) -> dict[str, Any]:
        return {"value": {"type": "static_select", "selected_option": {"value": value}}}

    def text(value: str) -> dict[str, Any]:
        return {"value": {"type": "plain_text_input", "value": value}}

    return {"type": "modal", "callback_id": "pager_connect",
            "private_metadata": json.dumps({"channel": channel, "response_url": ""}),
            "state": {"values": {"kind": select(kind), "secret": text(secret), "url": text(url),
                                 "delay": select(delay)}}}


async def connect(rig: AppRig, kind: str = "pagerduty", secret: str = ROUTING_KEY, **fields: str) -> Any:
    response = await rig.submit(form(kind, secret, **fields))
    assert response.status_code == 200
    return response


async def paging_worker(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty, **overrides: Any) -> Worker:
    return make_worker(rig, clock, pagerduty_events_url=pagerduty.events_url, **overrides)


async def drop_and_alert(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> tuple[Worker, Any]:
    worker, box = await box_drops(rig, clock, pagerduty_events_url=pagerduty.events_url)
    await poll(worker, clock, rig, 150)
    return worker, box


# --- connecting a pager ------------------------------------------------------------------------------
async def test_the_pager_form_opens_for_admins_and_the_key_is_never_echoed_logged_or_stored_in_clear(
        rig: AppRig, caplog: pytest.LogCaptureFixture) -> None:
    _, key = await rig.command("pager")
    status = json.dumps(await rig.reply(key))
    assert "No pager is connected" in status
    assert rig.slack.modals and rig.slack.modals[-1]["callback_id"] == "pager_connect"
    with caplog.at_level(logging.DEBUG):
        await connect(rig)
        _, key = await rig.command("pager")
        shown = json.dumps(await rig.reply(key))
    assert "PagerDuty" in shown and ROUTING_KEY not in shown
    assert ROUTING_KEY not in caplog.text
    stored = json.dumps({str(k): str(v) for k, v in (await rig.ctx.redis.hgetall(keys.PAGERS)).items()})
    assert "C0ALERTS" in stored and ROUTING_KEY not in stored and ROUTING_KEY[:12] not in stored


async def test_a_bad_key_or_url_is_refused_in_the_form(rig: AppRig) -> None:
    response = await rig.submit(form("pagerduty", "not-a-key"))
    assert response.json()["response_action"] == "errors" and "32 letters" in response.json()["errors"]["secret"]
    response = await rig.submit(form("webhook", HOOK_SECRET, url="ftp://example.com/x"))
    assert "https://" in response.json()["errors"]["url"]
    response = await rig.submit(form("webhook", "short", url="https://example.com/hook"))
    assert "16 characters" in response.json()["errors"]["secret"]
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0


@pytest.mark.parametrize("rig", [{"admins": "U0ADMIN"}], indirect=True)
async def test_only_admins_connect_a_pager(rig: AppRig) -> None:
    response = await rig.submit(form("pagerduty", ROUTING_KEY), user="U0RANDOM")
    assert "Only thorbot admins" in json.dumps(response.json())
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0
    _, key = await rig.command("pager off", user="U0RANDOM")
    assert "Only thorbot admins" in json.dumps(await rig.reply(key))


@pytest.mark.parametrize("rig", [{"secrets_key": None}], indirect=True)
async def test_without_a_secrets_key_no_key_is_stored(rig: AppRig) -> None:
    _, key = await rig.command("pager")
    assert "THORBOT_SECRETS_KEY" in json.dumps(await rig.reply(key))
    response = await rig.submit(form("pagerduty", ROUTING_KEY))
    assert "THORBOT_SECRETS_KEY" in json.dumps(response.json())
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0


# --- PagerDuty ---------------------------------------------------------------------------------------
async def test_an_alert_triggers_one_page_acknowledge_acknowledges_it_and_the_recovery_resolves_it(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    rig.use_clock(clock)
    await connect(rig)
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    [alert] = alerts(rig)
    await worker.tick(poll=False)  # the page goes out after the alert landed
    [page] = pagerduty.incidents()
    assert page.dedup_key == page_key("C0ALERTS", alert.ts) and page.status == "triggered"
    trigger = pagerduty.requests[0]
    assert trigger["payload"]["severity"] == "critical" and box.id in trigger["payload"]["summary"]
    assert trigger["payload"]["custom_details"]["incidents"][0]["box_id"] == box.id
    response, key = await rig.action("alert_ack", "x", message={"ts": alert.ts})
    assert "page is acknowledged too" in json.dumps(await rig.reply(key))
    await worker.tick(poll=False)
    assert page.status == "acknowledged"
    box.connected = True
    await poll(worker, clock, rig, 60)
    await poll(worker, clock, rig, 60)
    await worker.tick(poll=False)
    assert page.status == "resolved" and page.events == ["trigger", "acknowledge", "resolve"]
    assert len(pagerduty.incidents()) == 1


async def test_a_storm_slack_gets_as_one_message_is_one_page(rig: AppRig, clock: Clock,
                                                             pagerduty: FakePagerDuty) -> None:
    await connect(rig)
    await subscribe(rig, "all")
    worker = await paging_worker(rig, clock, pagerduty)
    await poll(worker, clock, rig)
    for box in boxes(rig):
        box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    await worker.tick(poll=False)
    assert len(alerts(rig)) == 1
    [page] = pagerduty.incidents()
    assert page.summary.startswith(f"{len(boxes(rig))} chargeboxes")


async def test_a_pager_that_is_down_does_not_hold_back_slack(rig: AppRig, clock: Clock,
                                                             pagerduty: FakePagerDuty) -> None:
    await connect(rig)
    pagerduty.faults.statuses = [503] * 50
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    await worker.tick(poll=False)
    assert len(alerts(rig)) == 1 and pagerduty.incidents() == []  # Slack has it; the page waits
    box.connected = True
    await poll(worker, clock, rig, 60)
    await poll(worker, clock, rig, 60)
    assert any("back online" in m.text for m in rig.slack.posts("C0ALERTS"))  # Slack goes on meanwhile
    pagerduty.faults.statuses = []
    for _ in range(8):
        await poll(worker, clock, rig, 60)
    [page] = pagerduty.incidents()  # sent when the pager came back, and resolved at once: its record is whole
    assert page.events == ["trigger", "resolve"]


async def test_a_page_is_retried_and_its_resolve_never_overtakes_it(rig: AppRig, clock: Clock,
                                                                     pagerduty: FakePagerDuty) -> None:
    await connect(rig)
    pagerduty.faults.statuses = [500, 429]
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    for _ in range(3):
        await poll(worker, clock, rig, 30)
    box.connected = True
    for _ in range(3):
        await poll(worker, clock, rig, 60)
    [page] = pagerduty.incidents()
    assert page.events == ["trigger", "resolve"]


async def test_a_page_taken_but_unanswered_is_sent_again_and_lands_on_the_same_alert(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    await connect(rig)
    pagerduty.faults.land_then = [500]  # PagerDuty took the trigger, but the 202 was lost
    worker, _ = await drop_and_alert(rig, clock, pagerduty)
    for _ in range(3):
        await poll(worker, clock, rig, 30)
    [page] = pagerduty.incidents()  # one alert in PagerDuty: the retry joined it by its dedup_key
    assert page.triggers == 2


async def test_a_revoked_key_is_said_once_in_the_channel_and_nothing_else_stops(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    await connect(rig)
    pagerduty.revoked.add(ROUTING_KEY)
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    await worker.tick(poll=False)
    await worker.tick(poll=False)
    notices = [m for m in rig.slack.posts("C0ALERTS") if "refused thorbot's page" in m.text]
    assert len(notices) == 1 and ROUTING_KEY not in json.dumps(notices[0].blocks)
    other = boxes(rig)[1]
    await subscribe(rig, other.id)
    other.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    await worker.tick(poll=False)
    assert len([m for m in rig.slack.posts("C0ALERTS") if "refused thorbot's page" in m.text]) == 1
    assert len(alerts(rig)) == 3  # both alerts (and the one notice) still posted
    _, key = await rig.command("pager")
    assert "last page was refused" in json.dumps(await rig.reply(key))


async def test_a_delay_spares_the_pager_an_alert_resolved_within_it(rig: AppRig, clock: Clock,
                                                                    pagerduty: FakePagerDuty) -> None:
    await connect(rig, delay="300")
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    box.connected = True
    for _ in range(5):
        await poll(worker, clock, rig, 120)
    assert pagerduty.requests == []


async def test_a_delay_spares_the_pager_an_alert_acknowledged_in_slack(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    rig.use_clock(clock)
    await connect(rig, delay="300")
    worker, _ = await drop_and_alert(rig, clock, pagerduty)
    [alert] = alerts(rig)
    await rig.action("alert_ack", "x", message={"ts": alert.ts})
    for _ in range(4):
        await poll(worker, clock, rig, 120)
    assert pagerduty.requests == []


async def test_a_delayed_page_goes_out_when_nobody_acknowledged(rig: AppRig, clock: Clock,
                                                                pagerduty: FakePagerDuty) -> None:
    await connect(rig, delay="300")
    worker, _ = await drop_and_alert(rig, clock, pagerduty)
    await worker.tick(poll=False)
    assert pagerduty.requests == []
    for _ in range(3):
        await poll(worker, clock, rig, 120)
    assert [r["event_action"] for r in pagerduty.requests] == ["trigger"]


async def test_pagerdutys_webhook_acknowledging_shows_on_the_slack_alert(
        rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    rig.use_clock(clock)
    await connect(rig)
    worker, _ = await drop_and_alert(rig, clock, pagerduty)
    await worker.tick(poll=False)
    [alert] = alerts(rig)
    async with aiohttp.ClientSession() as http:
        forged = await pagerduty.send_webhook(http, rig.url + "/pagerduty/webhook", "not-the-secret",
                                              "incident.acknowledged", page_key("C0ALERTS", alert.ts))
        assert forged == 401
        assert await rig.ctx.stores.oncall.ack("C0ALERTS", alert.ts) is None
        status = await pagerduty.send_webhook(http, rig.url + "/pagerduty/webhook", PAGERDUTY_WEBHOOK_SECRET,
                                              "incident.acknowledged", page_key("C0ALERTS", alert.ts))
    assert status == 200
    updated = next(m for m in rig.slack.posts("C0ALERTS") if m.ts == alert.ts)
    assert "Acknowledged in PagerDuty by Ana Ruiz" in json.dumps(updated.blocks)
    assert await rig.ctx.redis.zscore(keys.ESCALATIONS, f"C0ALERTS|{alert.ts}") is None  # escalation stopped


# --- a signed webhook --------------------------------------------------------------------------------
async def test_any_pager_gets_signed_events_with_stable_ids(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty,
                                                            receiver: FakeWebhookReceiver) -> None:
    await connect(rig, kind="webhook", secret=HOOK_SECRET, url=receiver.url)
    receiver.faults.land_then = [502]  # the first trigger lands, its answer is lost: sent again, same id
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    for _ in range(2):
        await poll(worker, clock, rig, 30)
    box.connected = True
    for _ in range(3):
        await poll(worker, clock, rig, 60)
    assert [e["type"] for e in receiver.events] == ["trigger", "resolve"]
    assert receiver.repeats == 1 and receiver.bad_signatures == 0
    assert len({e["incident_id"] for e in receiver.events}) == 1
    assert receiver.events[0]["incidents"][0]["box_id"] == box.id


RUNBOOK = "https://wiki.example.com/runbooks/{kind}?box={box_id}&connector={connector}"


@pytest.mark.parametrize("rig", [{**RIG_DEFAULTS, "runbook_url": RUNBOOK}], indirect=True)
async def test_every_alert_and_page_links_its_runbook(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty) -> None:
    """THORBOT_RUNBOOK_URL: a Runbook link on the alert (kept when it is redrawn) and in PagerDuty's `links`."""
    rig.use_clock(clock)
    await connect(rig)
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    url = f"https://wiki.example.com/runbooks/offline?box={box.id}&connector="
    [alert] = alerts(rig)
    assert f"<{url}|:book: Runbook>" in json.dumps(alert.blocks), alert.blocks
    await worker.tick(poll=False)
    links = pagerduty.requests[0]["links"]
    assert {"href": url, "text": "Runbook"} in links and links[0]["text"] == "The alert in Slack"
    await rig.action("alert_ack", "x", message={"ts": alert.ts})  # serve redraws the alert: the link stays
    [updated] = [m for m in rig.slack.messages if m.ts == alert.ts]
    assert "Acknowledged by" in json.dumps(updated.blocks) and url in json.dumps(updated.blocks)


@pytest.mark.parametrize("rig", [{**RIG_DEFAULTS, "runbook_url": RUNBOOK}], indirect=True)
async def test_a_webhook_page_carries_its_runbook_url(rig: AppRig, clock: Clock, pagerduty: FakePagerDuty,
                                                      receiver: FakeWebhookReceiver) -> None:
    await connect(rig, kind="webhook", secret=HOOK_SECRET, url=receiver.url)
    worker, box = await drop_and_alert(rig, clock, pagerduty)
    await poll(worker, clock, rig, 30)
    [trigger] = receiver.events
    assert trigger["runbook_url"] == f"https://wiki.example.com/runbooks/offline?box={box.id}&connector="


async def test_without_a_runbook_url_there_is_no_runbook_link(rig: AppRig, clock: Clock,
                                                              pagerduty: FakePagerDuty) -> None:
    rig.use_clock(clock)
    await connect(rig)
    worker, _ = await drop_and_alert(rig, clock, pagerduty)
    await worker.tick(poll=False)
    assert "Runbook" not in json.dumps(alerts(rig)[0].blocks)
    assert [link["text"] for link in pagerduty.requests[0]["links"]] == ["The alert in Slack"]


def test_runbook_values_are_url_encoded_and_a_bad_template_is_refused_at_start() -> None:
    from thorbot.domain.alerts import runbook_url
    from thorbot.domain.incidents import Incident
    from thorbot.settings import Settings

    now = datetime(2026, 3, 1, tzinfo=UTC)
    odd = Incident(id="i", box_id="A B/1&x=2", alias="a", kind="failed_starts", connector=2, started=now, opened=now)
    assert runbook_url(RUNBOOK, odd) == ("https://wiki.example.com/runbooks/failed_starts?box=A%20B%2F1%26x%3D2"
                                         "&connector=2")
    assert runbook_url(None, odd) is None
    for bad, says in (("http://wiki.example.com/{kind}", "https://"), ("https://w.example.com/{box}", "{box} is not"),
                      ("https://w.example.com/{kind", "cannot be read"), ("https://w.example.com/{kind!r}", "!r")):
        with pytest.raises(ValueError, match="THORBOT_RUNBOOK_URL|runbook_url") as caught:
            Settings(runbook_url=bad)
        assert says in str(caught.value)


# --- rotations ---------------------------------------------------------------------------------------
async def test_a_rotation_mentions_whoever_is_on_call_and_each_handoff_is_announced_once(
        rig: AppRig, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # a Tuesday
    rig.use_clock(clock)
    _, key = await rig.command("rotation <@U0ANA|ana> <@U0BEN|ben> daily 09:00 UTC")
    shown = json.dumps(await rig.reply(key))
    assert "On call now: <@U0ANA>" in shown and shown.count("<!date^") >= 5  # now, until, four handoffs
    one, two = make_worker(rig, clock, "w1"), make_worker(rig, clock, "w2")
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    for worker in (one, two):
        await poll(worker, clock, rig)
    clock.now = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC)
    for _ in range(3):
        for worker in (one, two):
            await poll(worker, clock, rig, 31)
    handoffs = [m for m in rig.slack.posts("C0ALERTS") if "is on call until" in m.text]
    assert len(handoffs) == 1 and "<@U0BEN>" in json.dumps(handoffs[0].blocks)
    box.connected = False
    leader = one if one.is_leader else two
    await poll(leader, clock, rig, 10)
    await poll(leader, clock, rig, 150)
    [alert] = [m for m in alerts(rig) if "alert_ack" in json.dumps(m.blocks)]
    assert "<@U0BEN>" in json.dumps(alert.blocks) and "<@U0ANA>" not in json.dumps(alert.blocks)


async def test_a_rotation_keeps_a_user_group_to_whoever_is_on_call(rig: AppRig, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    rig.use_clock(clock)
    rig.slack.usergroups["S0ONCALL"] = ["U0SOMEONE"]
    _, key = await rig.command("rotation <@U0ANA|ana> <@U0BEN|ben> daily 09:00 UTC group <!subteam^S0ONCALL|@oncall>")
    assert "<!subteam^S0ONCALL> is kept to whoever is on call" in json.dumps(await rig.reply(key))
    one, two = make_worker(rig, clock, "w1"), make_worker(rig, clock, "w2")
    for worker in (one, two):
        await poll(worker, clock, rig)
    assert rig.slack.usergroups["S0ONCALL"] == ["U0ANA"]  # set when the rotation is set, not at the next handoff
    clock.now = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC)
    for _ in range(3):
        for worker in (one, two):
            await poll(worker, clock, rig, 31)
    assert rig.slack.usergroups["S0ONCALL"] == ["U0BEN"]
    assert rig.slack.count("usergroups.users.update") == 2  # once per change, with two workers
    said = [m.text for m in rig.slack.posts("C0ALERTS") if not is_audit(m)]  # the setup's own audit line aside
    assert said == [text for text in said if "is on call until" in text]  # nothing else said


@pytest.mark.parametrize(("locked", "scoped", "says"), [(True, True, "Permissions"),
                                                        (False, False, "usergroups:write")])
async def test_a_user_group_slack_will_not_change_is_said_once_and_not_retried(
        rig: AppRig, clock: Clock, locked: bool, scoped: bool, says: str) -> None:
    clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    rig.use_clock(clock)
    rig.slack.usergroups["S0ONCALL"] = ["U0SOMEONE"]
    if locked:
        rig.slack.usergroups_locked.add("S0ONCALL")
    if not scoped:
        rig.slack.scopes.remove("usergroups:write")
    _, key = await rig.command("rotation <@U0ANA|ana> daily 09:00 UTC group <!subteam^S0ONCALL|@oncall>")
    await rig.reply(key)
    worker = make_worker(rig, clock)
    for _ in range(4):
        await poll(worker, clock, rig, 31)
    [notice] = [m for m in rig.slack.posts("C0ALERTS") if "did not let thorbot" in m.text]
    assert says in notice.text and "`S0ONCALL`" in notice.text and "<!subteam^" not in notice.text  # no group ping
    assert rig.slack.count("usergroups.users.update") == 1 and rig.slack.usergroups["S0ONCALL"] == ["U0SOMEONE"]
    assert_valid_message({"text": notice.text, "blocks": notice.blocks})


async def test_an_override_covers_a_shift_and_the_schedule_returns(rig: AppRig, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    rig.use_clock(clock)
    _, key = await rig.command("rotation <@U0ANA|ana> <@U0BEN|ben> weekly mon 09:00 UTC")
    await rig.reply(key)
    _, key = await rig.command("rotation override <@U0CAT|cat> until 4h")
    assert "<@U0CAT> is on call here until" in json.dumps(await rig.reply(key))
    assert (await rig.ctx.stores.oncall.target("C0ALERTS", clock.now)).id == "U0CAT"  # type: ignore[union-attr]
    worker = make_worker(rig, clock)
    heartbeat_all(rig, clock)
    await worker.tick(poll=True)
    assert not [m for m in rig.slack.posts("C0ALERTS") if "is on call until" in m.text]  # the reply said it
    clock.now += timedelta(hours=4, minutes=1)
    await poll(worker, clock, rig)
    [back] = [m for m in rig.slack.posts("C0ALERTS") if "is on call until" in m.text]
    assert "<@U0ANA>" in json.dumps(back.blocks)


@pytest.mark.parametrize(("text", "expected"), [
    ("rotation <@U0ANA|ana> weekly mon 09:00 Mars/Olympus", "is not a time zone"),
    ("rotation <@U0NOBODY|x> daily 09:00", "is not a member of this workspace"),
    ("rotation <@U0ANA|ana> hourly 09:00", "how often"),
    ("rotation <@U0ANA|ana> daily 25:00", "HH:MM"),
    ("rotation <@U0ANA|ana> daily 09:00 UTC group", "name the Slack user group"),
    ("rotation <@U0ANA|ana> daily 09:00 group <@U0BEN|ben>", "name the Slack user group"),
    ("rotation override <@U0ANA|ana> until yesterday", "no rotation"),
])
async def test_a_rotation_that_cannot_be_read_gets_a_clear_reply(rig: AppRig, text: str, expected: str) -> None:
    rig.slack.unknown_users.add("U0NOBODY")
    _, key = await rig.command(text)
    reply = json.dumps(await rig.reply(key))
    assert expected in reply and "Traceback" not in reply
    assert await rig.ctx.redis.hlen(keys.ROTATIONS) == 0


NOT_A_MENTION = "is not a Slack mention; pick the {who} in Slack's autocomplete so it becomes a mention"


@pytest.mark.parametrize(("text", "name", "who"), [
    ("rotation @ana @ben @cat weekly mon 09:00 Europe/Rome", "@ana", "person"),
    ("rotation <@U0ANA|ana> @ben weekly mon 09:00", "@ben", "person"),
    ("rotation <@U0ANA|ana> daily 09:00 UTC group @oncall", "@oncall", "user group"),
    ("rotation override @ben until 4h", "@ben", "person"),
    ("oncall @ana", "@ana", "person or user group"),
])
async def test_a_person_typed_as_plain_at_name_is_said_to_be_no_mention(rig: AppRig, text: str, name: str,
                                                                         who: str) -> None:
    """Slack sends `@ana` unchanged unless she was picked in its autocomplete: the reply says so (it used to say
    "Name the people in the rotation first", though they were named)."""
    response, key = await rig.command(text)
    assert response.status_code == 200
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    reply = json.dumps(body if "not a Slack mention" in json.dumps(body) else await rig.reply(key), ensure_ascii=False)
    assert f"`{name}` " + NOT_A_MENTION.format(who=who) in reply, reply
    assert "first" not in reply
    assert await rig.ctx.redis.hlen(keys.ROTATIONS) == 0 and await rig.ctx.stores.oncall.oncall("C0ALERTS") is None


# --- retries: one backoff policy (domain/backoff.py) -------------------------------------------------
async def link_pagerduty(rig: AppRig, channel: str = "C0ALERTS", routing_key: str = ROUTING_KEY) -> None:
    """The channel's PagerDuty, stored as the pager form stores it (the form itself is tested above)."""
    await rig.ctx.stores.pagers.set_link(channel, PagerLink(kind="pagerduty", sealed=rig.ctx.secrets.seal(routing_key),
                                                            by="U0ADMIN", at=datetime(2026, 1, 1, tzinfo=UTC)))


async def test_a_pager_refusing_twice_gets_the_page_within_the_cap(rig: AppRig, clock: Clock,
                                                                   pagerduty: FakePagerDuty) -> None:
    """Rate limited (no Retry-After), then down once, then back: the page lands within 30 s of its alert on the
    worker's clock, with the jitter at its worst (the random source always 1)."""
    await link_pagerduty(rig)
    pagerduty.faults.statuses = [429, 503]
    landed: list[datetime] = []
    pagerduty.listeners.append(lambda action, event: landed.append(clock.now))
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    settings = rig.settings.with_changes(slack_channel_gap=0.0, pagerduty_events_url=pagerduty.events_url)
    worker = build_worker(rig.ctx.with_settings(settings).with_clock(clock), worker_id="w1", rand=lambda: 1.0)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    [_] = alerts(rig)
    alerted = clock.now
    for _ in range(120):
        if landed:
            break
        clock.advance(1)
        await worker.tick(poll=False)
    assert pagerduty.faults.statuses == [] and landed, "the pager never got the page"
    assert (landed[0] - alerted).total_seconds() <= 30


@pytest.mark.parametrize(("status", "header", "expected"), [(429, "7", 7.0), (503, "3", 3.0), (429, None, None),
                                                            (429, "soon", None)])
async def test_the_pager_client_surfaces_retry_after(pagerduty: FakePagerDuty, status: int, header: str | None,
                                                     expected: float | None) -> None:
    pagerduty.faults.statuses, pagerduty.faults.retry_after = [status], header
    client = PagerClient(pagerduty.events_url, OutboundPolicy(allow_loopback=True))
    try:
        with pytest.raises(PagerRetry) as raised:
            await client.pagerduty({"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "k"})
    finally:
        await client.aclose()
    assert raised.value.retry_after == expected
