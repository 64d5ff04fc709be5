"""Signed `/chargebox` requests over HTTP into the running Bolt app, answered via response_url."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

import pytest

from tests.helpers import AppRig, assert_valid_message, sign, start_app_rig
from thorbot.sim.fleet import SimBox
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor

T = TypeVar("T")


def first_box(rig: AppRig) -> SimBox:
    return next(iter(rig.thor.fleet.boxes.values()))


async def test_a_good_id_gets_a_card(rig: AppRig) -> None:
    box = first_box(rig)
    response, key = await rig.command(box.id)
    assert response.status_code == 200
    assert response.text == ""  # acknowledged at once, without a word: the card follows on response_url
    card = await rig.reply(key)
    assert_valid_message(card)
    assert card["replace_original"] is True
    assert card["response_type"] == "ephemeral"
    assert box.id in card["text"]
    assert any(b["type"] == "actions" for b in card["blocks"])


async def test_a_name_finds_the_box(rig: AppRig) -> None:
    box = first_box(rig)
    box.alias = "Marina dock 7"
    _, key = await rig.command("marina DOCK")
    card = await rig.reply(key)
    assert_valid_message(card)
    assert "Marina dock 7" in card["blocks"][0]["text"]["text"]


async def test_several_matches_give_a_pick_list(rig: AppRig) -> None:
    for i, box in enumerate(rig.thor.fleet.boxes.values()):
        box.alias = f"Depot bay {i}"
    _, key = await rig.command("depot bay")
    reply = await rig.reply(key)
    assert_valid_message(reply)
    assert "6 chargeboxes match" in reply["text"]
    buttons = [b["accessory"] for b in reply["blocks"] if "accessory" in b]
    assert len(buttons) == 6
    response, key2 = await rig.action(buttons[2]["action_id"], buttons[2]["value"])
    assert response.status_code == 200
    card = await rig.reply(key2)
    assert buttons[2]["value"] in card["text"]


async def test_no_match_says_so(rig: AppRig) -> None:
    _, key = await rig.command("nowhere to be found")
    reply = await rig.reply(key)
    assert_valid_message(reply)
    assert "No chargebox" in reply["text"]


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
async def test_help_is_immediate(rig: AppRig, text: str) -> None:
    response, _ = await rig.command(text)
    assert response.status_code == 200
    body = response.json()
    assert_valid_message(body)
    assert "/chargebox subscribe" in body["blocks"][1]["text"]["text"]
    assert rig.thor.log.box_calls == 0


@pytest.mark.parametrize(
    ("error", "style", "expected"),
    [
        ("APIKeyNotFound", "json", "THOR_API_KEY"),
        ("RestAPINotEnabled", "plain", "enable it on the *Development* page"),
        ("InvalidSourceIPAddr", "json-error", "Source IP address"),
        ("InternalServerError", "quoted", "having trouble"),
    ],
)
async def test_each_thor_error_explains_what_to_do(rig: AppRig, error: str, style: str, expected: str) -> None:
    rig.thor.faults.error = error
    rig.thor.faults.error_style = style  # type: ignore[assignment]
    _, key = await rig.command(first_box(rig).id)
    reply = await rig.reply(key)
    assert_valid_message(reply)
    assert expected in reply["text"]
    assert "Traceback" not in reply["text"]


async def test_unknown_id_is_reported(rig: AppRig) -> None:
    _, key = await rig.command("NoSuchBox123")
    reply = await rig.reply(key)
    assert "No chargebox" in reply["text"] or "ChargeboxNotFound" in reply["text"]


async def test_wrong_api_key_is_reported(rig: AppRig) -> None:
    rig.thor.api_key = "rotated-in-the-dashboard"
    _, key = await rig.command(first_box(rig).id)
    assert "APIKeyNotFound" in (await rig.reply(key))["text"]


async def test_slow_thor_still_acks_within_three_seconds_and_times_out_politely(rig: AppRig) -> None:
    rig.thor.faults.hang = True
    response, key = await rig.command(first_box(rig).id)
    assert response.status_code == 200
    assert response.extensions["elapsed"] < 1.0
    reply = await rig.reply(key, timeout=20)
    assert "did not answer in time" in reply["text"]


async def test_forged_signature_is_rejected(rig: AppRig) -> None:
    raw = urlencode({"command": "/chargebox", "text": "x", "response_url": "http://127.0.0.1:1/x"})
    response, _ = await rig.command("x", body=raw, headers=sign(raw, secret="not-the-secret"))
    assert response.status_code == 401
    assert rig.thor.log.box_calls == 0


async def test_stale_timestamp_is_rejected(rig: AppRig) -> None:
    raw = urlencode({"command": "/chargebox", "text": "x", "response_url": "http://127.0.0.1:1/x"})
    response, _ = await rig.command("x", body=raw, headers=sign(raw, timestamp=int(time.time()) - 301))
    assert response.status_code == 401


HOSTILE = ["../", "../../etc/passwd", "%2e%2e", "..", "a/b?c=d#e", "<!channel>", "<!here|here> hi",
           "🔌⚡ café", "box\x00\x07\u202eevil", "A" * 5000, "<@U123|bob>", "`code` *bold*"]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_input_gets_a_helpful_reply(rig: AppRig, text: str) -> None:
    response, key = await rig.command(text)
    assert response.status_code == 200
    immediate = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    reply = immediate or await rig.reply(key)
    for payload in (immediate, reply):
        if payload:
            assert_valid_message(payload)
            serialized = str(payload)
            assert "<!channel>" not in serialized and "<!here" not in serialized
            assert "Traceback" not in serialized
    for box_id in rig.thor.log.box_ids:
        assert "/" not in box_id or box_id == text.strip()
    for raw_path in rig.thor.log.raw_paths:
        tail = raw_path.split("/chargeboxes/", 1)[1]
        assert "/" not in tail and "?" not in tail and "#" not in tail and ".." not in tail


async def test_ids_reach_thor_as_one_percent_encoded_segment(rig: AppRig) -> None:
    for text in ["../x", "%2e%2e", "..", "a/b?c"]:
        _, key = await rig.command(text)
        await rig.reply(key)
    assert rig.thor.log.box_ids == ["../x", "%2e%2e", "..", "a/b?c"]


async def test_share_button_posts_the_card_in_channel(rig: AppRig) -> None:
    box = first_box(rig)
    response, key = await rig.action("card_share", box.id, user="U0BOB")
    assert response.status_code == 200
    reply = await rig.reply(key)
    assert reply["response_type"] == "in_channel"
    assert "<@U0BOB>" in str(reply["blocks"])
    assert_valid_message(reply)


async def test_healthz(rig: AppRig) -> None:
    response = await rig.http.get(rig.url + "/healthz")
    assert response.json() == {"ok": True, "redis": "ok"}


async def test_cards_work_while_redis_is_down(fake_thor: FakeThor, fake_slack: FakeSlack, tmp_path: Path) -> None:
    box = next(iter(fake_thor.fleet.boxes.values()))
    async with start_app_rig(fake_thor, fake_slack, "redis://127.0.0.1:1/0", tmp_path) as dead_redis_rig:
        _, key = await dead_redis_rig.command(box.id)
        card = await dead_redis_rig.reply(key)
        assert box.id in card["text"] and "Connected" in str(card["blocks"])
        health = await dead_redis_rig.http.get(dead_redis_rig.url + "/healthz")
        assert health.status_code == 503


@pytest.mark.parametrize("rig", [{"interactive_deadline": 2.0, "thor_timeout": 10.0, "thor_retries": 2}],
                         indirect=True)
async def test_a_hanging_thor_is_explained_within_the_interactive_deadline(rig: AppRig) -> None:
    rig.thor.faults.hang = True
    started = time.monotonic()
    _, key = await rig.command(first_box(rig).id)
    reply = await rig.reply(key, timeout=20)
    assert time.monotonic() - started < 4
    assert "Thor did not answer in 2 s" in reply["text"]


async def held_thor(rig: AppRig, *commands: Awaitable[T]) -> list[T]:
    """Send the commands while Thor holds its answers, so every lookup starts while the first is in flight."""
    rig.thor.faults.hold = asyncio.Event()
    try:
        sent = await asyncio.gather(*commands)  # every command acked: its lookup is under way
        await asyncio.sleep(0.2)
    finally:
        rig.thor.faults.hold.set()
        rig.thor.faults.hold = None
    return sent


async def test_concurrent_identical_lookups_share_one_thor_call(rig: AppRig) -> None:
    for box in rig.thor.fleet.boxes.values():
        box.alias = "Parking " + box.alias
    sent = await held_thor(rig, *(rig.command("parking") for _ in range(20)))
    for _, key in sent:
        assert "chargeboxes match" in (await rig.reply(key))["text"]
    assert rig.thor.log.list_calls == 1


async def test_concurrent_lists_share_their_per_box_calls(rig: AppRig) -> None:
    _, key = await rig.command("subscribe all")
    await rig.reply(key)
    rig.thor.faults.list_live_fields = False
    before = rig.thor.log.box_calls
    sent = await held_thor(rig, *(rig.command("list") for _ in range(10)))
    for _, key in sent:
        assert "Watching" in (await rig.reply(key, count=1))["text"]
    assert rig.thor.log.box_calls - before <= len(rig.thor.fleet.boxes)


async def test_every_command_acks_even_when_redis_is_down(fake_thor: FakeThor, fake_slack: FakeSlack,
                                                          tmp_path: Path) -> None:
    async with start_app_rig(fake_thor, fake_slack, "redis://127.0.0.1:1/0", tmp_path) as dead:
        for text in ["oncall", "oncall <@U0X|x>", "oncall clear", "list", "subscribe all", "mute all 1h",
                     "unmute all", "unsubscribe all"]:
            response, key = await dead.command(text)
            assert response.status_code == 200, (text, response.status_code)
            answer = await dead.reply(key)
            assert "Redis" in answer["text"] and "Traceback" not in answer["text"], (text, answer)


@pytest.mark.parametrize("rig", [{"admins": "S0ADMINS"}], indirect=True)
async def test_the_permission_check_happens_after_the_ack(rig: AppRig) -> None:
    rig.slack.faults.raw_next["usergroups.users.list"] = [(503, "text/plain", "down")]
    response, key = await rig.command("oncall clear", user="U0SOMEONE")
    assert response.status_code == 200 and response.text == ""
    assert "Only thorbot admins" in (await rig.reply(key))["text"]


async def test_an_unsigned_body_is_refused_before_it_is_parsed_and_logged_in_one_short_line(
        rig: AppRig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    forged = "payload=" + "%7Bnot-json" + "A" * 200_000 + "%0AINFO+fake+log+line"
    response = await rig.http.post(rig.url + "/slack/events", content=forged,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401
    assert "fake log line" not in caplog.text and "AAAA" not in caplog.text
    assert len(caplog.text) < 2000
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("raw", ["payload=%7Bnot-json", "payload=%5B1%5D", "payload=null", "payload=%22text%22",
                                 "payload=" + "%5B" * 5000])
async def test_a_signed_but_unreadable_payload_is_a_400_not_a_traceback(rig: AppRig, caplog: pytest.LogCaptureFixture,
                                                                        raw: str) -> None:
    response = await rig.http.post(rig.url + "/slack/events", content=raw, headers=sign(raw))
    assert response.status_code == 400 and "Traceback" not in caplog.text


async def test_requests_from_another_workspace_are_refused(rig: AppRig) -> None:
    form = {"team_id": "T0OTHER", "channel_id": "C0ALERTS", "user_id": "U0MALLORY", "command": "/chargebox",
            "text": "subscribe all", "response_url": rig.slack.response_url(rig.slack.base_url, "other")}
    raw = urlencode(form)
    response = await rig.http.post(rig.url + "/slack/events", content=raw, headers=sign(raw))
    assert response.status_code == 403 and "another Slack workspace" in response.text
    assert await rig.ctx.redis.smembers("{thorbot}:v1:subs:all") == set()


async def test_unquoted_names_work_for_subscribe_unsubscribe_and_mute(rig: AppRig) -> None:
    boxes = list(rig.thor.fleet.boxes.values())
    boxes[0].alias, boxes[1].alias = "Tokyo – Hotel garage #1", "Tokyo – Hotel garage #2"
    boxes[2].alias, boxes[3].alias = "Parking lot A", "Parking lot B"
    _, key = await rig.command("subscribe tokyo hotel garage 1")
    text = str(await rig.reply(key))
    assert "Tokyo – Hotel garage #1" in text and "#2" not in text and "No chargebox" not in text
    _, key = await rig.command('subscribe "parking lot a"')
    text = str(await rig.reply(key))
    assert "Parking lot A" in text and "Parking lot B" not in text
    _, key = await rig.command("mute tokyo hotel garage 1 2h")
    text = (await rig.reply(key))["text"]
    assert text.count("Muted") == 1 and "Tokyo – Hotel garage #1" in text
    _, key = await rig.command("unsubscribe tokyo hotel garage 1")
    text = (await rig.reply(key))["text"]
    assert text.count("Stopped watching") == 1


async def test_a_typo_gets_a_did_you_mean_at_once(rig: AppRig) -> None:
    response, _ = await rig.command("lsit")
    assert "Did you mean `/chargebox list`?" in response.text


async def test_slack_can_verify_the_request_url(rig: AppRig) -> None:
    """Saving the manifest makes Slack send a signed url_verification: serve must echo the challenge."""
    import json

    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "c0ffee"})
    response = await rig.http.post(rig.url + "/slack/events", content=body,
                                   headers={**sign(body), "Content-Type": "application/json"})
    assert response.status_code == 200 and "c0ffee" in response.text


async def test_a_slow_answer_is_announced_first_and_a_quick_one_is_not(rig: AppRig) -> None:
    box = first_box(rig)
    rig.thor.faults.hold = hold = asyncio.Event()  # Thor takes its time
    response, key = await rig.command(box.id)
    assert response.text == ""  # nothing in the acknowledgement: it could reach the user after the answer
    for _ in range(500):
        if rig.slack.responses[key]:
            break
        await asyncio.sleep(0.01)
    assert "Looking up" in rig.slack.responses[key][0]["text"]  # said while Thor was still working
    hold.set()
    card = await rig.reply(key)
    assert rig.slack.responses[key][-1] is card and card["replace_original"] is True and box.id in card["text"]
    _, key = await rig.command(box.id)  # Thor answers at once now: no note, just the card
    await rig.reply(key)
    assert len(rig.slack.responses[key]) == 1
