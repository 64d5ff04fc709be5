"""Realistic charging at fleet scale, event by event: who plugs in where and when, and the faults that hide
behind a healthy box. Used by the detection benchmark, the demo's ghost connector and tests.

Usage (all seeded):
- per-site popularity: most connectors see 2–12 charges a day, one site in ten is rural (0.2–1 a day);
- a daily rhythm (few charges at night, peaks in the morning and evening), a weekly one (weekends
  quieter; office campuses nearly empty at weekends), and public holidays (a third of the traffic);
- scheduled charging: some drivers plug in at 01:00 for the night tariff;
- slow cars: one charge in ten draws a fraction of the charger's power;
- after a charge, the car often stays plugged in for a while (the connector is listed as occupied).

Faults, injected at a time and lasting until fixed:
- `dead_terminal`: the payment terminal or RFID reader is dead: drivers give up, no start at all;
- `stuck_occupied`: the connector's status is stuck on "occupied" with no charge running;
- `derated`: a DC power module is derated: every charge draws 35 % of what it should.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

HOUR = 3600.0
# Share of a day's charges in each hour (local time), before the 01:00 tariff bump.
DAILY = [0.2, 0.15, 0.1, 0.1, 0.1, 0.2, 0.6, 1.2, 1.6, 1.5, 1.3, 1.2, 1.3, 1.3, 1.2, 1.2, 1.4, 1.7, 1.8, 1.6,
         1.2, 0.9, 0.6, 0.35]
DAILY_SUM = sum(DAILY)
FAULTS = ("dead_terminal", "stuck_occupied", "derated")


@dataclass
class Port:
    box_id: str
    connector: int
    dc: bool
    rated_w: float
    per_day: float          # usual charges a day
    weekend: float          # weekend factor
    offset_h: int           # local time = UTC + offset


@dataclass
class Charge:
    box_id: str
    connector: int
    start: float
    minutes: float
    power_w: float
    plugged_after_min: float  # minutes the car stays plugged in after the charge

    @property
    def end(self) -> float:
        return self.start + self.minutes * 60

    @property
    def energy_wh(self) -> int:
        return int(self.power_w * self.minutes / 60)


@dataclass
class Fault:
    kind: str
    box_id: str
    connector: int
    start: float
    end: float


@dataclass
class World:
    ports: list[Port]
    charges: list[Charge]                      # every charge that happened, sorted by start
    faults: list[Fault]
    lost: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # would-be starts a dead terminal ate
    holidays: set[int] = field(default_factory=set)  # day numbers


def ports_of(boxes: int, rng: random.Random) -> list[Port]:
    ports = []
    for b in range(boxes):
        box_id = f"B{b:04d}"
        rural = rng.random() < 0.1
        office = rng.random() < 0.1
        count = rng.choice([1, 2, 2, 2, 4])
        dc = rng.random() < 0.3
        rated = rng.choice([50_000.0, 150_000.0]) if dc else rng.choice([7_400.0, 11_000.0, 22_000.0])
        popularity = rng.uniform(0.2, 1.0) if rural else math.exp(rng.uniform(math.log(2), math.log(12)))
        offset = rng.choice([-7, -5, 0, 1, 2, 9])
        for c in range(1, count + 1):
            ports.append(Port(box_id, c, dc, rated, popularity * rng.uniform(0.7, 1.3),
                              0.15 if office else rng.uniform(0.5, 0.9), offset))
    return ports


def simulate(boxes: int, start: datetime, days: int, *, seed: int, faults: int = 0, fault_from_day: int = 0,
             ) -> World:
    """`days` days of charging from `start`; `faults` faults of each kind injected after `fault_from_day`."""
    rng = random.Random(seed)
    ports = ports_of(boxes, rng)
    t0 = start.timestamp()
    holidays = {d for d in range(days) if rng.random() < 0.04}
    world = World(ports, [], [], holidays=holidays)
    for kind in FAULTS:
        candidates = [p for p in ports if p.dc] if kind == "derated" else ports
        for port in rng.sample(candidates, min(faults, len(candidates))):
            begin = t0 + rng.uniform(fault_from_day, days - 3) * 86400
            length = rng.uniform(6, 72) * HOUR if kind == "stuck_occupied" else (days + 1) * 86400
            world.faults.append(Fault(kind, port.box_id, port.connector, begin, begin + length))
    faulted = {(f.box_id, f.connector, f.kind): f for f in world.faults}
    for port in ports:
        key = (port.box_id, port.connector)
        dead = faulted.get((*key, "dead_terminal"))
        derate = faulted.get((*key, "derated"))
        for hour in range(days * 24):
            t = t0 + hour * HOUR
            local = (hour + port.offset_h) % 24
            day = (hour + port.offset_h) // 24
            weekday = (start + timedelta(hours=hour + port.offset_h)).weekday()
            rate = port.per_day * DAILY[local] / DAILY_SUM
            if weekday >= 5:
                rate *= port.weekend
            if day in holidays:
                rate *= 0.33
            if local == 1 and rng.random() < 0.05:
                rate += 1.0  # scheduled charging: the night tariff
            for _ in range(_poisson(rate, rng)):
                at = t + rng.uniform(0, HOUR)
                if dead is not None and dead.start <= at < dead.end:
                    world.lost.setdefault(key, []).append(at)
                    continue
                power = port.rated_w * (rng.uniform(0.2, 0.4) if rng.random() < 0.1 else rng.uniform(0.6, 0.95))
                if derate is not None and derate.start <= at < derate.end:
                    power *= 0.35
                minutes = rng.uniform(15, 60) if port.dc else rng.uniform(40, 300)
                plugged = rng.lognormvariate(math.log(12), 0.7)
                world.charges.append(Charge(port.box_id, port.connector, at, minutes, power, plugged))
    world.charges.sort(key=lambda c: c.start)
    return world


def _poisson(rate: float, rng: random.Random) -> int:
    if rate <= 0:
        return 0
    limit, k, p = math.exp(-rate), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
