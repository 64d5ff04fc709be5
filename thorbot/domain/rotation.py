"""On-call rotations: who is on call at a moment, the next handoffs, overrides. Pure: a rotation and a clock in.

A rotation hands the pager from one member to the next at a fixed local time, every day or every week
on a weekday, in its own time zone (a handoff at 09:00 stays at 09:00 across daylight-saving changes).
The member on call when the rotation is set is the first one named, from the latest handoff before
then. An override puts someone else on call until a moment; when it ends, the schedule's member is
back. Each change of who is on call (a handoff, or an override ending) is announced once in the channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from thorbot.domain.blocks import message, section
from thorbot.domain.oncall import not_a_mention, parse_oncall
from thorbot.domain.text import code, load_zone, slack_date
from thorbot.domain.when import SLACK, Bounds, read_clock, read_duration, read_moment, refuse_foreign_digits
from thorbot.errors import UsageError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_MEMBERS = 20
MAX_OVERRIDE = timedelta(days=31)
_DURATION = re.compile(r"^[0-9]+[hd]$", re.ASCII)  # an override's length: whole hours or days
Cadence = Literal["daily", "weekly"]


class Override(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: str
    since: datetime
    until: datetime
    by: str | None = None


class Rotation(BaseModel):
    model_config = ConfigDict(frozen=True)

    members: tuple[str, ...]     # Slack user ids, in order
    cadence: Cadence
    weekday: int = 0             # weekly: 0 = Monday
    at: time                     # local handoff time
    zone: str                    # IANA zone
    anchor: date                 # the local date of the handoff the first member took over at
    overrides: tuple[Override, ...] = ()
    group: str | None = None     # a Slack user group (S…) kept equal to whoever is on call

    @property
    def tz(self) -> ZoneInfo:
        return load_zone(self.zone) or ZoneInfo("UTC")

    @property
    def step(self) -> int:
        return 1 if self.cadence == "daily" else 7

    def handoff_on(self, day: date) -> datetime:
        """The handoff on a local date, as an aware datetime (in the rotation's zone)."""
        return datetime.combine(day, self.at, tzinfo=self.tz)

    def _slot(self, t: datetime) -> date:
        """The local date of the latest scheduled handoff at or before `t`."""
        local = t.astimezone(self.tz)
        day = local.date()
        if self.cadence == "weekly":
            day -= timedelta(days=(day.weekday() - self.weekday) % 7)
        if self.handoff_on(day) > t:
            day -= timedelta(days=self.step)
        return day

    def scheduled(self, t: datetime) -> str:
        """Who the schedule puts on call at `t` (overrides aside)."""
        turns = (self._slot(t) - self.anchor).days // self.step
        return self.members[turns % len(self.members)]

    def override_at(self, t: datetime) -> Override | None:
        return next((o for o in reversed(self.overrides) if o.since <= t < o.until), None)

    def on_call(self, t: datetime) -> str:
        override = self.override_at(t)
        return override.user if override is not None else self.scheduled(t)

    def next_handoffs(self, t: datetime, count: int = 4) -> list[tuple[datetime, str]]:
        """The next `count` scheduled handoffs after `t`: when, and who takes over."""
        day = self._slot(t)
        out = []
        for _ in range(count):
            day += timedelta(days=self.step)
            at = self.handoff_on(day)
            out.append((at, self.scheduled(at)))
        return out

    def until(self, t: datetime) -> datetime:
        """When whoever is on call at `t` hands over (their override's end, or the next handoff)."""
        override = self.override_at(t)
        nxt = self.next_handoffs(t, 1)[0][0]
        if override is not None:
            return override.until
        return nxt

    def last_change(self, t: datetime) -> datetime:
        """The latest moment at or before `t` when who is on call may have changed (a handoff or an override's
        start or end): announced once."""
        moments = [self.handoff_on(self._slot(t))]
        moments += [m for o in self.overrides for m in (o.since, o.until) if m <= t]
        return max(moments)

    def without_expired(self, t: datetime) -> Rotation:
        return self.model_copy(update={"overrides": tuple(o for o in self.overrides if o.until > t)})


@dataclass(frozen=True)
class RotationRequest:
    members: tuple[str, ...]
    cadence: Cadence
    weekday: int
    at: time
    zone: str | None
    group: str | None = None


def _handoff(word: str) -> time | str:
    """The handoff's time of day, or why it is not one."""
    try:
        at = read_clock(word)
    except UsageError as exc:
        return f"{exc}: give the handoff time as HH:MM (24 h), e.g. `09:00`"
    return "give the handoff time as HH:MM (24 h), e.g. `09:00`" if at is None else at


def _members(rest: list[str]) -> list[str] | str:
    """The people named first (taken off `rest`), or why they cannot be read: `@ana` typed as plain text is no
    mention (Slack sends `<@U…>` only for a person picked in its autocomplete)."""
    members: list[str] = []
    while rest:
        if (plain := not_a_mention(rest[0])) is not None:
            return plain
        if (target := parse_oncall(rest[0])) is None:
            break
        if target.kind != "user":
            return "a rotation is of people (`@name`); a user group can be on call with `/chargebox oncall @group`"
        if target.id not in members:
            members.append(target.id)
        rest.pop(0)
    if not members and rest and rest[0].lower() not in ("daily", "weekly"):
        return (f"{code(rest[0], 40)} is not a Slack mention; name each person with `@`, picked in Slack's "
                "autocomplete: `/chargebox rotation @a @b weekly mon 09:00`")
    if not members:
        return "name the people in the rotation first: `/chargebox rotation @a @b weekly mon 09:00`"
    return members


def parse_rotation(words: list[str]) -> RotationRequest | str:
    """`@a @b @c weekly mon 09:00 [zone] [group @g]` or `@a @b daily 09:00 [zone] [group @g]`; a reason when it
    cannot be read. `group`: a Slack user group whose members thorbot keeps equal to whoever is on call."""
    rest = list(words)
    members = _members(rest)
    if isinstance(members, str):
        return members
    if len(members) > MAX_MEMBERS:
        return f"a rotation has at most {MAX_MEMBERS} people"
    if not rest or rest[0].lower() not in ("daily", "weekly"):
        return "say how often the pager changes hands: `daily 09:00` or `weekly mon 09:00`"
    cadence: Cadence = "daily" if rest.pop(0).lower() == "daily" else "weekly"
    weekday = 0
    if cadence == "weekly":
        if not rest or rest[0].lower()[:3] not in WEEKDAYS:
            return "a weekly rotation needs a weekday: `weekly mon 09:00`"
        weekday = WEEKDAYS.index(rest.pop(0).lower()[:3])
    at = _handoff(rest[0] if rest else "")
    if isinstance(at, str):
        return at
    rest.pop(0)
    zone = rest.pop(0) if rest and rest[0].lower() != "group" else None
    group = None
    if rest and rest[0].lower() == "group":
        rest.pop(0)
        if rest and (plain := not_a_mention(rest[0])) is not None:
            return plain.replace("the person", "the user group")
        target = parse_oncall(rest.pop(0)) if rest else None
        if target is None or target.kind != "group":
            return "after `group`, name the Slack user group to keep on call: `group @oncall`"
        group = target.id
    if rest:
        return f"`{rest[0][:40]}` is not part of a rotation; the form is `@a @b weekly mon 09:00 [zone] [group @g]`"
    return RotationRequest(tuple(members), cadence, weekday, at, zone, group)


def new_rotation(request: RotationRequest, zone: str, now: datetime) -> Rotation:
    """The rotation as set at `now`: its first member is on call from the latest handoff before now."""
    draft = Rotation(members=request.members, cadence=request.cadence, weekday=request.weekday, at=request.at,
                     zone=zone, anchor=now.date(), group=request.group)
    return draft.model_copy(update={"anchor": draft._slot(now)})


OVERRIDE_BOUNDS = Bounds(back=SLACK, ahead=MAX_OVERRIDE, too_early="that moment has passed already",
                         too_late="an override lasts at most 31 days; change the rotation for longer")


def parse_until(words: list[str], zone: ZoneInfo, now: datetime) -> datetime | str:
    """`4h`, `2d`, `tomorrow [HH:MM]`, `fri [HH:MM]`, `YYYY-MM-DD [HH:MM]` in the rotation's zone (09:00 unless
    a time is given); a reason when it cannot be read, is past, or is more than 31 days away. Read by
    domain/when.py: a local time the clocks skip is refused with the reason."""
    if not words:
        return "say until when: `4h`, `2d`, `tomorrow 09:00`, `fri 18:00` or `2026-12-24 09:00`"
    first = words[0].lower()
    try:
        if len(words) > 1 and (read_clock(words[1]) is None or len(words) > 2):
            return "give the time as HH:MM (24 h), e.g. `tomorrow 09:00`"
        refuse_foreign_digits(" ".join(words))
        if len(words) == 1 and _DURATION.match(first) is not None:
            try:
                length = read_duration(first, least=timedelta(0), most=MAX_OVERRIDE)
            except UsageError:
                return "an override lasts at most 31 days; change the rotation for longer"
            assert length is not None  # _DURATION's shape is a duration's
            until = now + length
        elif (found := read_moment(words, zone, now, OVERRIDE_BOUNDS, default_clock=time(9, 0))) is not None:
            until = found[0]
        else:
            return f"`{first[:30]}` is not a time thorbot can read: try `4h`, `tomorrow 09:00` or `fri 18:00`"
    except UsageError as exc:
        reason = str(exc)
        return reason if reason.startswith(("that moment", "an override")) else f"{reason}; try `4h` or `fri 18:00`"
    if until <= now:
        return "that moment has passed already"
    if until - now > MAX_OVERRIDE:
        return "an override lasts at most 31 days; change the rotation for longer"
    return until


def render_handoff(user: str, until: datetime) -> dict[str, object]:
    """The one line a channel gets when the pager changes hands."""
    text = f":pager: <@{user}> is on call until {slack_date(until, '{date_short_pretty} {time}')}."
    return message(f"<@{user}> is on call until {until:%a %H:%M %Z}".strip(), [section(text)])


def render_rotation(rotation: Rotation, now: datetime) -> dict[str, object]:
    """`/chargebox rotation`: who is on call now, until when, the next four handoffs, the overrides."""
    who = rotation.on_call(now)
    order = " → ".join(f"<@{m}>" for m in rotation.members)
    when = (f"daily at {rotation.at:%H:%M}" if rotation.cadence == "daily" else
            f"every {WEEKDAY_NAMES[rotation.weekday]} at {rotation.at:%H:%M}")
    lines = [f":pager: On call now: <@{who}>, until {slack_date(rotation.until(now))}.",
             f"Rotation: {order}, handing over {when} ({rotation.zone}).",
             "Next handoffs: " + "; ".join(f"{slack_date(at)} → <@{user}>" for at, user in rotation.next_handoffs(now))]
    if rotation.group:
        lines.append(f"<!subteam^{rotation.group}> is kept to whoever is on call.")
    live = [o for o in rotation.overrides if o.until > now]
    if live:
        lines.append("Overrides: " + "; ".join(f"<@{o.user}> from {slack_date(o.since)} until {slack_date(o.until)}"
                                               for o in live))
    lines.append("Change it with `/chargebox rotation @a @b weekly mon 09:00 [zone] [group @g]`, cover a shift with "
                 "`/chargebox rotation override @b until fri 18:00`, stop it with `/chargebox rotation off`.")
    text = "\n".join(lines)
    return message(f"On call now: {who}", [section(text)], response_type="ephemeral")


WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
