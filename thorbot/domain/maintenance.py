"""`/chargebox maintenance <id|name> <start> <duration> [note]`: a box's scheduled maintenance window. Pure.

The start is `now`, `HH:MM` (the next such time), `tomorrow HH:MM`, a weekday and `HH:MM`, or
`YYYY-MM-DD HH:MM`, in THORBOT_TIMEZONE, at most a year ahead; the duration is like `2h`, `90m`, `1d` (at
most 30 days) of elapsed time. A start the clocks skip (02:30 on a spring-forward night) is refused with the
reason; one they pass twice is its first occurrence. A window may not start in the past or overlap another
of the same box.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from thorbot.domain.when import MINUTE, YEAR, Bounds, read_duration, read_moment, window_end
from thorbot.errors import UsageError

MAX_WINDOW = timedelta(days=30)
MAX_AHEAD = YEAR
SLACK = timedelta(minutes=1)  # "now" typed a moment ago is not "in the past"
PASSED = "that start has passed already: maintenance is planned ahead (use `now` for now)"
BOUNDS = Bounds(back=SLACK, ahead=MAX_AHEAD, too_early=PASSED,
                too_late="{day} is more than a year ahead: maintenance is planned at most a year ahead "
                         "(until {limit})")
LIMITS = "a maintenance window lasts from 1 minute to 30 days"
USAGE = ("say which box, when and for how long: `/chargebox maintenance <id or name> <now|HH:MM|tomorrow "
         "HH:MM|fri 09:00|2026-12-03 09:00> <2h> [note]`")


@dataclass(frozen=True)
class WindowRequest:
    query: str
    start: datetime
    end: datetime
    note: str | None


def _start(words: list[str], zone: ZoneInfo, now: datetime) -> tuple[datetime, int] | None:
    """A start at the head of `words`, and how many words it took; None when there is none."""
    if words and words[0].lower() == "now":
        return now, 1
    return read_moment(words, zone, now, BOUNDS)


def parse_window(words: list[str], zone: ZoneInfo, now: datetime) -> WindowRequest | str:
    """The box (the words before the start), the window and a note; or why it cannot be one. The window
    lasts the typed length of elapsed time, across a change of clocks too (domain/when.py)."""
    try:
        return _window(words, zone, now)
    except UsageError as exc:
        return str(exc)


def _window(words: list[str], zone: ZoneInfo, now: datetime) -> WindowRequest | str:
    for i in range(1, len(words)):
        found = _start(words[i:], zone, now)
        if found is None:
            continue
        start, used = found
        rest = words[i + used:]
        try:
            length = read_duration(rest[0], least=MINUTE, most=MAX_WINDOW) if rest else None
        except UsageError as exc:
            return f"{LIMITS}: {exc}"
        if length is None:
            return "give a duration after the start, like `2h` or `1d`"
        if start < now - SLACK:
            return PASSED
        note = " ".join(rest[1:]).strip()[:200] or None
        begin = max(start, now)
        return WindowRequest(" ".join(words[:i]), begin, window_end(begin, length), note)
    return USAGE


def overlaps(start: datetime, end: datetime, windows: list[tuple[datetime, datetime]]) -> bool:
    return any(start < b and a < end for a, b in windows)
