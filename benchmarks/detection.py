"""Detection quality: does thorbot find the connectors that fail drivers while the box looks fine?

    python -m benchmarks.detection [--boxes 500] [--days 30] [--seed 1] [--json]

A simulated fleet (thorbot/sim/usage.py: per-site popularity, daily and weekly rhythm, idle nights,
rural boxes, holidays, slow cars, the night tariff, cars left plugged in) runs for 28 days of history,
then 30 days in which faults of each kind start at random times: dead payment terminals, statuses
stuck on "occupied", derated DC modules. The replay feeds every start, every finished charge and every
poll's view of each connector to the same pure judging code the worker runs (domain/usage.py), on a
simulated clock, every 10 minutes: nothing sleeps. It prints, per kind: recall, precision, median time
to detect (in hours, and in drivers who tried meanwhile), and false alerts per 1,000 connector-days.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from thorbot.domain.usage import (
    MONDAY,
    ConnectorNow,
    Context,
    FleetPace,
    OccupiedRules,
    QuietRules,
    Rates,
    SlowRules,
    Usage,
    average_power,
    hour_at,
    judge_connector,
    on_charge,
    on_start,
    sibling_context,
    week_of,
)
from thorbot.sim.usage import Charge, World, simulate

STEP = 600.0
FLEET_WINDOW = 6 * 3600.0
HISTORY_DAYS = 28
KIND_OF_FAULT = {"quiet": "dead_terminal", "occupied": "stuck_occupied", "slow": "derated"}


@dataclass
class Alarm:
    kind: str
    box_id: str
    connector: int
    at: float
    blocked: bool = False  # an occupied notice for a car left plugged in long after its charge (right, not a fault)


@dataclass
class Replay:
    world: World
    alarms: list[Alarm] = field(default_factory=list)
    usage: dict[tuple[str, int], Usage] = field(default_factory=dict)
    rates: dict[tuple[str, int], tuple[int, Rates]] = field(default_factory=dict)
    quiet: QuietRules = field(default_factory=QuietRules)


def run(boxes: int, days: int, seed: int, p_max: float = QuietRules.p_max) -> dict[str, Any]:
    started = time.perf_counter()
    start = datetime(2026, 8, 3, tzinfo=UTC)  # a Monday
    world = simulate(boxes, start, HISTORY_DAYS + days, seed=seed, faults=max(3, boxes // 10),
                     fault_from_day=HISTORY_DAYS)
    replay = Replay(world, quiet=QuietRules(p_max=p_max, p_max_alone=p_max / 100))
    t0 = start.timestamp()
    test_from = t0 + HISTORY_DAYS * 86400
    for port in world.ports:
        replay.usage[(port.box_id, port.connector)] = Usage(since=t0)
    charges = world.charges
    # History: the baseline is seeded from the finished charges of the 28 days before (as the worker does).
    cut = bisect.bisect_left([c.start for c in charges], test_from)
    for charge in charges[:cut]:
        key = (charge.box_id, charge.connector)
        replay.usage[key] = replay.usage[key].started(charge.start)
        _charged(replay, charge)
    _judge_window(replay, charges[cut:], test_from, test_from + days * 86400)
    result: dict[str, Any] = {"kinds": _score(replay, test_from, days)}
    result.update({"p_max": p_max, "boxes": boxes, "connectors": len(world.ports), "days": days, "seed": seed,
                   "charges": len(charges) - cut, "wall_s": time.perf_counter() - started})
    return result


def _charged(replay: Replay, charge: Charge) -> list[Alarm]:
    """A finished charge: a DC connector's average power goes into its record (slow charging)."""
    key = (charge.box_id, charge.connector)
    spec = _ports(replay)[key]
    if not spec.dc or charge.minutes < SlowRules().min_minutes:
        return []
    power = average_power(charge.energy_wh, charge.minutes)
    if power is None:
        return []
    replay.usage[key], notices = on_charge(replay.usage[key], power, spec.rated_w, SlowRules())
    return [Alarm("slow", charge.box_id, charge.connector, charge.end) for _ in notices]


_PORTS: dict[int, dict[tuple[str, int], Any]] = {}


def _ports(replay: Replay) -> dict[tuple[str, int], Any]:
    cached = _PORTS.get(id(replay.world))
    if cached is None:
        cached = _PORTS[id(replay.world)] = {(p.box_id, p.connector): p for p in replay.world.ports}
    return cached


def _judge_window(replay: Replay, charges: list[Charge], start: float, end: float) -> None:  # noqa: C901
    """Every 10 minutes: the starts and finished charges since, then each connector as a poll sees it."""
    world = replay.world
    by_box: dict[str, list[int]] = defaultdict(list)
    for port in world.ports:
        by_box[port.box_id].append(port.connector)
    stuck = defaultdict(list)
    for fault in world.faults:
        if fault.kind == "stuck_occupied":
            stuck[(fault.box_id, fault.connector)].append((fault.start, fault.end))
    running: dict[tuple[str, int], Charge] = {}
    ending: list[Charge] = []
    recent_starts: list[float] = []
    pace, next_fleet = FleetPace(), start
    i, t = 0, start
    quiet_rules, occupied_rules = replay.quiet, OccupiedRules()
    while t < end:
        step_end = t + STEP
        while i < len(charges) and charges[i].start < step_end:
            charge = charges[i]
            i += 1
            key = (charge.box_id, charge.connector)
            replay.usage[key], _ = on_start(replay.usage[key], charge.start)
            running[key] = charge
            ending.append(charge)
            recent_starts.append(charge.start)
        still = []
        for charge in ending:
            if charge.end < step_end:
                replay.alarms += _charged(replay, charge)
            else:
                still.append(charge)
        ending = still
        if step_end >= next_fleet:  # the fleet's pace, hour by hour
            hour = hour_at(step_end) - 1
            begin = MONDAY + hour * 3600.0
            actual = sum(1 for x in recent_starts if begin <= x < begin + 3600)
            usual = sum(_rates(replay, k, u, step_end).expected(begin, begin + 3600)
                        for k, u in replay.usage.items())
            pace.record(hour, actual, usual)
            recent_starts = [x for x in recent_starts if x >= begin + 3600]
            next_fleet = MONDAY + (hour + 2) * 3600.0
        for box_id, connectors in by_box.items():
            for connector in connectors:
                key = (box_id, connector)
                usage = replay.usage[key]
                charge = running.get(key)
                charging = charge is not None and charge.end > step_end
                plugged = charge is not None and charge.end <= step_end < charge.end + charge.plugged_after_min * 60
                stuck_now = any(a <= step_end < b for a, b in stuck.get(key, ()))
                occupied = charging or plugged or stuck_now
                context = _context(replay, box_id, connector, connectors, step_end, pace)
                now = ConnectorNow(box_id, connector, None, online=True, charging=charging, occupied=occupied,
                                   context=context)
                rates = _rates(replay, key, usage, step_end)
                judged, events, notices = judge_connector(usage, step_end, now, quiet_rules, occupied_rules, rates)
                replay.usage[key] = judged
                replay.alarms += [Alarm("quiet", box_id, connector, step_end) for e in events
                                  if e.incident.resolved is None]
                for notice in notices:
                    # A car left plugged in for long after its charge is a blocked bay: the notice is right.
                    right = stuck_now or (plugged and not stuck_now)
                    replay.alarms.append(Alarm(notice.kind, box_id, connector, step_end, blocked=plugged and right))
        t = step_end


def _context(replay: Replay, box_id: str, connector: int, connectors: list[int], now: float,
             pace: FleetPace) -> Context:
    """The worker's own context (domain/usage.py `sibling_context`), with the replay's cached rates."""
    mine = {c: replay.usage[(box_id, c)] for c in connectors}
    ratio = pace.ratio(mine[connector].last or now, now)
    return sibling_context(mine, connector, now, lambda c: _rates(replay, (box_id, c), mine[c], now), ratio)


def _rates(replay: Replay, key: tuple[str, int], usage: Usage, now: float) -> Rates:
    """The connector's rates, recomputed only when a new week starts or it started a charge."""
    stamp = (week_of(now), usage.last)
    cached = replay.rates.get(key)
    if cached is None or cached[0] != hash(stamp):
        rates = usage.rates(now)
        replay.rates[key] = (hash(stamp), rates)
        return rates
    return cached[1]


def _score(replay: Replay, test_from: float, days: int) -> dict[str, Any]:
    world = replay.world
    ports = _ports(replay)
    out: dict[str, Any] = {}
    connector_days = len(world.ports) * days
    for kind, fault_kind in KIND_OF_FAULT.items():
        faults = [f for f in world.faults if f.kind == fault_kind]
        alarms = [a for a in replay.alarms if a.kind == kind]
        matched: set[int] = set()
        delays: list[float] = []
        drivers: list[int] = []
        busy_gaps: list[float] = []
        judgeable = 0
        for fault in faults:
            hits = [a for a in alarms if (a.box_id, a.connector) == (fault.box_id, fault.connector)
                    and fault.start <= a.at <= fault.end + 3600]
            port = ports[(fault.box_id, fault.connector)]
            can = kind != "quiet" or port.per_day >= 1.0
            judgeable += can
            if hits:
                first = min(hits, key=lambda a: a.at)
                matched.update(id(a) for a in hits)
                delays.append((first.at - fault.start) / 3600)
                lost = replay.world.lost.get((fault.box_id, fault.connector), [])
                drivers.append(sum(1 for x in lost if fault.start <= x <= first.at))
                if kind == "quiet" and port.per_day >= 6:
                    busy_gaps.append((first.at - fault.start) / 3600 / (16 / port.per_day))
        detected = len(delays)
        false = [a for a in alarms if id(a) not in matched and not a.blocked]
        out[kind] = {
            "faults": len(faults), "judgeable": judgeable, "detected": detected,
            "recall": detected / len(faults) if faults else None,
            "recall_judgeable": detected / judgeable if judgeable else None,
            "alarms": len(alarms), "blocked_bays": sum(1 for a in alarms if a.blocked),
            "precision": (len(alarms) - len(false)) / len(alarms) if alarms else None,
            "false_per_1000_connector_days": len(false) / connector_days * 1000,
            "median_hours_to_detect": statistics.median(delays) if delays else None,
            "median_drivers_before": statistics.median(drivers) if drivers and kind == "quiet" else None,
            "median_busy_gaps": statistics.median(busy_gaps) if busy_gaps else None,
        }
    return out



KIND_WORDS = {"quiet": "not charging anyone (dead terminal)", "occupied": "occupied without a charge (stuck status)",
              "slow": "charging slowly (derated DC module)"}
TARGETS = "recall ≥ 90 %, precision ≥ 95 %, ≤ 0.5 false alerts per 1,000 connector-days"


def table(result: dict[str, Any]) -> list[str]:
    """The markdown table RESULTS.md shows (benchmarks/run.py)."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.1f} %"

    def num(value: float | None, fmt: str = "{:.1f}") -> str:
        return "n/a" if value is None else fmt.format(value)

    lines = ["| kind | faults | detected | recall | recall (judgeable) | precision | false / 1,000 connector-days "
             "| median time to detect | median drivers before | busy connector: usual gaps |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, row in result["kinds"].items():
        lines.append(f"| {KIND_WORDS[kind]} | {row['faults']} | {row['detected']} | {pct(row['recall'])} "
                     f"| {pct(row['recall_judgeable'])} | {pct(row['precision'])} "
                     f"| {row['false_per_1000_connector_days']:.2f} | {num(row['median_hours_to_detect'])} h "
                     f"| {num(row['median_drivers_before'], '{:.0f}')} | {num(row['median_busy_gaps'])} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--p-max", type=float, default=QuietRules.p_max, help="THORBOT_QUIET_P_MAX to replay with")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.boxes, args.days, args.seed, args.p_max)
    if args.json:
        print(json.dumps(result))
        return
    print("\n".join(table(result)))
    print(f"\nTHORBOT_QUIET_P_MAX={result['p_max']:g}; {result['boxes']} boxes, {result['connectors']} connectors, "
          f"{result['days']} days, {result['charges']:,} charges; targets: {TARGETS}; took {result['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
