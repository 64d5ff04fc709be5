"""Every way in declares who may use it, and the dispatcher enforces the declaration (issue 28).

The registry walk: every subcommand and interaction has a permission and a help line; every action id or
callback id thorbot renders is declared; the Bolt app binds nothing else. Then the findings that came
through ways in, each through signed requests into the real app: the Cause… menu (4), pagers (5),
a rotation's user group (8), maintenance told to every channel it holds (10).
"""

from __future__ import annotations

import ast
import json
import logging
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import AppRig
from tests.test_outage_log import WORKER, hourly
from tests.test_pagers import ROUTING_KEY, form
from tests.worker_rig import Clock, alerts, boxes, is_audit, make_worker, subscribe
from thorbot.adapters import keys
from thorbot.adapters.slack import ResponseUrl
from thorbot.domain import alerts as alert_words
from thorbot.domain import card, replies, report_view, session_messages
from thorbot.domain.slash_commands import SlashCommand
from thorbot.runtime import slack_features
from thorbot.serve import commands, registry
from thorbot.serve.app import build_app
from thorbot.serve.dispatch import Audit, Guard, Listeners
from thorbot.serve.registry import COMMANDS, INTERACTIONS, Who

SERVE = Path(__file__).resolve().parents[1] / "thorbot" / "serve"
BOLT_BINDERS = {"action", "view", "event", "command", "shortcut", "options", "function", "message",
                "block_action", "block_suggestion", "view_submission", "view_closed", "global_shortcut",
                "message_shortcut", "attachment_action", "dialog_submission", "dialog_suggestion",
                "dialog_cancellation"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- the registry ----------------------------------------------------------------------------------------------
def test_every_way_in_declares_who_may_use_it_and_a_help_line() -> None:
    for way in [*COMMANDS.values(), *INTERACTIONS.values()]:
        assert isinstance(way.who, Who) and way.help.strip() and way.name.strip(), way
        if way.setup:
            assert way.changes, way
    with pytest.raises(ValueError, match="who may use it"):
        registry.Way("undeclared", "everyone", False, "")  # type: ignore[arg-type]


def test_every_subcommand_is_declared_and_has_exactly_one_handler() -> None:
    parsed_classes = set(typing.get_args(SlashCommand))
    assert set(COMMANDS) == parsed_classes
    answered = set(commands.HANDLERS) | set(commands.ANSWERED_AT_ONCE)
    assert answered == parsed_classes
    assert not set(commands.HANDLERS) & set(commands.ANSWERED_AT_ONCE)


def _rendered_ids() -> set[str]:
    """Every action id and view callback id constant thorbot's renderers put into Slack payloads."""
    found: set[str] = set()
    for module in (alert_words, card, replies, report_view, session_messages, registry):
        for name, value in vars(module).items():
            if (name.startswith("ACTION_") or name.endswith("_CALLBACK")) and isinstance(value, str):
                found.add(value)
    return found


def test_every_rendered_action_is_declared() -> None:
    missing = _rendered_ids() - set(INTERACTIONS)
    assert not missing, f"buttons, menus or forms thorbot renders without a declaration: {missing}"


def test_serve_binds_listeners_only_through_the_dispatcher() -> None:
    """A `@app.action(...)` anywhere in serve/ but dispatch.py is a way in that skips the registry."""
    offenders = []
    for path in sorted(SERVE.glob("*.py")):
        if path.name == "dispatch.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in BOLT_BINDERS and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "app"):
                is_slash = (node.func.attr == "command" and node.args and isinstance(node.args[0], ast.Constant)
                            and node.args[0].value == "/chargebox")
                if not is_slash:
                    offenders.append(f"{path.name}:{node.lineno} app.{node.func.attr}")
    assert not offenders


async def test_the_built_app_handles_only_declared_ways(rig: AppRig) -> None:
    poster = ResponseUrl()
    try:
        app = build_app(slack_features(rig.ctx, poster), poster, "secret")
    finally:
        await poster.aclose()
    listeners = app._async_listeners  # Bolt's own list: every listener bound, whatever bound it
    # One /chargebox command and one listener per declared interaction (refresh and pick share one pattern).
    assert len(listeners) == 1 + len(INTERACTIONS) - 1


def test_an_undeclared_interaction_cannot_be_bound(rig: AppRig) -> None:
    from slack_bolt.async_app import AsyncApp

    app = AsyncApp(client=rig.ctx.slack.client, signing_secret="x", request_verification_enabled=False)
    on = Listeners(app, Guard(rig.ctx.settings, rig.ctx.stores.oncall, rig.ctx.slack),
                   Audit(rig.ctx.slack, rig.ctx.clock))

    async def handler(*args: Any) -> None:
        return None

    with pytest.raises(KeyError):
        on.action("a_new_button_nobody_declared", handler)
    with pytest.raises(KeyError):
        on.view("a_new_form", handler)


# --- 4: the Cause… menu asks what /chargebox cause asks -----------------------------------------------------------
@pytest.mark.parametrize("rig", [{"admins": "U0ADMIN"}], indirect=True)
async def test_the_cause_menu_is_refused_to_whom_the_command_refuses(rig: AppRig, clock: Clock) -> None:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    rig.use_clock(clock)
    _, key = await rig.command("subscribe all", user="U0ADMIN")
    await rig.reply(key)
    worker = make_worker(rig, clock, **WORKER)
    box = next(iter(fleet.boxes.values()))
    await hourly(rig, worker, clock, box, (True, False, True, True))
    [alert] = alerts(rig)
    _, key = await rig.command(f"cause {box.id}", user="U0RANDOM")
    assert "Only thorbot admins" in json.dumps(await rig.reply(key))
    _, key = await rig.action(alert_words.ACTION_CAUSE, "", message={"ts": alert.ts, "text": "x"},
                              selected="utility_power", user="U0RANDOM")
    assert "Only thorbot admins" in json.dumps(await rig.reply(key))
    assert await rig.ctx.redis.hlen(keys.causes(box.id)) == 0  # the outage still counts
    _, key = await rig.action(alert_words.ACTION_CAUSE, "", message={"ts": alert.ts, "text": "x"},
                              selected="utility_power", user="U0ADMIN")
    assert "Recorded for this outage" in json.dumps(await rig.reply(key))
    assert await rig.ctx.redis.hlen(keys.causes(box.id)) == 1
    [line] = [m for m in rig.slack.messages if is_audit(m)]  # the change, said in the alert's thread
    assert line.thread_ts == alert.ts and "<@U0ADMIN> set the cause" in line.text


# --- 5: pagers change only by a named admin, and never silently ----------------------------------------------------
async def test_with_no_admins_named_nobody_connects_replaces_or_removes_a_pager(rig: AppRig) -> None:
    response = await rig.submit(form("pagerduty", ROUTING_KEY))
    assert "THORBOT_ADMINS" in json.dumps(response.json())
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0
    _, key = await rig.command("pager")
    shown = json.dumps(await rig.reply(key))
    assert "No pager is connected" in shown and "THORBOT_ADMINS" in shown
    assert not rig.slack.modals  # no form to fill in
    _, key = await rig.command("pager off")
    assert "THORBOT_ADMINS" in json.dumps(await rig.reply(key))
    # Read-only ways and ordinary settings stay open while no admin is named.
    assert "Only thorbot admins" not in json.dumps(await choose_nothing(rig))


async def choose_nothing(rig: AppRig) -> dict[str, Any]:
    _, key = await rig.command("oncall")
    return await rig.reply(key)


@pytest.mark.parametrize("rig", [{"admins": "U0ALICE"}], indirect=True)
async def test_connecting_and_removing_a_pager_is_said_in_the_channel_and_logged(
        rig: AppRig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="thorbot.audit")
    response = await rig.submit(form("pagerduty", ROUTING_KEY))
    assert response.status_code == 200 and not response.content
    _, key = await rig.command("pager off")
    assert "disconnected" in json.dumps(await rig.reply(key))
    said = [m.text for m in rig.slack.posts("C0ALERTS") if is_audit(m)]
    assert len(said) == 2 and "<@U0ALICE> connected a PagerDuty service" in said[0]
    assert "<@U0ALICE> disconnected a PagerDuty service" in said[1]
    logged = [r.getMessage() for r in caplog.records if r.name == "thorbot.audit"]
    assert any("pager off by U0ALICE in C0ALERTS" in line for line in logged), logged
    assert ROUTING_KEY not in caplog.text and ROUTING_KEY not in json.dumps([m.text for m in rig.slack.messages])


# --- 8: a rotation cannot rewrite a group that grants rights ------------------------------------------------------
async def test_a_rotation_with_a_user_group_needs_a_named_admin(rig: AppRig) -> None:
    _, key = await rig.command("rotation <@U0ANA> <@U0BEN> daily 09:00 UTC group <!subteam^S0ONCALL|@oncall>")
    assert "THORBOT_ADMINS" in json.dumps(await rig.reply(key))
    assert await rig.ctx.stores.pagers.rotation("C0ALERTS") is None
    _, key = await rig.command("rotation <@U0ANA> <@U0BEN> daily 09:00 UTC")  # no group: open, and said
    assert "<@U0ANA>" in json.dumps(await rig.reply(key))
    [line] = [m for m in rig.slack.posts("C0ALERTS") if is_audit(m)]
    assert "set this channel's on-call rotation" in line.text


@pytest.mark.parametrize("rig", [{"admins": "U0ALICE", "operators": "S0STOPPERS"}], indirect=True)
async def test_a_rotation_may_not_rewrite_a_group_named_in_operators(rig: AppRig) -> None:
    _, key = await rig.command("rotation <@U0ANA> <@U0BEN> daily 09:00 UTC group <!subteam^S0STOPPERS|@stoppers>")
    assert "THORBOT_OPERATORS" in json.dumps(await rig.reply(key))
    assert await rig.ctx.stores.pagers.rotation("C0ALERTS") is None
    assert rig.slack.count("usergroups.users.update") == 0


# --- 10: maintenance holds every watching channel's alerts, so every one is told ----------------------------------
async def test_maintenance_set_in_one_channel_is_said_in_every_channel_it_holds(rig: AppRig) -> None:
    box = boxes(rig)[0]
    await subscribe(rig, box.id, channel="C0ALERTS")
    await subscribe(rig, box.id, channel="C0OTHER")
    await subscribe(rig, "all", channel="C0FLEET")
    _, key = await rig.command(f"maintenance {box.id} now 2h cabinet <!channel>", channel="C0ALERTS")
    assert "Maintenance" in json.dumps(await rig.reply(key))
    for channel in ("C0ALERTS", "C0OTHER", "C0FLEET"):
        [line] = [m for m in rig.slack.posts(channel) if is_audit(m)]
        assert "scheduled maintenance" in line.text and box.id in line.text, channel
        assert "<!channel>" not in line.text  # the note is quoted, never a mention
    window = next(iter((await rig.ctx.stores.history.windows(rig.ctx.clock())).values()))[0]
    _, key = await rig.command(f"maintenance cancel {window.id}", channel="C0OTHER")
    await rig.reply(key)
    assert len([m for m in rig.slack.posts("C0ALERTS") if is_audit(m)]) == 2


def test_the_readme_says_who_may_use_each_way_in() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "permissions.md").read_text()
    assert registry.permissions_table() in page, "docs/permissions.md's table differs from serve/registry.py"


async def test_a_cause_set_anywhere_is_said_in_every_channel_watching_the_box_with_its_note_quoted(
        rig: AppRig, clock: Clock) -> None:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    rig.use_clock(clock)
    await subscribe(rig, "all", channel="C0FLEET")
    worker = make_worker(rig, clock, **WORKER)
    box = next(iter(fleet.boxes.values()))
    began = clock.now + timedelta(hours=1)
    await hourly(rig, worker, clock, box, (True, False, True, True))
    _, key = await rig.command(f"cause {box.id} {began:%Y-%m-%d %H:%M} other *URGENT* https://evil.example/x",
                               channel="C0ELSEWHERE")
    assert "Recorded" in json.dumps(await rig.reply(key))
    [line] = [m for m in rig.slack.posts("C0FLEET") if is_audit(m)]
    assert "set the cause" in line.text and "`*URGENT* https://evil.example/x`" in line.text
