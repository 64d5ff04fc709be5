"""Charging sessions end to end: the card, stuck sessions, failed starts, Thor's notifications, remote stop.

The simulated fleet charges, the fake Thor serves /charges/*, the fake Slack records what is posted,
Redis is real, and clicks and modal submissions are signed requests into the running app.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from tests.helpers import WEBHOOK_TOKEN, AppRig, assert_valid_message
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.domain.session_messages import SessionView, stop_modal, stop_value
from thorbot.domain.sessions import Session
from thorbot.sim.fleet import SimSession


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def quiet_fleet(rig: AppRig) -> None:
    rig.thor.fleet.incident_rate = 0.0


def charge(rig: AppRig, clock: Clock, box_index: int = 0, *, mode: str = "local", energy: float = 12_400,
           minutes: float = 300) -> SimSession:
    fleet = rig.thor.fleet
    fleet.now = clock.now
    session = fleet.start_session(boxes(rig)[box_index].id, 1, mode=mode, minutes=minutes)
    assert session is not None
    session.energy_wh = energy
    return session


def blocks_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload.get("blocks"), ensure_ascii=False)


async def test_the_card_shows_each_running_session_with_a_stop_button(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    _, key = await rig.command(session.box_id)
    card = await rig.reply(key)
    assert_valid_message(card)
    text = blocks_text(card)
    assert "12.4 kWh" in text and "started by RFID" in text and f"transaction {session.transaction}" in text
    assert '"action_id": "session_stop"' in text
    assert session.id_tag not in text  # the RFID stays out of Slack


async def test_the_card_shows_a_7_day_success_rate_per_connector(rig: AppRig, clock: Clock) -> None:
    await subscribe(rig, boxes(rig)[0].id)
    worker = make_worker(rig, clock, finished_interval=1.0)
    for energy in (9000, 40, 15000, 30000):
        session = charge(rig, clock, energy=energy)
        rig.thor.fleet.end_session(session.transaction)
    await poll(worker, clock, rig, 5)
    _, key = await rig.command(boxes(rig)[0].id)
    assert "success 7d: 75 % (3/4)" in blocks_text(await rig.reply(key))


async def test_a_stalled_session_gets_one_notice(rig: AppRig, clock: Clock) -> None:
    await subscribe(rig, boxes(rig)[0].id)
    worker = make_worker(rig, clock)
    session = charge(rig, clock)
    await poll(worker, clock, rig)
    for _ in range(3):
        session.energy_wh += 500  # charging: nothing to say
        await poll(worker, clock, rig, 600)
    assert alerts(rig) == []
    for _ in range(4):  # flat for 40 minutes
        await poll(worker, clock, rig, 600)
    [notice] = alerts(rig)
    assert "has not drawn energy" in notice.text + str(notice.blocks) and "Scheduled or paused" in str(notice.blocks)
    assert "session_stop" in str(notice.blocks) and "<@" not in notice.text
    for _ in range(3):
        await poll(worker, clock, rig, 600)
    assert len(alerts(rig)) == 1


async def test_a_day_long_session_gets_one_notice(rig: AppRig, clock: Clock) -> None:
    await subscribe(rig, boxes(rig)[0].id)
    worker = make_worker(rig, clock)
    session = charge(rig, clock, minutes=3000)
    await poll(worker, clock, rig)
    for hour in range(26):
        session.energy_wh += 1000 + hour
        await poll(worker, clock, rig, 3600)
    [notice] = alerts(rig)
    assert "has been charging for" in str(notice.blocks)


async def test_three_failed_attempts_open_one_failed_starts_incident_and_a_good_session_resolves_it(
        rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, finished_interval=1.0)
    await poll(worker, clock, rig)
    refused = {"type": "start", "accepted": False, "chargebox": box.id, "connector": 1, "id": "0011AA",
               "transaction_id": 0, "mode": "local"}
    assert (await rig.notify(refused)).status_code == 200
    for energy in (20, 55):  # two sessions that delivered almost nothing
        rig.thor.fleet.end_session(charge(rig, clock, energy=energy).transaction)
    await poll(worker, clock, rig, 5)
    [alert] = alerts(rig)
    assert "failed starts" in alert.text and "connector #1" in str(alert.blocks)
    assert "alert_ack" in str(alert.blocks)  # like a disconnect: Acknowledge, Snooze, Refresh
    rig.thor.fleet.end_session(charge(rig, clock, energy=25).transaction)
    await poll(worker, clock, rig, 5)
    assert len(alerts(rig)) == 1  # still the same incident
    rig.thor.fleet.end_session(charge(rig, clock, energy=18_000).transaction)
    await poll(worker, clock, rig, 5)
    replies = [m for m in rig.slack.posts() if m.thread_ts == alert.ts]
    assert len(replies) == 1 and "charging again" in replies[0].text


async def test_a_finished_charge_notified_and_polled_counts_once(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, finished_interval=1.0)
    session = charge(rig, clock, energy=30)
    rig.thor.fleet.end_session(session.transaction)
    for note in rig.thor.fleet.take_notifications():
        assert (await rig.notify(note)).status_code == 200
        assert (await rig.notify(note)).status_code == 200  # Thor repeats itself
    await poll(worker, clock, rig, 5)
    await poll(worker, clock, rig, 5)
    entries = await rig.ctx.redis.lrange(keys.attempts(f"{box.id}#1"), 0, -1)
    assert len(entries) == 1


@pytest.mark.parametrize("note", [
    {"type": "start"}, {"type": "start", "chargebox": 5, "connector": 1, "id": "x", "transaction_id": 1,
                        "accepted": True},
    {"type": "start", "chargebox": "B", "connector": "one", "id": "x", "transaction_id": 1, "accepted": True},
    {"type": "stop_transaction", "chargebox": "B", "connector": 1, "transaction_id": "52", "accepted": True},
    {"type": "surprise"}, [1, 2, 3], "just text", {"msg": "rfid", "id": "0011", "chargebox": "B", "type": "authorize"},
    {"type": "meters", "chargebox": "B", "connector": 1, "meters": [], "kwh": 12},
])
async def test_bad_notifications_are_a_200_and_store_nothing(rig: AppRig, note: object) -> None:
    response = await rig.notify(note)
    assert response.status_code == 200
    stored = [k for k in await rig.ctx.redis.keys(keys.PREFIX + "*") if "noteseen" not in k]
    assert stored == [], stored


async def test_a_stop_before_its_start_is_taken(rig: AppRig) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    stop = {"type": "stop_transaction", "accepted": True, "unlocked": False, "chargebox": box.id, "connector": 1,
            "idTag": "0011AA", "transaction_id": 77, "kwh": 9000, "time": 600}
    assert (await rig.notify(stop)).status_code == 200
    assert await rig.ctx.redis.llen(keys.INBOX) == 1
    start = {"type": "start", "accepted": True, "chargebox": box.id, "connector": 1, "id": "0011AA",
             "transaction_id": 77, "mode": "local"}
    assert (await rig.notify(start)).status_code == 200
    assert await rig.ctx.redis.get(keys.start_note(77))


async def test_the_webhook_is_a_404_without_its_token(rig: AppRig) -> None:
    note = {"type": "start", "accepted": True, "chargebox": "B", "connector": 1, "id": "x", "transaction_id": 1,
            "mode": "api"}
    assert (await rig.notify(note, token="wrong")).status_code == 404
    assert (await rig.notify(note, token=WEBHOOK_TOKEN[:-1])).status_code == 404
    assert (await rig.http.get(f"{rig.url}/thor/notifications/{WEBHOOK_TOKEN}")).status_code == 404
    assert await rig.ctx.redis.keys(keys.PREFIX + "*") == []


@pytest.mark.parametrize("rig", [{"thor_webhook_allow": "203.0.113.0/24"}], indirect=True)
async def test_the_webhook_refuses_sources_outside_the_allowlist(rig: AppRig) -> None:
    note = {"type": "start", "accepted": True, "chargebox": "B", "connector": 1, "id": "x", "transaction_id": 1,
            "mode": "api"}
    assert (await rig.notify(note)).status_code == 404


async def stop_via_slack(rig: AppRig, session: SimSession, *, user: str = "U0ALICE") -> dict[str, Any]:
    """Click Stop on the card, then confirm the modal; return what the modal showed."""
    _, key = await rig.command(session.box_id, user=user)
    card = await rig.reply(key)
    [value] = [b["accessory"]["value"] for b in card["blocks"] if b.get("accessory", {}).get("action_id") ==
               "session_stop"]
    before = len(rig.slack.modals)
    response, click_key = await rig.action("session_stop", value, user=user, ephemeral=True)
    assert response.status_code == 200
    for _ in range(100):
        if len(rig.slack.modals) > before or rig.slack.responses[click_key]:
            break
        await asyncio.sleep(0.02)
    if len(rig.slack.modals) == before:
        return {"refused": rig.slack.responses[click_key]}
    modal = rig.slack.modals[-1]
    assert (await rig.submit(modal, user=user)).status_code == 200
    return modal


async def wait_for_post(rig: AppRig, text: str, timeout: float = 5.0) -> Any:
    """The audit message, once the stop it reports is also recorded (it is written just after the post)."""
    for _ in range(int(timeout / 0.02)):
        found = [m for m in rig.slack.posts() if text in m.text]
        if found and await rig.ctx.redis.llen(keys.STOP_AUDIT):
            return found[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no post with {text!r}: {[m.text for m in rig.slack.posts()]}")


async def test_a_remote_stop_is_confirmed_audited_and_sent_with_the_rfid(rig: AppRig, clock: Clock) -> None:
    await subscribe(rig, boxes(rig)[0].id)
    session = charge(rig, clock)
    modal = await stop_via_slack(rig, session)
    assert modal["callback_id"] == "session_stop_confirm" and "12.4 kWh" in json.dumps(modal)
    audit = await wait_for_post(rig, "asked Thor to stop the charge")
    assert "<@U0ALICE>" in audit.text and "Thor accepted the command" in audit.text
    assert rig.thor.fleet.boxes[session.box_id].alias in audit.text
    assert rig.thor.log.stops == [(session.box_id, 1, session.transaction)]
    rig.thor.fleet.advance(rig.thor.fleet.now + timedelta(seconds=30))  # the box ends the charge
    assert session.transaction not in rig.thor.fleet.sessions
    worker = make_worker(rig, clock)
    await worker.tick(poll=True)
    outcome = [m for m in rig.slack.posts() if m.thread_ts == audit.ts]
    assert len(outcome) == 1 and "Confirmed" in outcome[0].text
    [record] = [json.loads(v) for v in await rig.ctx.redis.lrange(keys.STOP_AUDIT, 0, 0)]
    assert record["by"] == "U0ALICE" and record["transaction"] == session.transaction and record["confirmed"]


async def test_an_api_started_charge_needs_its_start_notification_to_be_stopped(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock, mode="api")
    await subscribe(rig, session.box_id)
    refused = await stop_via_slack(rig, session)
    assert "cannot stop this charge" in str(refused["refused"])
    for note in rig.thor.fleet.take_notifications():
        await rig.notify(note)
    await stop_via_slack(rig, session)
    await wait_for_post(rig, "Thor accepted the command")
    assert rig.thor.log.stops == [(session.box_id, 1, session.transaction)]


@pytest.mark.parametrize("rig", [{"operators": "U0OPERATOR"}], indirect=True)
async def test_only_operators_may_stop(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    refused = await stop_via_slack(rig, session, user="U0RANDOM")
    assert "Only thorbot operators" in str(refused["refused"])
    await stop_via_slack(rig, session, user="U0OPERATOR")
    await wait_for_post(rig, "Thor accepted the command")


async def test_thor_refusing_the_stop_is_said_in_plain_words(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock, mode="api")
    await subscribe(rig, session.box_id)
    for note in rig.thor.fleet.take_notifications():
        await rig.notify(note)
    session.id_tag = "srv-restarted-by-thor"  # the id_tag thorbot holds no longer matches the charge
    await stop_via_slack(rig, session)
    audit = await wait_for_post(rig, "asked Thor to stop the charge")
    assert "Thor refused: the charge running there is not the one you asked to stop" in audit.text
    # The audit message is posted as Thor answers; its Redis record follows: wait on it, not on time.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        [record] = [json.loads(v) for v in await rig.ctx.redis.lrange(keys.STOP_AUDIT, 0, 0)]
        if record.get("confirmed") is not None or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert record["confirmed"] is False and "WrongTransaction" not in audit.text


async def test_a_charge_that_ended_before_the_confirmation_is_not_stopped(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    _, key = await rig.command(session.box_id)
    card = await rig.reply(key)
    value = next(b["accessory"]["value"] for b in card["blocks"]
                 if b.get("accessory", {}).get("action_id") == "session_stop")
    await rig.action("session_stop", value, ephemeral=True)
    for _ in range(100):
        if rig.slack.modals:
            break
        await asyncio.sleep(0.02)
    rig.thor.fleet.end_session(session.transaction)  # the driver unplugged meanwhile
    await rig.submit(rig.slack.modals[-1])
    audit = await wait_for_post(rig, "asked Thor to stop the charge")
    assert "no longer running" in audit.text and rig.thor.log.stops == []


async def test_a_stop_that_is_not_confirmed_in_time_says_so(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    await stop_via_slack(rig, session)
    audit = await wait_for_post(rig, "asked Thor to stop the charge")
    session.stop_requested_at = None  # the box ignores the command
    await subscribe(rig, session.box_id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig, 1)
    assert [m for m in rig.slack.posts() if m.thread_ts == audit.ts] == []
    await poll(worker, clock, rig, 200)
    [outcome] = [m for m in rig.slack.posts() if m.thread_ts == audit.ts]
    assert "Not confirmed" in outcome.text


@pytest.mark.parametrize("rig", [{"operators": "", "admins": ""}], indirect=True)
async def test_nobody_may_stop_a_charge_until_operators_are_named(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    _, key = await rig.command(session.box_id)
    card = await rig.reply(key)
    assert "12.4 kWh" in blocks_text(card) and "session_stop" not in blocks_text(card)  # no Stop button
    # A forged confirmation (the modal thorbot would have opened) is refused, and says how to turn stops on.
    running = Session(transaction=session.transaction, box_id=session.box_id, connector=1, started=clock.now)
    data = json.loads(stop_value(SessionView(running, "RFID", stoppable=True, offer_stop=True)))
    view = stop_modal(data, name="x", now=clock.now, private=json.dumps({"stop": data}))
    response = await rig.submit({**view, "id": "V0FORGED"}, user="U0GUEST")
    answer = response.json()
    assert answer["response_action"] == "update" and "THORBOT_OPERATORS" in json.dumps(answer["view"])
    await asyncio.sleep(0)  # nothing runs after the refusal: no Thor call, no audit
    assert rig.thor.log.stops == [] and await rig.ctx.redis.llen(keys.STOP_AUDIT) == 0


async def test_a_replayed_confirmation_or_a_second_operator_asks_thor_once(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    modal = await stop_via_slack(rig, session)
    await wait_for_post(rig, "Thor accepted the command")
    replies = [(await rig.submit(modal)).json() for _ in range(2)]  # the same signed submission, replayed
    second = await stop_via_slack(rig, session)  # another operator's fresh confirmation
    assert second["id"] != modal["id"]
    assert rig.thor.log.stops == [(session.box_id, 1, session.transaction)]
    assert len([m for m in rig.slack.posts() if "asked Thor to stop the charge" in m.text]) == 1
    assert await rig.ctx.redis.zcard(keys.STOPS_PENDING) == 1
    for answer in replies:
        assert answer["response_action"] == "update" and "Already asked" in json.dumps(answer["view"])
        assert "<@U0ALICE>" in json.dumps(answer["view"])
    audit = [json.loads(v) for v in await rig.ctx.redis.lrange(keys.STOP_AUDIT, 0, -1)]
    assert [a["stage"] for a in audit] == ["answered", "asking"]  # the intent first, then Thor's answer


async def test_the_intent_is_audited_before_thor_is_asked(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    rig.thor.faults.hold_stops = hold = asyncio.Event()  # Thor has the stop command but has not answered
    await stop_via_slack(rig, session)
    for _ in range(500):
        if await rig.ctx.redis.llen(keys.STOP_AUDIT):
            break
        await asyncio.sleep(0.01)
    [intent] = [json.loads(v) for v in await rig.ctx.redis.lrange(keys.STOP_AUDIT, 0, -1)]
    assert intent["stage"] == "asking" and intent["by"] == "U0ALICE" and rig.thor.log.stops == []
    hold.set()
    await wait_for_post(rig, "Thor accepted the command")
    assert len(await rig.ctx.redis.lrange(keys.STOP_AUDIT, 0, -1)) == 2


@pytest.mark.parametrize("rig", [{"stop_confirm_within": 300.0}], indirect=True)
async def test_not_confirmed_says_how_long_thorbot_waited(rig: AppRig, clock: Clock) -> None:
    session = charge(rig, clock)
    await stop_via_slack(rig, session)
    audit = await wait_for_post(rig, "asked Thor to stop the charge")
    session.stop_requested_at = None  # the box ignores the command
    await subscribe(rig, session.box_id)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig, 1)
    clock.advance(310)
    await poll(worker, clock, rig, 1)
    [outcome] = [m for m in rig.slack.posts() if m.thread_ts == audit.ts]
    assert "Not confirmed: 5 min" in outcome.text and "2 minutes" not in outcome.text
