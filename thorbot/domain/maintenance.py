"""`/chargebox maintenance <id|name> <start> <duration> [note]`: a box's scheduled maintenance window. Pure.

The start is `now`, `HH:MM` (the next such time), `tomorrow HH:MM`, a weekday and `HH:MM`, or
`YYYY-MM-DD HH:MM`, in THORBOT_TIMEZONE; the duration is like `2h`, `90m`, `1d` (at most 30 days).
A window may not start in the past or overlap another of the same box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from thorbot.domain.text import parse_duration

MAX_WINDOW = timedelta(days=30)
SLACK = timedelta(minutes=1)  # "now" typed a moment ago is not "in the past"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class WindowRequest:
    query: str
    start: datetime
    end: datetime
    note: str | None


def _start(words: list[str], zone: ZoneInfo, now: datetime) -> tuple[datetime, int] | None:
    """A start at the head of `words`, and how many words it took; None when there is none."""
    if not words:
        return None
    first = words[0].lower()
    local = now.astimezone(zone)
    if first == "now":
        return now, 1
    if (hhmm := _HHMM.match(first)) is not None:
        at = datetime.combine(local.date(), time(int(hhmm.group(1)), int(hhmm.group(2))), tzinfo=zone)
        return (at if at >= now - SLACK else at + timedelta(days=1)), 1
    if len(words) < 2 or (hhmm := _HHMM.match(words[1])) is None:
        return None
    clock = time(int(hhmm.group(1)), int(hhmm.group(2)))
    if first == "tomorrow":
        return datetime.combine(local.date() + timedelta(days=1), clock, tzinfo=zone), 2
    if first[:3] in WEEKDAYS and first.isalpha():
        ahead = (WEEKDAYS.index(first[:3]) - local.weekday()) % 7
        at = datetime.combine(local.date() + timedelta(days=ahead), clock, tzinfo=zone)
        return (at if at >= now - SLACK else at + timedelta(days=7)), 2
    if (day := _DATE.match(first)) is not None:
        try:
            return datetime.combine(date(int(day.group(1)), int(day.group(2)), int(day.group(3))), clock,
                                    tzinfo=zone), 2
        except ValueError:
            return None
    return None


def parse_window(words: list[str], zone: ZoneInfo, now: datetime) -> WindowRequest | str:
    """The box (the words before the start), the window and a note; or why it cannot be one."""
    for i in range(1, len(words)):
        found = _start(words[i:], zone, now)
        if found is None:
            continue
        start, used = found
        rest = words[i + used:]
        length = parse_duration(rest[0]) if rest else None
        if length is None:
            return "give a duration after the start, like `2h` or `1d`"
        if start < now - SLACK:
            return "that start has passed already: maintenance is planned ahead (use `now` for now)"
        if not timedelta(minutes=1) <= length <= MAX_WINDOW:
            return "a maintenance window lasts from 1 minute to 30 days"
        note = " ".join(rest[1:]).strip()[:200] or None
        return WindowRequest(" ".join(words[:i]), max(start, now), max(start, now) + length, note)
    return ("say which box, when and for how long: `/chargebox maintenance <id or name> <now|HH:MM|tomorrow "
            "HH:MM|fri 09:00|2026-12-03 09:00> <2h> [note]`")


def overlaps(start: datetime, end: datetime, windows: list[tuple[datetime, datetime]]) -> bool:
    return any(start < b and a < end for a, b in windows)
