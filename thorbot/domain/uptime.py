"""Uptime arithmetic for reliability reports. Pure: spans of time in, figures out.

The US NEVI rule (23 CFR 680.116(b)) asks for > 97 % uptime per port, computed monthly over the past
12 months as

    uptime % = ((minutes − (outage − excluded)) / minutes) × 100

where `minutes` is the period's length, `outage` the minutes the port was down and `excluded` the
outage minutes with an accepted outside cause (planned maintenance among them).

thorbot measures *connectivity*: a box is down while it has an open offline or silent incident
(Thor exposes no connector fault state, so the figure is labelled "connectivity uptime"). On top
of the formula:

- `excluded` is the part of the outage a regulator lets the operator exclude (`exclusions`): caused by
  the utility, the vehicle, vandalism (at most 10 days an incident) or a natural disaster, scheduled
  maintenance (maintenance windows and outages given that cause: at most 72 h per port a calendar
  year), and hours outside the posted hours of operation (domain/causes.py, domain/hours.py). A
  channel's mute is its own choice not to be told: it changes nothing here;
- time when thorbot itself was not observing (no successful poll: thorbot down, Thor failing) is
  *unknown*: neither up nor down, it is taken out of both `minutes` and `outage`;
- a box is measured from its first sighting: a box added mid-month is not down before it existed.

Hence 0 ≤ excluded ≤ outage ≤ minutes and the percentage lies in [0, 100]. Day and month boundaries
are local to a time zone, so a DST day has 23 or 25 hours.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from thorbot.domain.causes import CAUSES, MAINTENANCE_CAP, VANDALISM_CAP

ZERO = timedelta(0)
OUTAGE_KINDS = frozenset({"offline", "silent"})


@dataclass(frozen=True, order=True)
class Span:
    """A half-open stretch of time [start, end)."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return max(ZERO, self.end - self.start)


@dataclass(frozen=True)
class Outage:
    """One incident as history keeps it: its kind and when; `end` None while it is still open."""

    kind: str
    start: datetime
    end: datetime | None = None
    connector: int | None = None


Seconds = tuple[float, float]  # [start, end) in epoch seconds: the arithmetic runs on these, for speed
INF = float("inf")


@dataclass(frozen=True)
class PortSpans:
    """One port (connector) of a box: down when its box is, and during its own incidents (failed starts,
    not charging anyone); its excluded spans, and the maintenance time over the yearly cap."""

    port: int
    outages: tuple[Seconds, ...]
    maintenance: tuple[Seconds, ...]
    over_cap: float = 0.0
    own: bool = True  # False: no incident of its own, so its figures are its box's


@dataclass(frozen=True)
class BoxHistory:
    """What history holds for one box, in epoch seconds: its connectivity outages (sorted, disjoint; an
    open one ends at infinity), the spans whose outage time is excluded (`maintenance`: maintenance
    windows, excused causes, closed hours; see `exclusions`), when it was first seen, and its ports."""

    box_id: str
    name: str
    first_seen: float | None
    outages: tuple[Seconds, ...] = ()
    maintenance: tuple[Seconds, ...] = ()
    ports: tuple[PortSpans, ...] = ()
    over_cap: float = 0.0  # maintenance seconds beyond the CEC cap (counted as outage)

    @classmethod
    def of(cls, box_id: str, name: str, first_seen: datetime | None, incidents: tuple[Outage, ...] = (),
           maintenance: tuple[Span, ...] = ()) -> BoxHistory:
        down = [(o.start.timestamp(), o.end.timestamp() if o.end else INF) for o in incidents
                if o.kind in OUTAGE_KINDS]
        return cls(box_id, name, first_seen.timestamp() if first_seen else None, tuple(merge_seconds(down)),
                   tuple(merge_seconds([(m.start.timestamp(), m.end.timestamp()) for m in maintenance])))

    def port(self, spans: PortSpans) -> BoxHistory:
        """One port as a history of its own (what NEVI's figure is computed on)."""
        return BoxHistory(self.box_id, f"{self.name} #{spans.port}", self.first_seen, spans.outages,
                          spans.maintenance, over_cap=spans.over_cap)

    @property
    def down_now(self) -> bool:
        return bool(self.outages) and self.outages[-1][1] == INF


class CausedOutage(NamedTuple):
    """An outage with the cause someone gave it (None: none given, so unknown). A tuple: a report makes
    hundreds of thousands."""

    start: float
    end: float
    cause: str | None = None


class BoxInput(NamedTuple):
    """What history holds for one box, as read (`box_history`'s arguments): the report's fast path
    (domain/uptime_columns.py) measures a chunk of these at once."""

    box_id: str
    name: str
    first_seen: float | None
    outages: list[Seconds]
    port_outages: dict[int, list[Seconds]]
    ports: int
    maintenance: list[Seconds]
    closed: list[Seconds]
    causes: Mapping[int, str] | None = None
    port_causes: Mapping[int, str] | None = None


def box_history(box_id: str, name: str, first_seen: float | None, outages: list[Seconds],
                port_outages: dict[int, list[Seconds]], ports: int, maintenance: list[Seconds],
                closed: list[Seconds], causes: Mapping[int, str] | None = None,
                port_causes: Mapping[int, str] | None = None) -> BoxHistory:
    """A box's history for a report, with each of its `ports` (at least the ones with incidents of their own).
    `causes` and `port_causes`: the cause given to the box's (or a port's own) outage starting at that second."""
    down = merge_seconds(outages)
    caused = [CausedOutage(a, b, causes[int(a)]) for a, b in outages if int(a) in causes] if causes else []
    excluded, over = exclusions(down, caused, maintenance, closed)
    spans = []
    for port in range(1, max([ports, *port_outages, 1]) + 1):
        own = port_outages.get(port, [])
        if not own:  # most ports, most of the time: exactly their box
            spans.append(PortSpans(port, tuple(down), tuple(excluded), over, own=False))
            continue
        port_down = merge_seconds(down + own)
        own_caused = [CausedOutage(a, b, port_causes[int(a)]) for a, b in own if int(a) in port_causes] \
            if port_causes else []
        port_excluded, port_over = exclusions(port_down, caused + own_caused, maintenance, closed)
        spans.append(PortSpans(port, tuple(port_down), tuple(port_excluded), port_over))
    return BoxHistory(box_id, name, first_seen, tuple(down), tuple(excluded), tuple(spans), over)


def exclusions(down: list[Seconds], caused: list[CausedOutage], maintenance: list[Seconds], closed: list[Seconds],
               ) -> tuple[list[Seconds], float]:
    """The spans whose outage time may be excluded, and the maintenance seconds beyond the yearly cap (which
    count as outage). `down`: the unit's outages, sorted and disjoint; `caused`: those with a cause given;
    `maintenance`: its scheduled windows; `closed`: outside its hours of operation."""
    if not down:
        return [], 0.0
    excused: list[Seconds] = []
    planned = list(maintenance)
    for outage in caused:
        if outage.cause == "scheduled_maintenance":
            planned.append((outage.start, outage.end))
        elif outage.cause is not None and CAUSES.get(outage.cause, CAUSES["unknown"]).excluded:
            end = min(outage.end, outage.start + VANDALISM_CAP.total_seconds()) if outage.cause == "vandalism" \
                else outage.end
            excused.append((outage.start, end))
    kept, over = _capped_per_year(_intersect(down, merge_seconds(planned)),
                                  MAINTENANCE_CAP.total_seconds()) if planned else ([], 0.0)
    if not excused and not kept and not closed:
        return [], over
    return merge_seconds(excused + kept + list(closed)), over


def _capped_per_year(spans: list[Seconds], cap: float) -> tuple[list[Seconds], float]:
    """The spans in time order, each calendar year (UTC) keeping at most `cap` seconds; and what was cut."""
    kept: list[Seconds] = []
    used: dict[int, float] = {}
    over = 0.0
    for a, b in spans:
        while a < b:
            year = datetime.fromtimestamp(a, tz=UTC).year
            year_end = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()
            piece_end = min(b, year_end)
            room = max(0.0, cap - used.get(year, 0.0))
            take = min(room, piece_end - a)
            if take > 0:
                kept.append((a, a + take))
                used[year] = used.get(year, 0.0) + take
            over += (piece_end - a) - take
            a = piece_end
    return kept, over


def merge_seconds(spans: list[Seconds]) -> list[Seconds]:
    out: list[Seconds] = []
    start = end = 0.0
    for a, b in sorted([x for x in spans if x[1] > x[0]]):
        if out and a <= end:
            if b > end:
                end = b
                out[-1] = (start, end)
        else:
            start, end = a, b
            out.append((a, b))
    return out


def _clip(spans: list[Seconds] | tuple[Seconds, ...], lo: float, hi: float) -> list[Seconds]:
    # Conditional expressions, not min/max: a twelve-month report clips millions of spans.
    return [(a if a > lo else lo, b if b < hi else hi) for a, b in spans if b > lo and a < hi]


def _subtract(a: list[Seconds], b: list[Seconds]) -> list[Seconds]:
    out: list[Seconds] = []
    j = 0
    for lo, hi in a:
        cursor = lo
        while j < len(b) and b[j][1] <= cursor:
            j += 1
        k = j
        while k < len(b) and b[k][0] < hi:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            k += 1
        if cursor < hi:
            out.append((cursor, hi))
    return out


def _intersect(a: list[Seconds], b: list[Seconds]) -> list[Seconds]:
    out: list[Seconds] = []
    na, nb = len(a), len(b)
    if not na or not nb:
        return out
    i = j = 0
    a0, a1 = a[0]
    b0, b1 = b[0]
    while True:  # the hottest loop of a report: plain locals, no min/max calls
        lo = a0 if a0 > b0 else b0
        hi = a1 if a1 < b1 else b1
        if hi > lo:
            out.append((lo, hi))
        if a1 < b1:
            i += 1
            if i == na:
                return out
            a0, a1 = a[i]
        else:
            j += 1
            if j == nb:
                return out
            b0, b1 = b[j]


def _overlap_each(spans: list[Seconds], other: list[Seconds]) -> list[float]:
    """For each of `spans` (sorted, disjoint), how much of it `other` (sorted, disjoint) covers: one pass."""
    out = []
    j, n = 0, len(other)
    for a, b in spans:
        while j < n and other[j][1] <= a:
            j += 1
        covered = 0.0
        k = j
        while k < n and other[k][0] < b:
            lo, hi = other[k]
            covered += (hi if hi < b else b) - (lo if lo > a else a)
            k += 1
        out.append(covered)
    return out


class _Sums:
    """Sorted disjoint spans with prefix sums: the total inside any [lo, hi) in O(log n)."""

    def __init__(self, spans: list[Seconds]) -> None:
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]
        self.prefix = [0.0]
        for a, b in spans:
            self.prefix.append(self.prefix[-1] + (b - a))

    def within(self, lo: float, hi: float) -> float:
        if hi <= lo or not self.starts:
            return 0.0
        i = bisect_right(self.ends, lo)          # first span ending after lo
        j = bisect_left(self.starts, hi)         # spans starting before hi: [i, j)
        if j <= i:
            return 0.0
        total = self.prefix[j] - self.prefix[i]
        total -= max(0.0, lo - self.starts[i])
        total -= max(0.0, self.ends[j - 1] - hi)
        return total


@dataclass(frozen=True, slots=True)  # a report holds tens of thousands
class Uptime:
    """One box (or the fleet) over one window."""

    measured: timedelta            # the window less unknown time: NEVI's `minutes`
    outage: timedelta              # down, within measured time
    excluded: timedelta            # outage inside maintenance windows
    unknown: timedelta             # thorbot was not observing
    outages: int = 0               # incidents overlapping the window
    longest: timedelta = ZERO
    repaired: int = 0              # outages that ended in the window…
    repair_total: timedelta = ZERO  # …and their whole durations (for MTTR)

    @property
    def percent(self) -> float | None:
        """NEVI's ((minutes − (outage − excluded)) / minutes) × 100; None when nothing was measured."""
        return percent(self.measured.total_seconds(), self.downtime.total_seconds())

    @property
    def downtime(self) -> timedelta:
        return self.outage - self.excluded

    @property
    def mttr(self) -> timedelta | None:
        return self.repair_total / self.repaired if self.repaired else None


NOTHING = Uptime(ZERO, ZERO, ZERO, ZERO)


def combine(parts: list[Uptime]) -> Uptime:
    """The sum of many (a fleet)."""
    if not parts:
        return NOTHING
    return Uptime(sum((p.measured for p in parts), ZERO), sum((p.outage for p in parts), ZERO),
                  sum((p.excluded for p in parts), ZERO), sum((p.unknown for p in parts), ZERO),
                  sum(p.outages for p in parts), max(p.longest for p in parts), sum(p.repaired for p in parts),
                  sum((p.repair_total for p in parts), ZERO))


def _td(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class _BoxMeasure:
    """One box over a window, ready to answer for any part of it (each step of a report)."""

    def __init__(self, history: BoxHistory, window: Span, blind: list[Seconds], now: datetime) -> None:
        now_s = now.timestamp()
        lo = window.start.timestamp()
        if history.first_seen is not None:
            lo = max(lo, history.first_seen)
        self.lo, self.hi = lo, (min(window.end.timestamp(), now_s) if history.first_seen is not None else lo)
        blind_here = _clip(blind, self.lo, self.hi)
        self.blind = _Sums(blind_here)
        outs = history.outages  # sorted and disjoint: only the last can still be open (or end after now)
        ends = list(outs) if not outs or outs[-1][1] <= now_s else [(a, b if b < now_s else now_s) for a, b in outs]
        lo, hi = self.lo, self.hi
        self.incidents = [(a, b) for a, b in ends if b > lo and a < hi]
        down = _clip(self.incidents, self.lo, self.hi)
        if blind_here and down:
            down = _subtract(down, blind_here)
        self.down = _Sums(down)
        maintenance = _clip(history.maintenance, self.lo, self.hi) if down and history.maintenance else []
        self.excluded = _Sums(_intersect(down, maintenance) if maintenance else [])
        self.lengths = [b - a for a, b in self.incidents]
        self.starts = [a for a, _ in self.incidents]
        self.ends = [b for _, b in self.incidents]
        # Outages that really ended (not still open at `now`), by end, with prefix sums of their durations as
        # `down` counts them: less maintenance and unknown time (MTTR and downtime must agree).
        finished = ends[:-1] if outs and outs[-1][1] == INF else ends
        not_counted = merge_seconds(list(history.maintenance) + list(blind)) if blind else list(history.maintenance)
        cut = _overlap_each(finished, not_counted) if not_counted else [0.0] * len(finished)
        self.done_ends = [b for _, b in finished]
        self.done_prefix = [0.0, *accumulate(b - a - c for (a, b), c in zip(finished, cut, strict=True))]

    def step_seconds(self, start: float, end: float) -> tuple[float, float]:
        """(measured, counted downtime) in seconds over [start, end): all a day's square needs."""
        lo, hi = max(self.lo, start), min(self.hi, end)
        if hi <= lo:
            return 0.0, 0.0
        return hi - lo - self.blind.within(lo, hi), self.down.within(lo, hi) - self.excluded.within(lo, hi)

    def part(self, start: datetime, end: datetime) -> Uptime:
        lo, hi = max(self.lo, start.timestamp()), min(self.hi, end.timestamp())
        if hi <= lo:
            return NOTHING
        blind = self.blind.within(lo, hi)
        i, j = bisect_right(self.ends, lo), bisect_left(self.starts, hi)
        longest = 0.0
        if j > i:  # only the first and last can stick out of [lo, hi); the ones between are whole
            first, last = self.incidents[i], self.incidents[j - 1]
            longest = max(min(first[1], hi) - max(first[0], lo), min(last[1], hi) - max(last[0], lo),
                          max(self.lengths[i + 1:j - 1], default=0.0))
        k, m = bisect_left(self.done_ends, lo), bisect_right(self.done_ends, hi)
        return Uptime(measured=_td(hi - lo - blind), outage=_td(self.down.within(lo, hi)),
                      excluded=_td(self.excluded.within(lo, hi)), unknown=_td(blind), outages=max(0, j - i),
                      longest=_td(longest), repaired=max(0, m - k),
                      repair_total=_td(self.done_prefix[m] - self.done_prefix[k]) if m > k else ZERO)


def _whole(history: BoxHistory, window: Span, blind: list[Seconds], now: datetime) -> Uptime:
    """`_BoxMeasure(...).part(window)` without what only steps need: a port's figure over the whole window."""
    now_s = now.timestamp()
    lo = window.start.timestamp()
    if history.first_seen is None:
        return NOTHING
    lo = max(lo, history.first_seen)
    hi = min(window.end.timestamp(), now_s)
    if hi <= lo:
        return NOTHING
    blind_here = _clip(blind, lo, hi)
    ends = [(a, min(b, now_s)) for a, b in history.outages]
    incidents = [(a, b) for a, b in ends if b > lo and a < hi]
    down = _clip(incidents, lo, hi)
    if blind_here and down:
        down = _subtract(down, blind_here)
    maintenance = _clip(history.maintenance, lo, hi) if down and history.maintenance else []
    excluded = sum(b - a for a, b in _intersect(down, maintenance)) if maintenance else 0.0
    repaired = [(a, b) for (a, b), (_, raw_end) in zip(ends, history.outages, strict=True)
                if raw_end != INF and lo <= b <= hi]
    repair = sum(b - a for a, b in repaired) - sum(_overlap_each(repaired, merge_seconds(list(history.maintenance)
                                                                                         + list(blind))))
    blind_s = sum(b - a for a, b in blind_here)
    return Uptime(measured=_td(hi - lo - blind_s), outage=_td(sum(b - a for a, b in down)), excluded=_td(excluded),
                  unknown=_td(blind_s), outages=len(incidents),
                  longest=_td(max((min(b, hi) - max(a, lo) for a, b in incidents), default=0.0)),
                  repaired=len(repaired), repair_total=_td(repair))


def _seconds(spans: list[Span]) -> list[Seconds]:
    return merge_seconds([(s.start.timestamp(), s.end.timestamp()) for s in spans])


def measure(history: BoxHistory, window: Span, unknown: list[Span], now: datetime) -> Uptime:
    """A box's connectivity uptime over `window` (see the module docstring for the rules)."""
    return _BoxMeasure(history, window, _seconds(unknown), now).part(window.start, window.end)


# --- periods -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """What a report covers: a window, cut into steps (days, or months for a year) in one time zone."""

    label: str
    window: Span
    steps: tuple[Span, ...]
    step_names: tuple[str, ...]
    zone: str = "UTC"
    monthly: bool = False
    quarter: str = ""  # "2026Q3" when the period is that calendar quarter (what EV-ChART is filed for)


YEAR_WORDS = ("12m", "1y", "year", "nevi")  # the past 12 calendar months
BAD_PERIOD = ("{period} is not a period I know: use `7d`, `30d` (up to `400d`), a month like `2026-10`, a quarter "
              "like `2026Q3`, or `12m` for the past twelve months.")
# The one grammar of a report's period (`/chargebox report`, `thorbot report` and `parse_period` read it alike):
# its shape here, its range (400 days at most, a month 1–12, a year 2000–2100) in `parse_period`. ASCII digits
# only: `١٢d` is not read as 12 days.
PERIOD = re.compile(r"(?P<days>\d{1,3})d|(?P<year>\d{4})-(?P<month>\d{2})|(?P<q_year>\d{4})q(?P<quarter>[1-4])|"
                    r"(?P<words>" + "|".join(YEAR_WORDS) + ")", re.IGNORECASE | re.ASCII)
# What is meant as a period even when it is not one (`13m`, `2026-13`, `2026Q5`, `١٢d`): refused as a period,
# never read as a box's name.
MEANT_AS_PERIOD = re.compile(r"\d+[dmy]|\d{4}-\d+|\d{4}q\d*", re.IGNORECASE)
MAX_DAYS = 400

PeriodShape = Literal["period", "meant", "other"]


def period_shape(word: str) -> PeriodShape:
    """How a word reads: a period's shape (whether it names a real one is `parse_period`'s to say), meant as a
    period though it cannot be one, or anything else (a box's name)."""
    word = word.strip()
    if PERIOD.fullmatch(word):
        return "period"
    return "meant" if MEANT_AS_PERIOD.fullmatch(word) else "other"


def is_quarter(word: str) -> bool:
    """`2026Q3`: a calendar quarter's shape (what EV-ChART is filed for)."""
    found = PERIOD.fullmatch(word.strip())
    return found is not None and found["quarter"] is not None


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def day_spans(first: date, last: date, zone: ZoneInfo) -> list[tuple[str, Span]]:
    """Each local day from `first` to `last` inclusive, as UTC spans (23 or 25 h on DST days)."""
    out = []
    day = first
    while day <= last:
        nxt = day + timedelta(days=1)
        out.append((day.isoformat(), Span(local_midnight(day, zone), local_midnight(nxt, zone))))
        day = nxt
    return out


def daily_period(label: str, first: date, last: date, zone_name: str) -> Period:
    """The local days from `first` to `last` inclusive, day by day."""
    days = day_spans(first, last, ZoneInfo(zone_name))
    return Period(label, Span(days[0][1].start, days[-1][1].end), tuple(s for _, s in days),
                  tuple(d for d, _ in days), zone_name)


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _months(months: list[date], zone: ZoneInfo) -> list[Span]:
    return [Span(local_midnight(m, zone), local_midnight(_month_start(m.year, m.month + 1), zone)) for m in months]


def parse_period(text: str, now: datetime, zone_name: str = "UTC") -> Period | None:
    """`7d`, `30d` (any `Nd` up to 400), `YYYY-MM` (a calendar month), `YYYYQn` (a calendar quarter, month
    by month) or `12m` (the past 12 calendar months, month by month, as NEVI counts); None when `text` is
    none of these."""
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    m = PERIOD.fullmatch(text.strip())
    if m is None:
        return None
    if m["days"] is not None and 1 <= int(m["days"]) <= MAX_DAYS:
        n = int(m["days"])
        return daily_period(f"last {n} days", today - timedelta(days=n - 1), today, zone_name)
    if m["month"] is not None and 1 <= int(m["month"]) <= 12 and 2000 <= int(m["year"]) <= 2100:
        first = date(int(m["year"]), int(m["month"]), 1)
        last = _month_start(first.year, first.month + 1) - timedelta(days=1)
        return daily_period(first.strftime("%B %Y"), first, last, zone_name)
    if m["quarter"] is not None and 2000 <= int(m["q_year"]) <= 2100:
        year, q = int(m["q_year"]), int(m["quarter"])
        months = [date(year, 3 * q - 2 + k, 1) for k in range(3)]
        steps = _months(months, zone)
        return Period(f"{year} Q{q}", Span(steps[0].start, steps[-1].end), tuple(steps),
                      tuple(m.strftime("%Y-%m") for m in months), zone_name, monthly=True, quarter=f"{year}Q{q}")
    if m["words"] is not None:
        months = [_month_start(today.year, today.month - k) for k in range(11, -1, -1)]
        steps = _months(months, zone)
        return Period("last 12 months", Span(steps[0].start, steps[-1].end), tuple(steps),
                      tuple(m.strftime("%Y-%m") for m in months), zone_name, monthly=True)
    return None


# --- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sessions:
    ok: int = 0
    failed: int = 0
    wh: int = 0

    @property
    def attempts(self) -> int:
        return self.ok + self.failed

    @property
    def success(self) -> float | None:
        return self.ok / self.attempts * 100 if self.attempts else None

    def __add__(self, other: Sessions) -> Sessions:
        return Sessions(self.ok + other.ok, self.failed + other.failed, self.wh + other.wh)


def percent(measured: float, down: float) -> float | None:
    """NEVI's formula on seconds: None when nothing was measured."""
    return max(0.0, min(100.0, (measured - down) / measured * 100)) if measured > 0 else None


@dataclass(frozen=True, slots=True)
class PortReport:
    port: int
    uptime: Uptime


@dataclass(frozen=True, slots=True)
class BoxReport:
    """A box as the rollup of its ports: `uptime` is the box's connectivity; `ports` each port's own figure
    (the one NEVI asks for), lowest first in `worst_port`."""

    box_id: str
    name: str
    uptime: Uptime
    steps: tuple[float | None, ...]   # the uptime % of each day (or month), for the strip
    sessions: Sessions | None = None
    down_now: bool = False
    ports: tuple[PortReport, ...] = ()
    over_cap: float = 0.0  # maintenance seconds this year beyond the cap, counted as outage

    @property
    def worst_port(self) -> PortReport | None:
        measured = [p for p in self.ports if p.uptime.percent is not None]
        return min(measured, key=lambda p: (p.uptime.percent, p.port)) if measured else None


@dataclass(frozen=True)
class Report:
    period: Period
    boxes: tuple[BoxReport, ...]   # worst first
    fleet: Uptime
    fleet_steps: tuple[float | None, ...]
    sessions: Sessions | None
    generated: datetime
    unknown: timedelta = ZERO       # fleet-wide: thorbot was not observing
    notes: tuple[str, ...] = field(default_factory=tuple)
    since: datetime | None = None   # history starts inside the period (the first box seen): measured from then
    unconfirmed: tuple[int, int] = (0, 0)  # drivers' reports nobody confirmed: (incidents, reports), in no figure


class ReportBuilder:
    """Builds a report one box at a time, so a big fleet's history never has to be held all at once."""

    def __init__(self, period: Period, unknown: list[Span], now: datetime, *, with_sessions: bool) -> None:
        self.period, self.now = period, now
        self.blind = _seconds(unknown)
        self.bounds = [(s.start.timestamp(), s.end.timestamp()) for s in period.steps]
        self.step_measured = [0.0] * len(self.bounds)
        self.step_down = [0.0] * len(self.bounds)
        self.rows: list[BoxReport] = []
        self.sessions: Sessions | None = Sessions() if with_sessions else None
        self.first_seen: float | None = None

    def add(self, history: BoxHistory, sessions: Sessions | None = None) -> None:
        box = _BoxMeasure(history, self.period.window, self.blind, self.now)
        whole = box.part(self.period.window.start, self.period.window.end)
        if whole.measured <= ZERO and whole.unknown <= ZERO:
            return  # not seen in this period at all (added after it, or never)
        if history.first_seen is not None:
            self.first_seen = min(self.first_seen or history.first_seen, history.first_seen)
        steps = []
        for k, (lo, hi) in enumerate(self.bounds):
            measured, down = box.step_seconds(lo, hi)
            self.step_measured[k] += measured
            self.step_down[k] += down
            steps.append(percent(measured, down))
        if sessions is not None and self.sessions is not None:
            self.sessions = self.sessions + sessions
        window = self.period.window
        ports = tuple(PortReport(p.port, _whole(history.port(p), window, self.blind, self.now) if p.own else whole)
                      for p in history.ports)
        self.rows.append(BoxReport(history.box_id, history.name, whole, tuple(steps), sessions, history.down_now,
                                   ports, history.over_cap))

    def finish(self) -> Report:
        rows = sorted(self.rows, key=lambda r: (r.uptime.percent if r.uptime.percent is not None else 101.0,
                                                -r.uptime.outages, r.name.lower()))
        fleet = combine([r.uptime for r in rows])
        steps = tuple(percent(m, d) for m, d in zip(self.step_measured, self.step_down, strict=True))
        window = self.period.window
        lo = max(window.start.timestamp(), self.first_seen) if self.first_seen else window.end.timestamp()
        hi = min(window.end.timestamp(), self.now.timestamp())
        since = datetime.fromtimestamp(self.first_seen, tz=UTC) \
            if self.first_seen is not None and self.first_seen > window.start.timestamp() else None
        return Report(self.period, tuple(rows), fleet, steps, self.sessions, self.now,
                      _td(_Sums(self.blind).within(lo, hi)), since=since)


def build_report(period: Period, histories: list[BoxHistory], unknown: list[Span], now: datetime,
                 sessions: dict[str, Sessions] | None = None) -> Report:
    """Every box over the period and each of its steps, worst first; the fleet as their sum."""
    builder = ReportBuilder(period, unknown, now, with_sessions=sessions is not None)
    for history in histories:
        builder.add(history, sessions.get(history.box_id) if sessions is not None else None)
    return builder.finish()


def grade(percent: float | None) -> str:
    """One emoji per day (or month): 🟩 ≥ 99 %, 🟨 ≥ 97 % (NEVI's bar), 🟥 below, ⬜ not measured."""
    if percent is None:
        return ":white_large_square:"
    if percent >= 99:
        return ":large_green_square:"
    if percent >= 97:
        return ":large_yellow_square:"
    return ":large_red_square:"
