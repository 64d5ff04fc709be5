"""Every way into thorbot from Slack, declared once: who may use it, whether it changes settings, its help line.

A way in is a `/chargebox` subcommand (keyed by its parsed command class) or an interaction (keyed by the
action id, view callback id or event type Slack sends). `serve/app.py` binds listeners only through
`serve/dispatch.py`, which looks the way up here (a listener without a declaration cannot be bound: the look-up
raises at start) and enforces it: the permission before the handler runs, the audit after it.

- `who`: `everyone`; `operator` (THORBOT_OPERATORS and THORBOT_ADMINS; nobody while both are empty); `admin`
  (THORBOT_ADMINS; while it is empty, everyone, so a new workspace can subscribe and mute without setup, except
  for the ways marked `needs_admins`: connecting, replacing or removing a pager, and a rotation that rewrites a
  Slack user group are refused until an admin is named, since they send alerts elsewhere or change who is on call
  for Slack itself).
- `changes`: the way changes settings or state people rely on; every use is audited in the log (who, when, what).
- `setup`: it concerns a channel's setup (pager, rotation, maintenance, cause); a change also leaves one line in
  the channel(s) it concerns, so nobody's setup changes behind their back.

`tests/test_registry.py` walks this table: every entry has a permission and a help line, every action id or
callback id thorbot renders is declared, and the Bolt app handles nothing that is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from thorbot.domain.alerts import (
    ACTION_ACK,
    ACTION_ALERT_REFRESH,
    ACTION_CAUSE,
    ACTION_CONFIRM,
    ACTION_RESOLVE,
    ACTION_SNOOZE,
)
from thorbot.domain.card import ACTION_REFRESH, ACTION_SHARE
from thorbot.domain.replies import ACTION_PICK
from thorbot.domain.report_view import ACTION_REPORT_CSV, ACTION_REPORT_EVCHART
from thorbot.domain.session_messages import ACTION_STOP, STOP_CALLBACK
from thorbot.domain.slash_commands import (
    ClearOnCall,
    ConnectPager,
    Help,
    ListSubscriptions,
    Maintenance,
    Mute,
    OverrideRotation,
    PagerOff,
    RotationOff,
    SetCause,
    SetDigest,
    SetGroupRotation,
    SetHours,
    SetOnCall,
    SetRotation,
    ShowCard,
    ShowHours,
    ShowOnCall,
    ShowReport,
    ShowRotation,
    SlashCommand,
    Stickers,
    Subscribe,
    Unmute,
    Unsubscribe,
)

Payload = dict[str, Any]
PAGER_CALLBACK = "pager_connect"
APP_HOME_OPENED = "app_home_opened"


class Who(StrEnum):
    EVERYONE = "everyone"
    OPERATOR = "operator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Way:
    name: str
    who: Who
    changes: bool
    help: str
    setup: bool = False
    needs_admins: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.who, Who) or not self.help.strip() or not self.name.strip():
            raise ValueError(f"way in {self.name!r} must declare who may use it and a help line")
        if self.setup and not self.changes:
            raise ValueError(f"way in {self.name!r}: a setup change is a change")
        if self.needs_admins and self.who is not Who.ADMIN:
            raise ValueError(f"way in {self.name!r}: needs_admins is for admin ways")


@dataclass(frozen=True)
class Changed:
    """What a handler of a changing way returns when it did change something: the reply, and the change in words
    (plain Slack text, already escaped) for the audit. `tell` names further channels the change concerns (a box's
    maintenance holds alerts in every channel that watches it)."""

    payload: Payload
    what: str
    tell: tuple[str, ...] = field(default=())


_E, _O, _A = Who.EVERYONE, Who.OPERATOR, Who.ADMIN

COMMANDS: Mapping[type[Any], Way] = {
    Help: Way("help", _E, False, "usage with examples"),
    ShowCard: Way("card", _E, False, "a chargebox's status card"),
    ListSubscriptions: Way("list", _E, False, "this channel's boxes with live status"),
    ShowOnCall: Way("oncall (show)", _E, False, "who alerts here mention"),
    ShowReport: Way("report", _E, False, "reliability report"),
    ShowRotation: Way("rotation (show)", _E, False, "who is on call and the next handoffs"),
    ConnectPager: Way("pager (show; an admin also gets the form)", _E, False, "this channel's pager"),
    ShowHours: Way("hours (show)", _E, False, "boxes' posted hours of operation"),
    Subscribe: Way("subscribe", _A, True, "alert this channel about boxes"),
    Unsubscribe: Way("unsubscribe", _A, True, "stop alerting this channel about boxes"),
    SetOnCall: Way("oncall", _A, True, "who alerts here mention"),
    ClearOnCall: Way("oncall clear", _A, True, "alerts here mention no one"),
    Mute: Way("mute", _A, True, "this channel is not told for a while"),
    Unmute: Way("unmute", _A, True, "end a mute"),
    SetDigest: Way("digest", _A, True, "a scheduled digest in this channel"),
    SetHours: Way("hours", _A, True, "a box's hours of operation (changes uptime)"),
    SetRotation: Way("rotation", _A, True, "hand the on-call role over on a schedule", setup=True),
    SetGroupRotation: Way("rotation … group @g", _A, True, "a rotation that keeps a Slack user group to whoever "
                          "is on call", setup=True, needs_admins=True),
    OverrideRotation: Way("rotation override", _A, True, "cover a shift", setup=True),
    RotationOff: Way("rotation off", _A, True, "stop the rotation", setup=True),
    PagerOff: Way("pager off", _A, True, "disconnect this channel's pager", setup=True, needs_admins=True),
    Maintenance: Way("maintenance", _A, True, "schedule or cancel a box's maintenance (holds alerts everywhere)",
                     setup=True),
    SetCause: Way("cause", _A, True, "the cause of a past outage (decides whether it counts against uptime)",
                  setup=True),
    Stickers: Way("stickers", _A, False, "a PDF of a box's QR stickers for drivers' reports, uploaded here"),
}

# Slack interactions: action ids (buttons, menus), view callback ids (forms) and event types.
INTERACTIONS: Mapping[str, Way] = {
    ACTION_SHARE: Way("card: Post in channel", _E, False, "share a status card in the channel"),
    ACTION_REFRESH: Way("card: Refresh", _E, False, "refresh a status card"),
    ACTION_PICK: Way("card: pick a box", _E, False, "pick one of several boxes matching a name"),
    ACTION_ACK: Way("alert: Acknowledge", _E, True, "acknowledge an alert (the on-call person, whoever they are)"),
    ACTION_SNOOZE: Way("alert: Snooze…", _E, True, "hold an alert's box here for a while (up to a day)"),
    ACTION_ALERT_REFRESH: Way("alert: Refresh", _E, False, "the live card in the alert's thread"),
    ACTION_CAUSE: Way("alert: Cause…", _A, True, "the cause of a resolved outage (as `/chargebox cause`)",
                      setup=True),
    ACTION_CONFIRM: Way("alert: Confirm (a driver's report)", _A, True, "a driver's report is real: it counts as "
                        "that port's outage from its first report", setup=True),
    ACTION_RESOLVE: Way("alert: Resolve… (a driver's report)", _A, True, "a driver's report is fixed, with its "
                        "cause", setup=True),
    ACTION_STOP: Way("Stop charge…", _O, False, "open the stop confirmation"),
    STOP_CALLBACK: Way("Stop charge: confirm", _O, True, "ask Thor to stop a driver's charge (audited in Slack)"),
    ACTION_REPORT_CSV: Way("report: Download CSV", _E, False, "the report as a file in the channel"),
    ACTION_REPORT_EVCHART: Way("report: Download EV-ChART CSV", _E, False, "the quarter's EV-ChART files"),
    PAGER_CALLBACK: Way("pager form: Connect", _A, True, "connect or replace this channel's pager", setup=True,
                        needs_admins=True),
    APP_HOME_OPENED: Way("App Home", _E, False, "the Home tab"),
    # Workflow Builder steps: who may run a workflow is the workflow's own setting in Slack.
    "function:report_charger_problem": Way("workflow step: Report a charger problem", _E, True,
                                           "a support agent relays a driver's report (opens the same incident)"),
    "function:get_chargebox_status": Way("workflow step: Get chargebox status", _E, False,
                                         "a box's state and its connectors free / occupied / out of order"),
}


def command_way(command: SlashCommand) -> Way:
    """The declaration of a parsed command (exact class: a subclass is a different way in)."""
    return COMMANDS[type(command)]


def interaction_way(key: str) -> Way:
    return INTERACTIONS[key]


def permissions_table() -> str:
    """The "who may use what" table of docs/permissions.md, from the declarations (tests/test_registry.py: equal)."""
    def who(way: Way) -> str:
        if way.who is Who.EVERYONE:
            return "everyone"
        if way.who is Who.OPERATOR:
            return "operators and admins (nobody while both are unset)"
        return "admins (nobody while `THORBOT_ADMINS` is unset)" if way.needs_admins else \
            "admins (everyone while `THORBOT_ADMINS` is unset)"

    rows = ["| way in | who may use it | audited |", "|---|---|---|"]
    for way in [*COMMANDS.values(), *INTERACTIONS.values()]:
        audited = "log + channel line" if way.setup else "log" if way.changes else "—"
        rows.append(f"| {way.name.replace('|', '/')} — {way.help} | {who(way)} | {audited} |")
    return "\n".join(rows)
