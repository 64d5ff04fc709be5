"""Posted hours of operation (THORBOT_HOURS_OF_OPERATION): outage time outside them is excluded (NEVI). Pure.

`24/7` (the default) or a list like `mon-fri 07:00-22:00, sat 08:00-14:00` in THORBOT_TIMEZONE; a day
not listed is closed all day; `00:00-24:00` is the whole day. Local times follow daylight saving.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from thorbot.domain.uptime import Seconds, merge_seconds

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?\s+"
                   r"([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
Hours = dict[int, list[tuple[int, int]]]  # weekday → open [from, to) minutes of the day; None: always open


class PostedHours(BaseModel):
    """Hours of operation as posted somewhere: the fleet's (THORBOT_HOURS_OF_OPERATION, in THORBOT_TIMEZONE) or
    a box's own (`/chargebox hours`, in the box's zone). The closed time is the same whoever reads a report."""

    model_config = ConfigDict(frozen=True)

    hours: str = "24/7"  # as parse_hours reads it
    zone: str = "UTC"

    def closed(self, start: float, end: float) -> list[Seconds]:
        return closed_spans(parse_hours(self.hours), start, end, ZoneInfo(self.zone))


ALWAYS = PostedHours()


def parse_hours(text: str) -> Hours | None:
    """None for 24/7; raises ValueError (with the reason) for anything it cannot read."""
    text = text.strip().lower()
    if text in ("", "24/7", "always"):
        return None
    hours: Hours = {d: [] for d in range(7)}
    for part in re.split(r"\s*[,;]\s*", text):
        match = _PART.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not like 'mon-fri 07:00-22:00'")
        first, last = DAYS.index(match.group(1)), DAYS.index(match.group(2) or match.group(1))
        opens = int(match.group(3)) * 60 + int(match.group(4))
        closes = int(match.group(5)) * 60 + int(match.group(6))
        if not 0 <= opens < closes <= 1440:
            raise ValueError(f"{part!r}: it must open before it closes, within the day")
        day = first
        while True:
            hours[day].append((opens, closes))
            if day == last:
                break
            day = (day + 1) % 7
    return hours


def closed_spans(hours: Hours | None, start: float, end: float, zone: ZoneInfo) -> list[Seconds]:
    """The stretches of [start, end) outside the hours of operation, in epoch seconds."""
    if hours is None or end <= start:
        return []
    out: list[Seconds] = []
    day = datetime.fromtimestamp(start, tz=zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, tz=zone).date()
    while day <= last:
        cursor = _at(day, 0, zone)
        for opens, closes in sorted(hours[day.weekday()]):
            if _at(day, opens, zone) > cursor:
                out.append((cursor, _at(day, opens, zone)))
            cursor = max(cursor, _at(day, closes, zone))
        next_midnight = _at(day + timedelta(days=1), 0, zone)
        if next_midnight > cursor:
            out.append((cursor, next_midnight))
        day += timedelta(days=1)
    return [(max(a, start), min(b, end)) for a, b in merge_seconds(out) if b > start and a < end]


def _at(day: date, minute: int, zone: ZoneInfo) -> float:
    if minute >= 1440:
        return _at(day + timedelta(days=1), minute - 1440, zone)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone).timestamp()
