"""On-call: mentions, buttons (signed block_actions), escalation, snooze, mute, permissions, App Home."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from slack_sdk.models.views import View

from tests.helpers import AppRig, sign
from tests.worker_rig import Clock, alerts, box_drops, boxes, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.worker.loop import Worker


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def command(rig: AppRig, text: str, user: str = "U0ALICE") -> dict[str, object]:
    response, key = await rig.command(text, user=user)
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if not body:  # acknowledged without a word: the answer comes through response_url
        return await rig.reply(key)
    return body


async def incident(rig: AppRig, clock: Clock, *, oncall: str | None = "<@U0ONCALL|oncall>",
                   **overrides: object) -> tuple[Worker, object]:
    if oncall:
        await command(rig, f"oncall {oncall}")
    worker, _ = await box_drops(rig, clock, **overrides)
    await poll(worker, clock, rig, 150)
    [alert] = alerts(rig)
    return worker, alert


async def click(rig: AppRig, action_id: str, alert: object, user: str = "U0BOB",
                selected: str | None = None) -> dict[str, object]:
    if selected is None:
        response, key = await rig.action(action_id, "x", user=user, message={"ts": alert.ts})  # type: ignore[attr-defined]
    else:
        response, key = await _select(rig, action_id, selected, alert.ts, user)  # type: ignore[attr-defined]
    assert response.status_code == 200
    return await rig.reply(key)


async def _select(rig: AppRig, action_id: str, value: str, ts: str, user: str) -> tuple[object, str]:
    key = "sel" + ts.replace(".", "")
    payload = {
        "type": "block_actions", "team": {"id": "T0FAKE"}, "user": {"id": user}, "api_app_id": "A0THORBOT",
        "channel": {"id": "C0ALERTS"}, "container": {"type": "message", "channel_id": "C0ALERTS", "message_ts": ts},
        "message": {"ts": ts}, "trigger_id": "1.2.3",
        "response_url": rig.slack.response_url(rig.slack.base_url, key),  # type: ignore[attr-defined]
        "actions": [{"type": "static_select", "action_id": action_id, "block_id": "alert_actions",
                     "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}],
    }
    raw = urlencode({"payload": json.dumps(payload)})
    return await rig.http.post(rig.url + "/slack/events", content=raw, headers=sign(raw)), key


async def test_oncall_set_show_clear_and_alert_mentions(rig: AppRig, clock: Clock) -> None:
    assert "Nobody is on call" in str(await command(rig, "oncall"))
    assert "<!subteam^S0TEAM>" in str(await command(rig, "oncall <!subteam^S0TEAM|@team>"))
    assert "<!subteam^S0TEAM>" in str(await command(rig, "oncall"))
    assert "no longer mention" in str(await command(rig, "oncall clear"))
    assert "is not a person" in str(await command(rig, "oncall <!channel>"))
    _, alert = await incident(rig, clock)
    assert alert.text.startswith("<@U0ONCALL>")  # type: ignore[attr-defined]


async def test_recovery_pings_nobody(rig: AppRig, clock: Clock) -> None:
    worker, alert = await incident(rig, clock)
    boxes(rig)[0].connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    [recovery] = [m for m in rig.slack.posts() if m.thread_ts == alert.ts]  # type: ignore[attr-defined]
    assert "<@" not in recovery.text and "<!subteam" not in recovery.text
    assert "<@U0ONCALL>" not in alert.text  # type: ignore[attr-defined]


async def test_acknowledge_records_who_and_stops_escalation(rig: AppRig, clock: Clock) -> None:
    worker, alert = await incident(rig, clock)
    reply = await click(rig, "alert_ack", alert)
    assert "You acknowledged" in str(reply)
    assert "Acknowledged by <@U0BOB>" in str(alert.blocks)  # type: ignore[attr-defined]
    assert "already" in str(await click(rig, "alert_ack", alert, user="U0CAROL")).lower()
    for _ in range(4):
        await poll(worker, clock, rig, 900)
    assert [m for m in rig.slack.posts() if m.thread_ts] == []


async def test_escalation_renotifies_in_thread_and_by_dm_at_most_max_times(rig: AppRig, clock: Clock) -> None:
    worker, alert = await incident(rig, clock, escalate_after=900.0, escalate_max=3)
    await poll(worker, clock, rig, 800)
    assert [m for m in rig.slack.posts() if m.thread_ts] == []
    for _ in range(6):
        await poll(worker, clock, rig, 900)
    thread = [m for m in rig.slack.posts("C0ALERTS") if m.thread_ts == alert.ts]  # type: ignore[attr-defined]
    dms = rig.slack.posts("D0ONCALL")
    assert len(thread) == 3 and len(dms) == 3
    assert all("<@U0ONCALL>" in m.text for m in thread) and "(3/3)" in thread[-1].text
    assert "<#C0ALERTS>" in dms[0].text


async def test_snooze_holds_alerts_for_that_box_until_it_expires(rig: AppRig, clock: Clock) -> None:
    worker, alert = await incident(rig, clock)
    reply = await click(rig, "alert_snooze", alert, selected="1h")
    assert "Snoozed (1 hour)" in str(reply)
    assert "Snoozed by <@U0BOB>" in str(alert.blocks)  # type: ignore[attr-defined]
    box = boxes(rig)[0]
    box.connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    box.connected = False  # a second incident inside the snooze: recorded, not posted
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert len(alerts(rig)) == 1
    _, key = await rig.command(box.id)
    assert "Snoozed" in str(await rig.reply(key))
    box.connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    clock.advance(3600)  # the snooze has expired
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert len(alerts(rig)) == 2


async def test_refresh_posts_the_live_card_in_the_thread(rig: AppRig, clock: Clock) -> None:
    _, alert = await incident(rig, clock)
    await rig.action("alert_refresh", "refresh", message={"ts": alert.ts})  # type: ignore[attr-defined]
    for _ in range(100):
        thread = [m for m in rig.slack.posts() if m.thread_ts == alert.ts]  # type: ignore[attr-defined]
        if thread:
            break
        await asyncio.sleep(0.02)
    assert "Disconnected" in str(thread[0].blocks)


async def test_click_after_resolution_is_answered_politely_not_applied(rig: AppRig, clock: Clock) -> None:
    worker, alert = await incident(rig, clock)
    boxes(rig)[0].connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    reply = await click(rig, "alert_ack", alert)
    assert "already resolved" in str(reply)
    assert await rig.ctx.redis.keys(keys.PREFIX + "ack:*") == []
    assert "already resolved" in str(await click(rig, "alert_snooze", alert, selected="4h"))


async def test_acknowledgement_racing_a_recovery(rig: AppRig, clock: Clock) -> None:
    worker, alert = await incident(rig, clock)
    boxes(rig)[0].connected = True
    await poll(worker, clock, rig, 10)
    clock.advance(70)
    response_and_key, _ = await asyncio.gather(
        rig.action("alert_ack", "x", user="U0BOB", message={"ts": alert.ts}),  # type: ignore[attr-defined]
        worker.tick(poll=True),
    )
    reply = await rig.reply(response_and_key[1])
    assert "acknowledged" in str(reply) or "already resolved" in str(reply)
    await worker.tick(poll=False)
    assert "Resolved" in alert.text  # type: ignore[attr-defined]
    assert [m for m in rig.slack.posts() if m.thread_ts and "back online" in m.text]


async def test_mute_and_unmute_through_the_slash_command(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    assert "for 2 h" in str(await command(rig, f"mute {box.id} 2h"))
    assert "mute" in str(await command(rig, "list")).lower()
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert alerts(rig) == []
    assert await rig.ctx.redis.llen(keys.RECENT) == 1  # recorded, not posted
    assert "Unmuted" in str(await command(rig, f"unmute {box.id}"))
    box.connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert len(alerts(rig)) == 1


async def test_a_box_still_down_when_its_mute_runs_out_is_alerted_then_once(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    assert "for 1 h" in str(await command(rig, f"mute {box.id} 1h"))
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    await poll(worker, clock, rig, 1800)
    assert alerts(rig) == []  # held while muted
    await poll(worker, clock, rig, 1800)  # the mute has run out, and the box is still down
    [alert] = alerts(rig)
    assert "offline" in alert.text and box.id in alert.text
    for _ in range(3):
        await poll(worker, clock, rig, 60)
    assert len(alerts(rig)) == 1 and await rig.ctx.redis.zcard(keys.HELD_ALERTS) == 0
    box.connected = True
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 70)
    assert [m for m in rig.slack.posts() if m.thread_ts == alert.ts and "back online" in m.text]


async def test_a_box_back_before_its_mute_ends_is_never_alerted(rig: AppRig, clock: Clock) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    await command(rig, f"mute {box.id} 1h")
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    box.connected = True
    await poll(worker, clock, rig, 3500)  # back as the mute ends: recovering, not alerted…
    await poll(worker, clock, rig, 70)    # …and resolved
    await poll(worker, clock, rig, 60)
    assert rig.slack.posts() == [] and await rig.ctx.redis.zcard(keys.HELD_ALERTS) == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("mute x", "Say for how long"), ("mute x forever", "Say for how long"), ("mute 2h", "Say for how long"),
    ("mute x 1w", "in minutes, hours or days"), ("mute x 90d", "from one minute to 30 days"),
    ("mute x 30d1m", "from one minute to 30 days"), ("mute x 30s", "from one minute to 30 days"),
])
async def test_bad_mute_commands_explain(rig: AppRig, text: str, expected: str) -> None:
    reply = await command(rig, text)
    assert expected in str(reply) and "Traceback" not in str(reply)
    assert await rig.ctx.redis.keys(keys.PREFIX + "holds:*") == []


@pytest.mark.parametrize("rig", [{"admins": "U0ADMIN,S0ADMINS"}], indirect=True)
async def test_only_admins_may_change_settings(rig: AppRig) -> None:
    rig.slack.usergroups["S0ADMINS"] = ["U0GROUPIE"]
    box_id = boxes(rig)[0].id
    for text in [f"subscribe {box_id}", "oncall <@U0X|x>", f"mute {box_id} 1h", "unsubscribe all"]:
        refused = await command(rig, text, user="U0RANDOM")
        assert "Only thorbot admins" in str(refused)
    assert "Now watching" in str(await command(rig, f"subscribe {box_id}", user="U0ADMIN"))
    assert "now mention <@U0X>" in str(await command(rig, "oncall <@U0X|x>", user="U0GROUPIE"))
    assert "Only thorbot admins" not in str(await command(rig, "list", user="U0RANDOM"))


async def test_app_home_shows_the_fleet(rig: AppRig, clock: Clock) -> None:
    await incident(rig, clock)
    rig.slack.memberships["U0ALICE"] = ["C0ALERTS", "C0OTHER"]
    view = await rig.open_home("U0ALICE")
    View(**view).validate_json()
    text = str(view)
    assert "offline" in text and "not acknowledged" in text and "<#C0ALERTS>" in text and "<@U0ONCALL>" in text


async def test_settings_commands_in_a_dm_point_to_a_channel(rig: AppRig) -> None:
    response, _ = await rig.command("subscribe all", channel="D0DIRECT")
    assert "belong to a channel" in response.text
    assert await rig.ctx.redis.smembers(keys.SUB_ALL) == set()


async def test_refresh_clicks_within_a_minute_reuse_the_last_card(rig: AppRig, clock: Clock) -> None:
    _, alert = await incident(rig, clock)
    updates = rig.slack.count("chat.update")
    clicks = [(await rig.action("alert_refresh", "refresh", message={"ts": alert.ts}))[1]  # type: ignore[attr-defined]
            for _ in range(3)]
    # Wait until every click is fully answered: two are told to look in the thread, one posts the card and
    # redraws the alert. Only then is the thread counted, so a late duplicate would be seen.
    for _ in range(500):
        told = sum(1 for k in clicks for r in rig.slack.responses[k] if "less than a minute ago" in str(r))
        if told == 2 and rig.slack.count("chat.update") > updates:
            break
        await asyncio.sleep(0.01)
    thread = [m for m in rig.slack.posts() if m.thread_ts == alert.ts]  # type: ignore[attr-defined]
    assert len(thread) == 1
    assert any("less than a minute ago" in str(r) for rs in rig.slack.responses.values() for r in rs)
