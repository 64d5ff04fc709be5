"""Every duration, time of day and date a person types, read in one place with limits. Pure; time passed in.

Each reader returns None when the text is not written as its kind at all (so a command can read it as
something else, like part of a box's name), and raises UsageError with a short reason (no final period:
the command words the sentence) when it is written as one but cannot be used:

- **Numbers** are ASCII digits. Python's `int()` also reads `١٢` or `１２`; those get a reply saying so
  instead of silently becoming twelve. Numbers longer than any limit needs are refused before any
  arithmetic, so `999999999999d` is "more than 30 days", never an OverflowError.
- **Durations** (`90s`, `30m`, `2h`, `1d`, `1d12h`) lie within the command's least and most; zero and
  negative ones are refused. A window's length is elapsed time: `1h` is sixty minutes whatever the
  clocks do meanwhile, and `1d` is 24 hours (`window_end`).
- **Times of day** are `00:00`–`23:59`; `24:00` is refused.
- **Dates** are real calendar dates (`2027-02-30` is refused, with the month's length) within a year back
  and a year ahead unless the command sets other bounds (`Bounds`); a date is checked before any aware
  datetime is made of it, so years 0001 and 9999 are refused, not overflowed.
- **Local moments** across daylight saving (`local_moment`): a time that does not exist (the hour the
  clocks skip in spring) is refused with the reason; a time that exists twice (the hour repeated in
  autumn) is its **first** occurrence, still on summer time.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from thorbot.errors import UsageError

YEAR = timedelta(days=366)  # "a year back / ahead": a leap day never shortens it
MINUTE = timedelta(minutes=1)
SLACK = MINUTE  # a time typed a moment ago is still "today's", not tomorrow's
MAX_DIGITS = 9  # longer numbers exceed every limit; refused before they are multiplied
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
DIGITS = "write numbers with the digits 0–9"

_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m(?:in)?)?(?:([0-9]+)s)?", re.ASCII)
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)
# The digest's looser times: `9`, `0930`, `9.30`, `9h30` besides `09:30`.
_LOOSE_CLOCK = re.compile(r"([0-9]{1,2})(?:[:.h]?([0-9]{2}))?", re.ASCII)
_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", re.ASCII)
_UNITS = (86400, 3600, 60, 1)


@dataclass(frozen=True)
class Bounds:
    """How far back and ahead of now a typed moment may lie, and what to say beyond them (`{day}` is
    the date as typed, `{limit}` the furthest date allowed)."""

    back: timedelta = YEAR
    ahead: timedelta = YEAR
    too_early: str = "{day} is more than a year ago"
    too_late: str = "{day} is more than a year ahead (at most until {limit})"


def _ascii_shape(text: str) -> str:
    """`text` with every non-ASCII digit as `0`: how it would read had it been typed with ASCII digits."""
    return "".join("0" if ch.isdigit() and not "0" <= ch <= "9" else ch for ch in text)


def refuse_foreign_digits(text: str) -> None:
    """For words that are all times (never a name): any digit but 0–9 is refused."""
    if _ascii_shape(text) != text:
        raise UsageError(f"{_shown(text)}: {DIGITS}")


def _refuse_foreign_digits(text: str, shape: re.Pattern[str]) -> None:
    shaped = _ascii_shape(text)
    if shaped != text and shape.fullmatch(shaped):
        raise UsageError(f"{_shown(text)}: {DIGITS}")


def _shown(text: str) -> str:
    """The typed text quoted for a reply: short, and unable to break out of its code span."""
    clipped = text if len(text) <= 24 else text[:23] + "…"
    return "`" + clipped.replace("`", "'") + "`"


def span(length: timedelta) -> str:
    """`30 days`, `one minute`, `2 hours`: a limit as a reply says it."""
    seconds = int(length.total_seconds())
    for unit, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= unit and seconds % unit == 0:
            n = seconds // unit
            return f"one {name}" if n == 1 else f"{n} {name}s"
    return f"{seconds} seconds"


# --- durations ----------------------------------------------------------------------------------
def is_duration(text: str) -> bool:
    """Whether `text` is written as a duration (in any digits, even negative, even out of range)."""
    shaped = _ascii_shape(text.strip().lower()).lstrip("-−")
    match = _DURATION.fullmatch(shaped)
    return match is not None and any(match.groups())


def read_duration(text: str, *, least: timedelta = MINUTE, most: timedelta) -> timedelta | None:
    """`90s`, `30m`, `2h`, `1d`, `1h30m`, `1d12h`; None when `text` is not written as a duration; UsageError
    when it is one shorter than `least` or longer than `most`, negative, or written with other digits."""
    cleaned = text.strip().lower()
    if not is_duration(cleaned):
        return None
    if cleaned[:1] in "-−":
        raise UsageError(f"{_shown(text.strip())} is negative (at least {span(least)})")
    _refuse_foreign_digits(cleaned, _DURATION)
    match = _DURATION.fullmatch(cleaned)
    assert match is not None  # is_duration matched the same text with ASCII digits
    groups = [g or "0" for g in match.groups()]
    if any(len(g.lstrip("0")) > MAX_DIGITS for g in groups):
        seconds = int(most.total_seconds()) + 1  # more than any limit: never multiplied out
    else:
        seconds = sum(int(g) * unit for g, unit in zip(groups, _UNITS, strict=True))
    if seconds > most.total_seconds():
        raise UsageError(f"{_shown(text.strip())} is longer than that (at most {span(most)})")
    if seconds < least.total_seconds():
        raise UsageError(f"{_shown(text.strip())} is shorter than that (at least {span(least)})")
    return timedelta(seconds=seconds)


def window_end(start: datetime, length: timedelta) -> datetime:
    """The end of a window of `length` elapsed time: counted in UTC, so a change of clocks inside it neither
    stretches nor shrinks it (aware datetimes of one zone add like wall clocks, which would)."""
    return start.astimezone(UTC) + length


# --- times of day -------------------------------------------------------------------------------
def read_clock(text: str, *, loose: bool = False) -> time | None:
    """`HH:MM` (24 h; with `loose`, also `9`, `0930`, `9.30`, `9h30`); None when `text` is not written as
    a time; UsageError when it is one that does not exist (`24:00`, `9:75`) or uses other digits."""
    shape = _LOOSE_CLOCK if loose else _CLOCK
    cleaned = text.strip().lower()
    _refuse_foreign_digits(cleaned, shape)
    match = shape.fullmatch(cleaned)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or "0")
    if hour > 23 or minute > 59:
        raise UsageError(f"{_shown(text.strip())} is not a time of day (00:00 to 23:59)")
    return time(hour, minute)


# --- dates --------------------------------------------------------------------------------------
def read_date(text: str) -> date | None:
    """`YYYY-MM-DD`; None when `text` is not written as a date; UsageError when it is one the calendar has
    not (`2027-02-30`, month 13, year 0) or uses other digits. Not bounded: see `check_day`."""
    cleaned = text.strip()
    _refuse_foreign_digits(cleaned, _DATE)
    match = _DATE.fullmatch(cleaned)
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups())
    if year < 1:
        raise UsageError(f"{_shown(cleaned)} is not a date: there is no year 0")
    if not 1 <= month <= 12:
        raise UsageError(f"{_shown(cleaned)} is not a date: there is no month {month}")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise UsageError(f"{_shown(cleaned)} is not a date: {MONTHS[month - 1]} {year} has {last} days")
    return date(year, month, day)


def check_day(day: date, now: datetime, zone: ZoneInfo, bounds: Bounds) -> None:
    """Refuse a date clearly outside `bounds` (a day's margin each way: the moment is checked exactly once
    it is made). Done on the bare date, so no aware datetime is ever made of year 1 or 9999."""
    today = now.astimezone(zone).date()
    earliest = today - timedelta(days=bounds.back.days + 1)
    latest = today + timedelta(days=bounds.ahead.days + 1)
    if day < earliest:
        raise UsageError(bounds.too_early.format(day=f"`{day.isoformat()}`", limit=earliest.isoformat()))
    if day > latest:
        raise UsageError(bounds.too_late.format(day=f"`{day.isoformat()}`",
                                                limit=(now + bounds.ahead).astimezone(zone).date().isoformat()))


def check_moment(moment: datetime, now: datetime, zone: ZoneInfo, bounds: Bounds) -> None:
    day = f"`{moment.astimezone(zone):%Y-%m-%d %H:%M}`"
    if moment < now - bounds.back:
        raise UsageError(bounds.too_early.format(day=day, limit=(now - bounds.back).astimezone(zone).date()))
    if moment > now + bounds.ahead:
        raise UsageError(bounds.too_late.format(day=day, limit=(now + bounds.ahead).astimezone(zone).date()))


# --- local moments ------------------------------------------------------------------------------
def zone_name(zone: ZoneInfo) -> str:
    return zone.key or str(zone)


def local_moment(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of `clock` on `day` in `zone`. A time the clocks skip is refused with the reason; a time
    they pass twice is the first occurrence (fold=0: the earlier instant, on the offset before the change)."""
    naive = datetime.combine(day, clock)
    aware = naive.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        jumps_at, jumps_to = _gap(aware)
        raise UsageError(f"{clock:%H:%M} does not exist on {day.isoformat()} in {zone_name(zone)}: clocks go "
                         f"forward at {jumps_at:%H:%M} (to {jumps_to:%H:%M})")
    return instant


def _gap(aware: datetime) -> tuple[datetime, datetime]:
    """The local times the clocks jump from and to around a nonexistent `aware` time."""
    zone = aware.tzinfo
    lo = aware.replace(fold=1).astimezone(UTC)  # the skipped time on the later offset: before the change
    hi = aware.astimezone(UTC)                   # on the earlier offset: after it
    before = lo.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    change = hi.replace(microsecond=0)
    assert before is not None
    return (change + before).replace(tzinfo=None), change.astimezone(zone)


def read_moment(words: list[str], zone: ZoneInfo, now: datetime, bounds: Bounds, *,
                default_clock: time | None = None) -> tuple[datetime, int] | None:
    """A moment at the head of `words`, as UTC, and how many words it took; None when they do not start with
    one. The forms: `HH:MM` (its next occurrence), `tomorrow HH:MM`, a weekday and `HH:MM` (its next
    occurrence), `YYYY-MM-DD HH:MM`; with `default_clock`, the time after a day may be left out. UsageError
    for a moment outside `bounds`, a date or time that does not exist, or a local time the clocks skip."""
    if not words:
        return None
    first = words[0].lower()
    local = now.astimezone(zone)
    if (clock := read_clock(first)) is not None:
        at = local_moment(local.date(), clock, zone)
        if at < now - SLACK:  # today's has passed: tomorrow's
            at = local_moment(local.date() + timedelta(days=1), clock, zone)
        check_moment(at, now, zone, bounds)
        return at, 1
    day: date | None = None
    step = 0
    if first == "tomorrow":
        day = local.date() + timedelta(days=1)
    elif first[:3] in WEEKDAYS and first.isalpha():
        day, step = local.date() + timedelta(days=(WEEKDAYS.index(first[:3]) - local.weekday()) % 7), 7
    elif (typed := read_date(first)) is not None:
        check_day(typed, now, zone, bounds)
        day = typed
    if day is None:
        return None
    clock = read_clock(words[1]) if len(words) > 1 else None
    used = 2
    if clock is None:
        if default_clock is None:
            return None
        clock, used = default_clock, 1
    at = local_moment(day, clock, zone)
    if step and at < now - SLACK:
        at = local_moment(day + timedelta(days=step), clock, zone)
    check_moment(at, now, zone, bounds)
    return at, used
