"""Uptime arithmetic for reliability reports. Pure: spans of time in, figures out.

The US NEVI rule (23 CFR 680.116(b)) asks for > 97 % uptime per port, computed monthly over the past
12 months as

    uptime % = ((minutes − (outage − excluded)) / minutes) × 100

where `minutes` is the period's length, `outage` the minutes the port was down and `excluded` the
outage minutes with an accepted outside cause (planned maintenance among them).

thorbot measures *connectivity*: a box is down while it has an open offline or silent incident
(Thor exposes no connector fault state, so the figure is labelled "connectivity uptime"). On top
of the formula:

- `excluded` is the part of the outage inside a mute (maintenance) window of that box;
- time when thorbot itself was not observing (no successful poll: thorbot down, Thor failing) is
  *unknown*: neither up nor down, it is taken out of both `minutes` and `outage`;
- a box is measured from its first sighting: a box added mid-month is not down before it existed.

Hence 0 ≤ excluded ≤ outage ≤ minutes and the percentage lies in [0, 100]. Day and month boundaries
are local to a time zone, so a DST day has 23 or 25 hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

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


def merge(spans: list[Span]) -> list[Span]:
    """Sorted, non-overlapping, non-empty spans covering the same time."""
    out: list[Span] = []
    for span in sorted(s for s in spans if s.end > s.start):
        if out and span.start <= out[-1].end:
            if span.end > out[-1].end:
                out[-1] = Span(out[-1].start, span.end)
        else:
            out.append(span)
    return out


def clip(spans: list[Span], window: Span) -> list[Span]:
    return merge([Span(max(s.start, window.start), min(s.end, window.end)) for s in spans])


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    a, b = merge(a), merge(b)
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if end > start:
            out.append(Span(start, end))
        if a[i].end < b[j].end:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Span], b: list[Span]) -> list[Span]:
    """The time in `a` that is not in `b`."""
    out: list[Span] = []
    b = merge(b)
    for span in merge(a):
        cursor = span.start
        for cut in b:
            if cut.end <= cursor or cut.start >= span.end:
                continue
            if cut.start > cursor:
                out.append(Span(cursor, cut.start))
            cursor = max(cursor, cut.end)
        if cursor < span.end:
            out.append(Span(cursor, span.end))
    return out


def total(spans: list[Span]) -> timedelta:
    return sum((s.length for s in merge(spans)), ZERO)


@dataclass(frozen=True)
class Outage:
    """One incident as history keeps it: its kind and when; `end` None while it is still open."""

    kind: str
    start: datetime
    end: datetime | None = None
    connector: int | None = None

    def span(self, now: datetime) -> Span:
        return Span(self.start, self.end or now)


@dataclass(frozen=True)
class BoxHistory:
    box_id: str
    name: str
    first_seen: datetime | None
    incidents: tuple[Outage, ...] = ()
    maintenance: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Uptime:
    """One box (or the fleet) over one window."""

    measured: timedelta            # the window less unknown time: NEVI's `minutes`
    outage: timedelta              # down, within measured time
    excluded: timedelta            # outage inside maintenance windows
    unknown: timedelta             # thorbot was not observing
    outages: int = 0               # incidents overlapping the window
    longest: timedelta = ZERO
    repair_times: tuple[timedelta, ...] = ()  # durations of the outages that ended in the window

    @property
    def percent(self) -> float | None:
        """NEVI's ((minutes − (outage − excluded)) / minutes) × 100; None when nothing was measured."""
        if self.measured <= ZERO:
            return None
        counted = self.outage - self.excluded
        return max(0.0, min(100.0, (self.measured - counted) / self.measured * 100))

    @property
    def downtime(self) -> timedelta:
        return self.outage - self.excluded

    @property
    def mttr(self) -> timedelta | None:
        if not self.repair_times:
            return None
        return sum(self.repair_times, ZERO) / len(self.repair_times)

    def __add__(self, other: Uptime) -> Uptime:
        return Uptime(self.measured + other.measured, self.outage + other.outage, self.excluded + other.excluded,
                      self.unknown + other.unknown, self.outages + other.outages, max(self.longest, other.longest),
                      self.repair_times + other.repair_times)


NOTHING = Uptime(ZERO, ZERO, ZERO, ZERO)


def measure(history: BoxHistory, window: Span, unknown: list[Span], now: datetime) -> Uptime:
    """A box's connectivity uptime over `window` (see the module docstring for the rules)."""
    start = max(window.start, history.first_seen) if history.first_seen else window.end
    live = Span(start, min(window.end, now))
    if live.end <= live.start:
        return NOTHING
    blind = clip(unknown, live)
    outages = [o for o in history.incidents if o.kind in OUTAGE_KINDS]
    down = subtract(clip([o.span(now) for o in outages], live), blind)
    excluded = intersect(down, clip(list(history.maintenance), live))
    overlapping = [o for o in outages if o.start < live.end and o.span(now).end > live.start]
    clipped = [Span(max(o.start, live.start), min(o.span(now).end, live.end)).length for o in overlapping]
    ended = [o.span(now).length for o in overlapping if o.end is not None and live.start <= o.end <= live.end]
    return Uptime(measured=live.length - total(blind), outage=total(down), excluded=total(excluded),
                  unknown=total(blind), outages=len(overlapping), longest=max(clipped, default=ZERO),
                  repair_times=tuple(ended))


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


_DAYS = re.compile(r"^(\d{1,3})d$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_DAYS = 400


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


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(text: str, now: datetime, zone_name: str = "UTC") -> Period | None:
    """`7d`, `30d` (any `Nd` up to 400), `YYYY-MM` (a calendar month) or `12m` (the past 12 calendar
    months, month by month, as NEVI counts); None when `text` is none of these."""
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    text = text.strip().lower()
    if (m := _DAYS.match(text)) and 1 <= int(m.group(1)) <= MAX_DAYS:
        n = int(m.group(1))
        days = day_spans(today - timedelta(days=n - 1), today, zone)
        return Period(f"last {n} days", Span(days[0][1].start, days[-1][1].end), tuple(s for _, s in days),
                      tuple(d for d, _ in days), zone_name)
    if (m := _MONTH.match(text)) and 1 <= int(m.group(2)) <= 12 and 2000 <= int(m.group(1)) <= 2100:
        first = date(int(m.group(1)), int(m.group(2)), 1)
        last = _month_start(first.year, first.month + 1) - timedelta(days=1)
        days = day_spans(first, last, zone)
        return Period(first.strftime("%B %Y"), Span(days[0][1].start, days[-1][1].end),
                      tuple(s for _, s in days), tuple(d for d, _ in days), zone_name)
    if text in ("12m", "1y", "year", "nevi"):
        months = [_month_start(today.year, today.month - k) for k in range(11, -1, -1)]
        steps = [Span(local_midnight(m, zone), local_midnight(_month_start(m.year, m.month + 1), zone))
                 for m in months]
        return Period("last 12 months", Span(steps[0].start, steps[-1].end), tuple(steps),
                      tuple(m.strftime("%Y-%m") for m in months), zone_name, monthly=True)
    return None


# --- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True)
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


@dataclass(frozen=True)
class BoxReport:
    box_id: str
    name: str
    uptime: Uptime
    steps: tuple[Uptime, ...]
    sessions: Sessions | None = None
    down_now: bool = False


@dataclass(frozen=True)
class Report:
    period: Period
    boxes: tuple[BoxReport, ...]   # worst first
    fleet: Uptime
    fleet_steps: tuple[Uptime, ...]
    sessions: Sessions | None
    generated: datetime
    unknown: timedelta = ZERO       # fleet-wide: thorbot was not observing
    notes: tuple[str, ...] = field(default_factory=tuple)


def build_report(period: Period, histories: list[BoxHistory], unknown: list[Span], now: datetime,
                 sessions: dict[str, Sessions] | None = None) -> Report:
    """Every box over the period and each of its steps, worst first; the fleet as their sum."""
    rows = []
    for history in histories:
        whole = measure(history, period.window, unknown, now)
        if whole.measured <= ZERO and whole.unknown <= ZERO:
            continue  # not seen in this period at all (added after it, or never)
        steps = tuple(measure(history, step, unknown, now) for step in period.steps)
        down_now = any(o.end is None and o.kind in OUTAGE_KINDS for o in history.incidents)
        rows.append(BoxReport(history.box_id, history.name, whole, steps,
                              sessions.get(history.box_id) if sessions is not None else None, down_now))
    rows.sort(key=lambda r: (r.uptime.percent if r.uptime.percent is not None else 101.0, -r.uptime.outages,
                             r.name.lower()))
    fleet = sum((r.uptime for r in rows), NOTHING)
    fleet_steps = tuple(sum((r.steps[i] for r in rows), NOTHING) for i in range(len(period.steps)))
    fleet_sessions = sum((r.sessions for r in rows if r.sessions), Sessions()) if sessions is not None else None
    blind = total(clip(unknown, Span(period.window.start, min(period.window.end, now))))
    return Report(period, tuple(rows), fleet, fleet_steps, fleet_sessions, now, blind)


def grade(percent: float | None) -> str:
    """One emoji per day (or month): 🟩 ≥ 99 %, 🟨 ≥ 97 % (NEVI's bar), 🟥 below, ⬜ not measured."""
    if percent is None:
        return ":white_large_square:"
    if percent >= 99:
        return ":large_green_square:"
    if percent >= 97:
        return ":large_yellow_square:"
    return ":large_red_square:"
