"""Scheduled digests: when each channel's digest is due, exactly once per period. Pure.

A plan says "daily at 09:00" or "weekly on Monday at 09:00", in the channel's time zone. Each
period has a key (the local date it is due on); the worker posts the digest for the latest period
that is due and not yet posted, and records that key in the same lease-fenced commit that queues
the post, so a period is posted once across restarts and failovers. A period missed while no worker
ran is posted once when one is back, marked late; older missed periods are not piled up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from thorbot.domain.text import BAD_ZONE, canonical_zone, code
from thorbot.domain.uptime import Period, daily_period
from thorbot.domain.when import read_clock
from thorbot.errors import UsageError

Cadence = Literal["daily", "weekly"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
LATE_AFTER = timedelta(minutes=15)  # later than this after its time, a digest says it is late


class DigestPlan(BaseModel):
    cadence: Cadence
    at: str                 # "HH:MM", local
    weekday: int = 0        # weekly: 0 = Monday
    zone: str = "UTC"
    last_period: str | None = None  # the key of the last period posted (or skipped when set up)
    by: str | None = None

    def describe(self) -> str:
        when = f"every {WEEKDAYS[self.weekday].capitalize()}" if self.cadence == "weekly" else "every day"
        return f"{when} at {self.at} ({self.zone})"


@dataclass(frozen=True)
class Due:
    period: str          # the local date the digest is due on, ISO
    due_at: datetime     # aware
    covers_from: datetime
    covers_to: datetime  # the day (or week) it reports on: the one before `due_at`'s local date

    def late_by(self, now: datetime) -> timedelta | None:
        return lateness(self.due_at, now)


def lateness(due_at: datetime, queued_at: datetime) -> timedelta | None:
    """How late a digest queued at `queued_at` is, when that is more than LATE_AFTER (it says so)."""
    late = queued_at - due_at
    return late if late > LATE_AFTER else None


def parse_time(text: str) -> str | None:
    """`09:00`, `9`, `0930`, `9.30`, `9h30` as "HH:MM"; None when not a time (domain/when.py reads it)."""
    try:
        at = read_clock(text, loose=True)
    except UsageError:
        return None
    return None if at is None else f"{at:%H:%M}"


def parse_plan(words: list[str], default_zone: str) -> DigestPlan | None:
    """`daily 09:00 [zone]`, `weekly mon 09:00 [zone]`; None for `off`. Raises UsageError otherwise."""
    usage = ("Say when: `/chargebox digest daily 09:00`, `/chargebox digest weekly mon 09:00` (a time zone may "
             "follow, e.g. `Europe/Rome`), or `/chargebox digest off`.")
    if not words:
        raise UsageError(usage)
    head = words[0].lower()
    if head in ("off", "stop", "none"):
        return None
    rest = words[1:]
    weekday = 0
    if head == "weekly":
        if not rest or rest[0][:3].lower() not in WEEKDAYS:
            raise UsageError("Which day? e.g. `/chargebox digest weekly mon 09:00`.")
        weekday = WEEKDAYS.index(rest[0][:3].lower())
        rest = rest[1:]
    elif head != "daily":
        raise UsageError(usage)
    at = parse_time(rest[0]) if rest else "09:00"
    if at is None:
        raise UsageError(f"{rest[0]!r} is not a time of day; use 24-hour `HH:MM`, e.g. `09:00`.")
    if len(rest) > 2:
        raise UsageError(usage)
    zone = canonical_zone(rest[1] if len(rest) > 1 else default_zone)
    if zone is None:
        raise UsageError(BAD_ZONE.format(zone=code(rest[1] if len(rest) > 1 else default_zone, 40)))
    return DigestPlan(cadence="weekly" if head == "weekly" else "daily", at=at, weekday=weekday, zone=zone)


def _at(day: date, at: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(x) for x in at.split(":"))
    # A time that does not exist on a DST day (02:30 in spring) is read by zoneinfo as the hour after.
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def latest_due(plan: DigestPlan, now: datetime) -> Due:
    """The most recent due time at or before `now`, and the period it reports on."""
    zone = ZoneInfo(plan.zone)
    local_today = now.astimezone(zone).date()
    day = local_today
    for _ in range(8):
        if plan.cadence == "daily" or day.weekday() == plan.weekday:
            due_at = _at(day, plan.at, zone)
            if due_at <= now:
                break
        day -= timedelta(days=1)
    else:  # pragma: no cover - a week always holds a due day
        raise AssertionError("no due day in a week")
    span = timedelta(days=1 if plan.cadence == "daily" else 7)
    covers_to = datetime.combine(day, time(0), tzinfo=zone)
    covers_from = datetime.combine(day - span, time(0), tzinfo=zone)
    return Due(day.isoformat(), due_at, covers_from, covers_to)


def digest_period(plan: DigestPlan, due: Due) -> Period:
    """What a digest reports on: the local day (or seven days) before the day it is due."""
    last = due.covers_to.date() - timedelta(days=1)
    first = due.covers_from.date()
    label = f"yesterday ({last:%a %b %d})" if plan.cadence == "daily" else f"last week ({first:%b %d} – {last:%b %d})"
    return daily_period(label, first, last, plan.zone)


def first_period(plan: DigestPlan, now: datetime) -> str:
    """When a plan is set, the period already due counts as done: the first digest comes at the next time."""
    return latest_due(plan, now).period


def due_now(plan: DigestPlan, now: datetime) -> Due | None:
    due = latest_due(plan, now)
    return None if due.period == plan.last_period else due
