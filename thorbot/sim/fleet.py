"""A deterministic simulated fleet of chargeboxes with a story: sessions, reservations, outages.

The story advances in fixed ticks of simulated time, driven by one seeded RNG, so a seed and a
tick count always give the same fleet. Boxes can also be changed directly (tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TICK = timedelta(seconds=10)

PLACES = [
    ("Torino", "Europe/Rome", 45.07, 7.68), ("Milano", "Europe/Rome", 45.46, 9.19),
    ("Lisboa", "Europe/Lisbon", 38.72, -9.14), ("Berlin", "Europe/Berlin", 52.52, 13.40),
    ("Helsinki", "Europe/Helsinki", 60.17, 24.94), ("New York", "America/New_York", 40.71, -74.01),
    ("Denver", "America/Denver", 39.74, -104.99), ("Tokyo", "Asia/Tokyo", 35.68, 139.69),
]
SITES = ["Parking lot A", "Parking lot B", "Hotel garage", "Marina", "Depot", "Station square",
         "Mall level -1", "Bike hub", "Office campus", "Supermarket"]
CONNECTOR_KINDS = [
    ("type_2", "SOCKET", 22000, 32, "AC_3_PHASE"), ("type_2", "CABLE", 11000, 16, "AC_3_PHASE"),
    ("type_2", "SOCKET", 7400, 32, "AC_1_PHASE"), ("ccs", "CABLE", 150000, 375, "DC"),
    ("chademo", "CABLE", 50000, 125, "DC"), ("schuko", "SOCKET", 3700, 16, "AC_1_PHASE"),
    ("type_3a", "SOCKET", 3700, 16, "AC_1_PHASE"), ("commando", "SOCKET", 7400, 32, "AC_1_PHASE"),
    ("type_1", "CABLE", 7400, 32, "AC_1_PHASE"), ("type_3c", "SOCKET", 22000, 32, "AC_3_PHASE"),
]


@dataclass
class SimConnector:
    type: str
    format: str
    power: int
    max_amperage: int
    power_type: str
    terminal_id: str | None = None
    token: str | None = None

    def to_thor(self) -> dict[str, Any]:
        return {"power": self.power, "type": self.type, "format": self.format, "max_amperage": self.max_amperage,
                "power_type": self.power_type, "terminal_id": self.terminal_id, "token": self.token}


@dataclass
class SimBox:
    id: str
    alias: str
    timezone: str = "Europe/Rome"
    latitude: float = 45.07
    longitude: float = 7.68
    vehicle: str = "car"
    msg: str = "JSON"
    version: str = "1.6"
    active: bool = True
    public: bool = True
    reservable: bool = True
    connected: bool = True
    last_heartbeat: datetime | None = None
    heartbeat_interval: timedelta = timedelta(seconds=300)
    connectors: list[SimConnector] = field(default_factory=list)
    occupied: set[int] = field(default_factory=set)
    reserved: set[int] = field(default_factory=set)
    down_from: datetime | None = None
    down_until: datetime | None = None
    silent_from: datetime | None = None
    silent_until: datetime | None = None

    def to_thor(self, *, live_fields: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "alias": self.alias, "active": self.active, "public": self.public,
            "reservable": self.reservable, "timezone": self.timezone,
            "coordinates": {"latitude": self.latitude, "longitude": self.longitude},
            "type": {"vehicle": self.vehicle, "msg": self.msg, "version": self.version},
            "connectors": [c.to_thor() for c in self.connectors],
            "occupied_connectors": sorted(self.occupied), "reserved_connectors": sorted(self.reserved),
        }
        if live_fields:
            body["connected"] = self.connected
            body["last_heartbeat"] = (
                int(self.last_heartbeat.timestamp() * 1000) if self.last_heartbeat else None
            )
        return body


class Fleet:
    """The simulated fleet plus its story clock."""

    def __init__(self, *, seed: int = 0, now: datetime | None = None, incident_rate: float = 0.0008) -> None:
        self.rng = random.Random(seed)
        self.now = now or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        self.boxes: dict[str, SimBox] = {}
        self.incident_rate = incident_rate
        self.events: list[str] = []

    @classmethod
    def generate(cls, size: int = 25, *, seed: int = 0, now: datetime | None = None,
                 incident_rate: float = 0.0008) -> Fleet:
        fleet = cls(seed=seed, now=now, incident_rate=incident_rate)
        for index in range(size):
            fleet.add(fleet.random_box(index))
        return fleet

    def random_box(self, index: int) -> SimBox:
        rng = self.rng
        city, tz, lat, lon = PLACES[index % len(PLACES)]
        site = SITES[(index // len(PLACES)) % len(SITES)]
        box_id = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
        count = rng.choice([1, 2, 2, 2, 4])
        kinds = [CONNECTOR_KINDS[rng.randrange(len(CONNECTOR_KINDS))]] * count
        connectors = [SimConnector(*kind) for kind in kinds]
        if rng.random() < 0.3:
            for number, connector in enumerate(connectors, start=1):
                connector.terminal_id = f"NYX-{index:04d}-{number}"
                connector.token = "nayax-" + "".join(rng.choice(string.hexdigits) for _ in range(24))
        soap = rng.random() < 0.15
        box = SimBox(
            id=box_id, alias=f"{city} – {site} #{index // (len(PLACES) * len(SITES)) + 1}",
            timezone=tz, latitude=lat + rng.uniform(-0.05, 0.05), longitude=lon + rng.uniform(-0.05, 0.05),
            vehicle="bicycle" if "Bike" in site else "car", msg="SOAP" if soap else "JSON",
            version="1.5" if soap and rng.random() < 0.5 else "1.6", connectors=connectors,
            heartbeat_interval=timedelta(seconds=rng.choice([60, 120, 300])),
            last_heartbeat=self.now - timedelta(seconds=rng.randrange(0, 60)),
        )
        box.public = rng.random() < 0.8
        return box

    def add(self, box: SimBox) -> SimBox:
        self.boxes[box.id] = box
        return box

    def remove(self, box_id: str) -> None:
        self.boxes.pop(box_id, None)

    def schedule_outage(self, box_id: str, start: datetime, length: timedelta, *, silent: bool = False) -> None:
        """Make a box drop (or go silent) at `start` for `length` of simulated time."""
        box = self.boxes[box_id]
        box_start = max(start, self.now)
        if silent:
            box.silent_from, box.silent_until = box_start, box_start + length
        else:
            box.down_from, box.down_until = box_start, box_start + length
        self.events.append(f"{box_start:%H:%M:%S} scheduled {'silence' if silent else 'outage'} {box.alias}")

    async def run(self, clock: Callable[[], datetime], stop: asyncio.Event) -> None:
        """Keep the story in step with `clock` until `stop` (the demo's simulated time)."""
        while not stop.is_set():
            self.advance(clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.2)

    def advance(self, until: datetime) -> None:
        """Run the story tick by tick up to `until` (simulated time)."""
        while self.now + TICK <= until:
            self.now += TICK
            for box in self.boxes.values():
                self._tick_box(box)

    def _tick_box(self, box: SimBox) -> None:
        rng, now = self.rng, self.now
        if box.down_until is None and box.silent_until is None and rng.random() < self.incident_rate:
            self._start_incident(box)
        down = box.down_until is not None and (box.down_from or now) <= now < box.down_until
        if box.down_until is not None and now >= box.down_until:
            box.down_from = box.down_until = None
            self.events.append(f"{now:%H:%M:%S} {box.alias} reconnected")
        box.connected = not down
        silent = box.silent_until is not None and (box.silent_from or now) <= now < box.silent_until
        if box.silent_until is not None and now >= box.silent_until:
            box.silent_from = box.silent_until = None
        due = box.last_heartbeat is None or now - box.last_heartbeat >= box.heartbeat_interval
        if box.connected and not silent and due:
            box.last_heartbeat = now
        for number in range(1, len(box.connectors) + 1):
            if number in box.occupied and rng.random() < 0.01:
                box.occupied.discard(number)
            elif number in box.reserved and rng.random() < 0.02:
                box.reserved.discard(number)
                box.occupied.add(number)
            elif number not in box.occupied and number not in box.reserved:
                if rng.random() < 0.004:
                    box.occupied.add(number)
                elif box.reservable and rng.random() < 0.001:
                    box.reserved.add(number)

    def _start_incident(self, box: SimBox) -> None:
        kind = self.rng.choice(["blip", "blip", "outage", "outage", "silent"])
        length = {"blip": timedelta(seconds=20), "outage": timedelta(minutes=self.rng.randint(4, 15)),
                  "silent": timedelta(minutes=self.rng.randint(20, 30))}[kind]
        self.schedule_outage(box.id, self.now, length, silent=kind == "silent")

    def thor_list(self, *, only_active: bool, live_fields: bool = True) -> list[dict[str, Any]]:
        return [b.to_thor(live_fields=live_fields) for b in self.boxes.values() if b.active or not only_active]
