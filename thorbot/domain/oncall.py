"""On-call targets and snooze times. Pure. (When to escalate is a notification rule: notify.py.)"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from thorbot.domain.text import code, load_zone

_USER = re.compile(r"^<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_GROUP = re.compile(r"^<!subteam\^(S[A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_RAW_ID = re.compile(r"^([UWS][A-Z0-9]{6,30})$")
# `@ana` typed (or pasted) as plain text: Slack sends it unchanged unless the person was picked from its autocomplete.
_PLAIN_AT = re.compile(r"^@[^\s<>@]{1,80}$")

ALL = "*"  # a hold (mute or snooze) of every box watched in the channel
HoldKind = Literal["mute", "snooze", "maintenance"]  # maintenance: the box's own window, in every channel
SnoozeChoice = Literal["1h", "4h", "tomorrow"]
SNOOZE_LABELS: dict[str, str] = {"1h": "1 hour", "4h": "4 hours", "tomorrow": "until tomorrow 9:00"}


class Hold(BaseModel):
    """Alerts for a box (or `*`, every box) in one channel are held until `until`."""

    kind: HoldKind
    box_id: str
    until: datetime
    by: str | None = None


class OnCall(BaseModel):
    """Who an alert pings in a channel: one user (<@U…>) or one user group (<!subteam^S…>)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["user", "group"]
    id: str

    @property
    def mention(self) -> str:
        return f"<@{self.id}>" if self.kind == "user" else f"<!subteam^{self.id}>"


class Ack(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: str                # a Slack user id ("" when acknowledged in the pager)
    at: datetime
    via: str | None = None   # "PagerDuty": acknowledged (or resolved) there
    name: str | None = None  # who, as the pager names them
    resolved: bool = False   # resolved in the pager (the box itself may still be down)

    @property
    def who(self) -> str:
        """ "<@U…>", or "Ana Ruiz in PagerDuty" (the pager's name for them, escaped by the caller)."""
        if self.via is None:
            return f"<@{self.user}>"
        return f"{self.name or 'someone'} in {self.via}"


def parse_oncall(text: str) -> OnCall | None:
    """Parse what Slack sends for `@person` / `@group` with should_escape (or a bare id)."""
    text = text.strip()
    for pattern, kind in ((_USER, "user"), (_GROUP, "group")):
        match = pattern.match(text)
        if match:
            return OnCall(kind="user" if kind == "user" else "group", id=match.group(1))
    match = _RAW_ID.match(text)
    if match:
        return OnCall(kind="group" if text.startswith("S") else "user", id=match.group(1))
    return None


def not_a_mention(text: str) -> str | None:
    """Why `@name` typed as plain text names no one (Slack turns only an autocompleted pick into `<@U…>`); None for
    anything else."""
    text = text.strip()
    if _PLAIN_AT.match(text) is None:
        return None
    return f"{code(text, 40)} is not a Slack mention; pick the person in Slack's autocomplete so it becomes a mention"


def snooze_until(choice: str, now: datetime, timezone: str | None) -> datetime | None:
    """When a snooze ends; "tomorrow" means 9:00 the next day in the box's own time zone."""
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "4h":
        return now + timedelta(hours=4)
    if choice != "tomorrow":
        return None
    zone = load_zone(timezone)
    local = now.astimezone(zone) if zone else now
    target = datetime.combine(local.date() + timedelta(days=1), time(9, 0), tzinfo=local.tzinfo)
    return target
