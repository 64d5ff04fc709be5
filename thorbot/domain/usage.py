"""Is anyone charging here? A connector's usual use, and the rules that find the ones failing drivers while
their box looks fine (a dead payment terminal, a frozen screen, a status stuck on "occupied", a derated
power module). Pure: counts and times in, verdicts out.

**The baseline.** Each connector's charge starts are counted per hour of the week (168 hours, UTC), one
row per week, for the last four complete weeks (28 days) and the current one. Its usual rate for an
hour of the week is the mean of that hour over the complete weeks counted (at most four). Rows are
base-36 digits, one per hour (a connector starts at most 35 charges in an hour): 168 bytes a week.

**"Not charging anyone" (a quiet connector).** Starts are treated as a Poisson process with the
baseline's hour-of-week rates. The usual number of starts `Λ` since the connector's last start is the
sum of those rates over the hours in between; the chance of seeing none is `e^-Λ`. A connector is
quiet when, all at once:
- its box is online and heartbeating, and the connector is free (no charge running on it);
- it has enough history to judge: at least `min_starts` starts over at least `min_weeks` complete weeks
  (else its card says "not enough history to judge");
- the current hour is one it is normally used in (its usual rate is at least `idle_share` of its
  average hour's): never at night, or on a quiet Sunday, for a connector idle then;
- `e^-Λ` < `p_max` while a sibling connector at the same box started a charge since; a connector
  with no sibling to compare with needs `e^-Λ` < `p_max_alone` (no sibling can show the site is open).
  `Λ` is scaled down by how busy everyone else was meanwhile: its siblings (what they started ÷ what
  they usually start, smoothed) and the whole fleet (a holiday, a snowy day): a quiet site or a quiet
  day is not a broken connector. Each hour's rate is smoothed with its neighbours.
The incident dates from the last start and is resolved by the next start on that connector.
A driver's report on the connector (domain/driver_reports.py) makes the judgement immediate: in the cycle that
counts it, `e^-Λ` < `p_reported` is enough (the driver standing there shows the site is open, so no sibling
need have charged); the history and usual-hour conditions stay.

**"Occupied without a charge".** Thor lists the connector as occupied for longer than `after`
while no charge runs on it: a stuck status, a cable left in, a blocked bay. One quiet notice per
episode (the episode ends when it is free or a charge runs).

**"Charging slowly"** (DC connectors). Each of its last `sessions` charges of at least `min_minutes`
ran (energy ÷ time) below `own_share` of its own usual median, and their median below `rated_share`
of its rated power. One slow car is not a fault: it takes five slow charges in a row. One quiet
notice, until a charge at normal speed.

**Health at a glance** ("connector health"): 🔴 *failing* when an incident is open on it (failed
starts, not charging anyone) or its box is down; 🟡 *watch* when it charges slowly, is occupied
without a charge, or fewer than 80 % of its last 7 days' attempts delivered a charge (at least 5
attempts); ⚪ *unknown* when there is too little history to judge; 🟢 *good* otherwise. The reason
comes with the grade ("no start for 9 h; usually 6 by now").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from thorbot.domain.incidents import Incident, Opened, Resolved

HOUR = 3600.0
WEEK_HOURS = 168
WINDOW_WEEKS = 4
MONDAY = 345_600.0  # 1970-01-05 00:00 UTC: hour-of-week 0 is Monday 00:00 UTC
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_PER_HOUR = len(DIGITS) - 1
EMPTY_WEEK = "0" * WEEK_HOURS
MAX_CHARGE_W = 1_000_000.0  # no charger delivers more; an average above this is bad data
MAX_POWERS = 40  # recent charges' average powers kept per connector


def hour_at(t: float) -> int:
    """The absolute hour (since a Monday 00:00 UTC) an epoch time falls in."""
    return int((t - MONDAY) // HOUR)


def week_of(t: float) -> int:
    return hour_at(t) // WEEK_HOURS


class Usage(BaseModel):
    """One connector's charge starts by hour of the week, its last start, and since when it is counted."""

    model_config = ConfigDict(frozen=True)

    since: float                  # epoch s: counting began (seeded from history, or first seen)
    last: float | None = None     # epoch s: the last start
    weeks: dict[int, str] = {}    # week number → 168 base-36 digits
    powers: tuple[float, ...] = ()  # average W of recent charges of ≥ 10 min, oldest first
    quiet: Incident | None = None   # the open "not charging anyone" incident
    occupied_since: float | None = None  # listed occupied with no charge running since (epoch s)
    occupied_told: bool = False     # this occupied episode's notice is out
    slow_told: bool = False         # the "charging slowly" notice is out (until a charge at normal speed)

    def started(self, at: float) -> Usage:
        """Count a start (a start before `since` extends the history back: seeding)."""
        week, hour = divmod(hour_at(at), WEEK_HOURS)
        row = self.weeks.get(week, EMPTY_WEEK)
        count = min(MAX_PER_HOUR, DIGITS.index(row[hour]) + 1)
        weeks = {**self.weeks, week: row[:hour] + DIGITS[count] + row[hour + 1:]}
        newest = max(weeks)
        weeks = {w: r for w, r in weeks.items() if w > newest - WINDOW_WEEKS - 1}
        return self.model_copy(update={"weeks": weeks, "last": at if self.last is None else max(self.last, at),
                                       "since": min(self.since, at)})

    def starts_between(self, start: float, end: float) -> int:
        """Starts counted after `start` up to `end`, from the hourly counts (the hour of `start` is left out:
        its starts may be before it), and at least one if its last start is in between."""
        total = 0
        for h in range(hour_at(start) + 1, hour_at(end) + 1):
            week, hour = divmod(h, WEEK_HOURS)
            row = self.weeks.get(week)
            if row is not None and row[hour] != "0":
                total += DIGITS.index(row[hour])
        return max(total, 1 if self.last is not None and start < self.last <= end else 0)

    def charged(self, power_w: float) -> Usage:
        return self.model_copy(update={"powers": (*self.powers, power_w)[-MAX_POWERS:]})

    def rates(self, now: float) -> Rates:
        """Usual starts per hour of the week, over the complete weeks counted before `now`'s week; each hour
        is the mean of itself and its two neighbours (four weeks give an hour only four samples)."""
        current = week_of(now)
        first_full = week_of(self.since) + (0 if (self.since - MONDAY) % (WEEK_HOURS * HOUR) == 0 else 1)
        weeks = [w for w in range(max(first_full, current - WINDOW_WEEKS), current)]
        if not weeks:
            return Rates((0.0,) * WEEK_HOURS, 0, 0)
        sums = [0] * WEEK_HOURS
        for week in weeks:
            row = self.weeks.get(week)
            if row:
                for hour, digit in enumerate(row):
                    if digit != "0":
                        sums[hour] += DIGITS.index(digit)
        raw = [s / len(weeks) for s in sums]
        smooth = tuple((raw[h - 1] + raw[h] + raw[(h + 1) % WEEK_HOURS]) / 3 for h in range(WEEK_HOURS))
        return Rates(smooth, len(weeks), sum(sums))


@dataclass(frozen=True)
class Rates:
    per_hour: tuple[float, ...]  # usual starts in each hour of the week
    weeks: int                   # complete weeks they are the mean of
    starts: int                  # starts counted in those weeks

    def __post_init__(self) -> None:
        prefix = [0.0]
        for rate in self.per_hour:
            prefix.append(prefix[-1] + rate)
        object.__setattr__(self, "_prefix", prefix)

    def _cumulative(self, t: float) -> float:
        prefix: list[float] = self._prefix  # type: ignore[attr-defined]
        hours = (t - MONDAY) / HOUR
        weeks, within = divmod(hours, WEEK_HOURS)
        whole = int(within)
        return weeks * prefix[-1] + prefix[whole] + self.per_hour[whole % WEEK_HOURS] * (within - whole)

    def expected(self, start: float, end: float) -> float:
        """Usual starts between two times."""
        return max(0.0, self._cumulative(end) - self._cumulative(start)) if end > start else 0.0

    def now(self, t: float) -> float:
        return self.per_hour[hour_at(t) % WEEK_HOURS]

    @property
    def hourly_mean(self) -> float:
        return sum(self.per_hour) / WEEK_HOURS


@dataclass(frozen=True)
class QuietRules:
    p_max: float = 1e-6         # P(no start in the gap) below this, with a sibling charging meanwhile
    p_max_alone: float = 1e-8   # … and below this for a connector with no sibling to compare with
    min_starts: int = 20        # starts in the weeks counted, at least
    min_weeks: int = 2          # complete weeks counted, at least
    idle_share: float = 0.5     # usual starts this hour below this share of its average hour: normally idle now
    p_reported: float = 0.05    # P(no start in the gap) below this when a driver has just reported it


@dataclass(frozen=True)
class Context:
    """How busy everyone else was since a connector's last start: its box's other connectors (the charges
    they started, None: it has none, against the charges they usually start), and the whole fleet over the
    same stretch (what it charged ÷ what it usually charges then; 1 = as
    usual, see `FleetPace`)."""

    siblings_started: int | None = None
    siblings_expected: float = 0.0
    fleet_ratio: float = 1.0

    def scale(self) -> float:
        """How much of the usual traffic there was around it: a holiday, a closed site, a quiet evening."""
        scale = min(1.0, max(0.0, self.fleet_ratio))
        if self.siblings_started is not None:
            # Counts of starts vary by about their square root: only siblings clearly quieter than usual
            # (a closed car park, not an ordinary slow afternoon) scale the connector's own expectation down.
            started = self.siblings_started + 2 * math.sqrt(self.siblings_started)
            scale *= min(1.0, (started + 1) / (self.siblings_expected + 1))
        return scale


QuietState = Literal["unjudged", "idle", "ok", "quiet"]


@dataclass(frozen=True)
class QuietCheck:
    state: QuietState
    expected: float = 0.0       # usual starts since the last one (scaled by how busy everyone else was)
    hours: float = 0.0          # since the last start
    reason: str = ""
    starts: int = 0             # unjudged: the starts its baseline counted (complete weeks only)


def check_quiet(usage: Usage | None, now: float, rules: QuietRules, *, context: Context,
                rates: Rates | None = None, reported: bool = False) -> QuietCheck:
    """Whether a free connector on a healthy box has been quiet for too long (see the module docstring).

    `rates`: `usage.rates(now)` if the caller has it already (it changes only with a start or a new week).
    `reported`: a driver reported it this cycle (the looser `p_reported` applies).
    """
    if usage is None or usage.last is None:
        return QuietCheck("unjudged", reason="not enough history to judge: no charge seen yet")
    rates = rates or usage.rates(now)
    if rates.weeks < rules.min_weeks or rates.starts < rules.min_starts:
        return QuietCheck("unjudged", starts=rates.starts, reason=(
            f"not enough history to judge whether it is idle ({rates.starts} charges started in the {rates.weeks} "
            f"complete weeks counted, Monday to Sunday UTC; it needs {rules.min_starts} over {rules.min_weeks})"))
    expected = rates.expected(usage.last, now) * context.scale()
    hours = (now - usage.last) / HOUR
    if rates.now(now) < rules.idle_share * rates.hourly_mean:
        return QuietCheck("idle", expected, hours, "normally idle at this hour")
    chance = math.exp(-expected)
    alone = context.siblings_started is None
    if reported and chance < rules.p_reported:
        return QuietCheck("quiet", expected, hours, f"no start for {_hours(hours)}; usually {_count(expected)} by "
                                                    "now, and a driver reported it")
    if chance >= (rules.p_max_alone if alone else rules.p_max) or (not alone and not context.siblings_started):
        return QuietCheck("ok", expected, hours)
    return QuietCheck("quiet", expected, hours,
                      f"no start for {_hours(hours)}; usually {_count(expected)} by now")


@dataclass(frozen=True)
class SlowRules:
    rated_share: float = 0.5     # below this share of the rated power…
    own_share: float = 0.5       # … and of its own 28-day median
    sessions: int = 5            # the last this many charges
    min_minutes: float = 10.0    # of at least this long


def average_power(energy_wh: int | None, minutes: float) -> float | None:
    """A finished charge's average power (W), or None when it says nothing about the charger."""
    if energy_wh is None or energy_wh < 0 or minutes <= 0:
        return None
    power = energy_wh / (minutes / 60)
    return power if power <= MAX_CHARGE_W else None  # absurd (a clock jump, a meter reset): says nothing


def is_slow(powers: Sequence[float], rated_w: float | None, rules: SlowRules) -> bool:
    """Each of its last charges ran below half its own usual median, and their median below half its rated
    power: a run of slow cars, not one."""
    if len(powers) < 2 * rules.sessions:
        return False
    recent = powers[-rules.sessions:]
    usual = statistics.median(powers[:-rules.sessions])
    under_rated = rated_w is None or statistics.median(recent) < rules.rated_share * rated_w
    return under_rated and all(p < rules.own_share * usual for p in recent)


@dataclass(frozen=True)
class OccupiedRules:
    after: float = 45 * 60.0  # seconds listed as occupied with no charge running before a notice


def occupied_without_charge(since: float | None, *, occupied: bool, charging: bool, now: float
                            ) -> float | None:
    """When the current episode of "occupied, no charge running" began (None: not in one)."""
    if not occupied or charging:
        return None
    return since if since is not None else now


Grade = Literal["good", "watch", "failing", "unknown"]
GRADE_ORDER: dict[Grade, int] = {"failing": 0, "watch": 1, "unknown": 2, "good": 3}
GRADE_ICON: dict[Grade, str] = {"failing": ":red_circle:", "watch": ":large_yellow_circle:",
                                "unknown": ":white_circle:", "good": ":large_green_circle:"}


@dataclass(frozen=True)
class Health:
    grade: Grade
    reason: str


def connector_health(*, box_down: bool, open_incident: str | None, quiet: QuietCheck | None, slow: bool,
                     occupied_stuck: bool, success_7d: tuple[int, int] | None) -> Health:
    """The connector's grade and why (the rule is in the module docstring)."""
    if box_down:
        return Health("failing", "its box is offline")
    if open_incident == "failed_starts":
        return Health("failing", "charges keep failing to start")
    if open_incident == "quiet" or (quiet is not None and quiet.state == "quiet"):
        return Health("failing", quiet.reason if quiet is not None and quiet.reason else "not charging anyone")
    if slow:
        return Health("watch", "charging slowly")
    if occupied_stuck:
        return Health("watch", "occupied without a charge")
    if success_7d is not None and success_7d[1] >= 5 and success_7d[0] < 0.8 * success_7d[1]:
        return Health("watch", f"{success_7d[0]}/{success_7d[1]} attempts charged in 7 days")
    if quiet is not None and quiet.state == "unjudged":
        if success_7d is not None and success_7d[1] > quiet.starts:
            # The card shows these attempts next to this line: a count of the baseline's complete weeks only
            # ("0 charges") would read as a contradiction of them.
            return Health("unknown", "not enough history to judge whether it is idle: its usual use is learnt "
                                     "from complete weeks (Monday to Sunday UTC), and too few are counted yet")
        return Health("unknown", quiet.reason)
    return Health("good", "charging as usual")


def sibling_context(usages: Mapping[int, Usage], connector: int, now: float, rates_of: Callable[[int], Rates],
                    fleet_ratio: float = 1.0) -> Context:
    """How busy a connector's siblings at its box were since its last start (the charges they started, and
    the number they usually start in that time), with the fleet's pace."""
    since = usages[connector].last or now
    siblings = [c for c in usages if c != connector]
    if not siblings:
        return Context(None, 0.0, fleet_ratio)
    started = sum(usages[c].starts_between(since, now) for c in siblings)
    expected = sum(rates_of(c).expected(since, now) for c in siblings)
    return Context(started, expected, fleet_ratio)


def box_health(usages: Mapping[int, Usage], connectors: Sequence[int], now: float, rules: QuietRules, *,
               box_down: bool, failing: Sequence[int] = (), success_7d: Mapping[int, tuple[int, int]] | None = None,
               judge_quiet: bool = True) -> dict[int, Health]:
    """Each connector's grade and why, for a card, a list or App Home (from what Redis holds).

    `judge_quiet=False` (a fleet-wide list) grades from what the worker decided (open incidents, notices
    out) without working out every baseline again: "unknown" and "good" are then not told apart."""
    rates = {c: u.rates(now) for c, u in usages.items()} if judge_quiet else {}
    out: dict[int, Health] = {}
    for number in connectors:
        usage = usages.get(number)
        quiet = None
        if not judge_quiet:
            pass
        elif usage is not None and usage.quiet is None and not box_down:
            quiet = check_quiet(usage, now, rules, rates=rates[number],
                                context=sibling_context(usages, number, now, rates.__getitem__))
        elif usage is None:
            quiet = check_quiet(None, now, rules, context=Context())
        open_incident = ("failed_starts" if number in failing else
                         "quiet" if usage is not None and usage.quiet is not None else None)
        if open_incident == "quiet" and usage is not None and usage.quiet is not None and usage.last is not None:
            quiet = QuietCheck("quiet", hours=(now - usage.last) / HOUR,
                               reason=usage.quiet.evidence or f"no start for {_hours((now - usage.last) / HOUR)}")
        out[number] = connector_health(box_down=box_down, open_incident=open_incident, quiet=quiet,
                                       slow=bool(usage and usage.slow_told),
                                       occupied_stuck=bool(usage and usage.occupied_told),
                                       success_7d=(success_7d or {}).get(number))
    return out


def _hours(hours: float) -> str:
    return f"{hours:.0f} h" if hours >= 1.5 else f"{hours * 60:.0f} min"


def _count(expected: float) -> str:
    return f"{expected:.0f}" if expected >= 2 else f"{expected:.1f}"


@dataclass(frozen=True)
class Notice:
    """A quiet, once-per-episode notice about a connector (no incident, no mention)."""

    kind: Literal["occupied", "slow"]
    since: float
    detail: str


def on_start(usage: Usage | None, at: float) -> tuple[Usage, list[Opened | Resolved]]:
    """A charge started (or a driver tried to start one): counted, and a quiet connector is charging again."""
    counted = (usage or Usage(since=at)).started(at)
    if counted.quiet is None:
        return counted, []
    resolved = counted.quiet.model_copy(update={"resolved": _when(at)})
    return counted.model_copy(update={"quiet": None}), [Resolved(resolved)]


@dataclass(frozen=True)
class ConnectorNow:
    """What a poll cycle knows about one connector of a watched box."""

    box_id: str
    connector: int
    alias: str | None
    online: bool         # its box is online and heartbeating
    charging: bool       # a charge runs on it
    occupied: bool       # Thor lists it as occupied
    context: Context     # how busy its siblings and the fleet were since its last start


def judge_connector(usage: Usage, now: float, c: ConnectorNow, quiet_rules: QuietRules,
                    occupied_rules: OccupiedRules, rates: Rates | None = None, *, reported: bool = False
                    ) -> tuple[Usage, list[Opened | Resolved], list[Notice]]:
    """Open a quiet incident, or send the occupied notice, when due (the rules are in the module docstring).
    `reported`: a driver reported this connector in this cycle."""
    events: list[Opened | Resolved] = []
    notices: list[Notice] = []
    since = occupied_without_charge(usage.occupied_since, occupied=c.occupied, charging=c.charging, now=now)
    told = usage.occupied_told if since is not None else False
    if since is not None and not told and now - since >= occupied_rules.after:
        notices.append(Notice("occupied", since, f"listed as occupied for {_hours((now - since) / HOUR)} with no "
                                                 "charge running"))
        told = True
    if since != usage.occupied_since or told != usage.occupied_told:
        usage = usage.model_copy(update={"occupied_since": since, "occupied_told": told})
    if usage.quiet is None and c.online and not c.charging and not c.occupied:
        check = check_quiet(usage, now, quiet_rules, context=c.context, rates=rates, reported=reported)
        if check.state == "quiet" and usage.last is not None:
            started = c.context.siblings_started
            sibling = (f"; meanwhile its box's other connectors started {started} charge"
                       f"{'' if started == 1 else 's'}" if started else "")
            incident = Incident(id=f"{c.box_id}#{c.connector}@{int(usage.last)}:quiet", box_id=c.box_id,
                                alias=c.alias, kind="quiet", started=_when(usage.last), opened=_when(now),
                                connector=c.connector, evidence=check.reason + sibling)
            usage = usage.model_copy(update={"quiet": incident})
            events.append(Opened(incident))
    return usage, events, notices


def on_charge(usage: Usage, power_w: float, rated_w: float | None, rules: SlowRules) -> tuple[Usage, list[Notice]]:
    """A charge of at least `rules.min_minutes` finished at `power_w` on a DC connector."""
    usage = usage.charged(power_w)
    slow = is_slow(usage.powers, rated_w, rules)
    if slow and not usage.slow_told:
        recent = statistics.median(usage.powers[-rules.sessions:])
        usual = statistics.median(usage.powers[:-rules.sessions])
        detail = (f"its last {rules.sessions} charges ran at {recent / 1000:.0f} kW (median), "
                  f"against {usual / 1000:.0f} kW usually" + (f" and {rated_w / 1000:.0f} kW rated" if rated_w else ""))
        return usage.model_copy(update={"slow_told": True}), [Notice("slow", usage.last or 0.0, detail)]
    if not slow and usage.slow_told and power_w >= rules.own_share * statistics.median(usage.powers):
        return usage.model_copy(update={"slow_told": False}), []
    return usage, []


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class FleetPace:
    """The fleet's starts against its usual starts, hour by hour: how busy a stretch of time was for everyone
    (a public holiday, a snowstorm). Hours without figures count as usual."""

    def __init__(self) -> None:
        self.actual: dict[int, float] = {}
        self.usual: dict[int, float] = {}

    def record(self, hour: int, actual: float, usual: float) -> None:
        self.actual[hour], self.usual[hour] = actual, usual
        for old in [h for h in self.actual if h < hour - 24 * 7 * WINDOW_WEEKS]:
            self.actual.pop(old, None)
            self.usual.pop(old, None)

    def ratio(self, start: float, end: float) -> float:
        """Starts ÷ usual starts over [start, end) (1.0 when nothing is known)."""
        hours = range(hour_at(start), hour_at(end) + 1)
        actual = sum(self.actual.get(h, 0.0) for h in hours if h in self.usual)
        usual = sum(self.usual.get(h, 0.0) for h in hours)
        return actual / usual if usual > 0 else 1.0
