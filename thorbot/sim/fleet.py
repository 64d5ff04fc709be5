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
class SimSession:
    """A charge in progress: energy rises with the car's rate unless it stalls (or the car gives up)."""

    transaction: int
    box_id: str
    connector: int
    started: datetime
    id_tag: str
    mode: str  # "local" (RFID), "remote" (Thor's app), "api"
    rate_w: float
    energy_wh: float = 0.0
    stalled: bool = False
    ends_at: datetime | None = None  # when it finishes by itself
    stop_requested_at: datetime | None = None

    def running_item(self) -> dict[str, Any]:
        return {"id": self.transaction, "chargebox": self.box_id, "connector": self.connector,
                "date_started": int(self.started.timestamp() * 1000), "energy": int(self.energy_wh),
                "id_tag": self.id_tag if self.mode == "local" else None, "type": "charge",
                "user": f"user-{self.transaction % 97}", "payment": None}


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
        self.sessions: dict[int, SimSession] = {}       # running, by transaction
        self.finished: list[dict[str, Any]] = []        # Thor's /charges/finished items
        self.notifications: list[dict[str, Any]] = []   # what Thor would POST to the webhook, oldest first
        self.failing: dict[tuple[str, int], int] = {}   # (box, connector) → failed attempts still to make
        self.scheduled: list[tuple[datetime, str, str, dict[str, Any]]] = []  # the story's actions (see `at`)
        self.scripted: set[str] = set()  # boxes only the story changes: no random incidents or charges
        self._next_transaction = 1000 + self.rng.randrange(1000)

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
            self._run_scheduled()
            for box in self.boxes.values():
                self._tick_box(box)

    def at(self, when: datetime, action: str, box_id: str, **options: Any) -> None:
        """Do `action` ("stall", "fail", "session") to a box at a simulated time, as part of the story.

        Scheduled actions run at the start of the tick that reaches them, so a seed gives the same story
        however fast or slow real time goes.
        """
        self.scheduled.append((when, action, box_id, options))
        self.scheduled.sort(key=lambda item: item[0])

    def _run_scheduled(self) -> None:
        while self.scheduled and self.scheduled[0][0] <= self.now:
            _, action, box_id, options = self.scheduled.pop(0)
            if box_id not in self.boxes:
                continue
            if action == "stall":
                self.stall(box_id)
            elif action == "fail":
                self.fail(box_id, **options)
            elif action == "session":
                self.start_session(box_id, **options)

    def _tick_box(self, box: SimBox) -> None:
        rng, now = self.rng, self.now
        scripted = box.id in self.scripted
        if box.down_until is None and box.silent_until is None and rng.random() < self.incident_rate and not scripted:
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
            session = self.session_on(box.id, number)
            if session is not None:
                self._tick_session(box, session)
            elif (box.id, number) in self.failing and box.connected:
                self._failed_attempt(box, number)
            elif number in box.occupied and rng.random() < 0.01:
                box.occupied.discard(number)  # occupied without a session: set by hand (tests)
            elif number in box.reserved and rng.random() < 0.02:
                box.reserved.discard(number)
                self.start_session(box.id, number)
            elif number not in box.occupied and number not in box.reserved and not scripted:
                if rng.random() < 0.004 and box.connected:
                    self.start_session(box.id, number)
                elif box.reservable and rng.random() < 0.001:
                    box.reserved.add(number)

    # --- charging sessions ----------------------------------------------------------------
    def session_on(self, box_id: str, connector: int) -> SimSession | None:
        return next((s for s in self.sessions.values() if s.box_id == box_id and s.connector == connector), None)

    def start_session(self, box_id: str, connector: int, *, mode: str | None = None, minutes: float | None = None,
                      accepted: bool = True) -> SimSession | None:
        """A driver plugs in: Thor's start notification, then (if the box accepts) a running session."""
        box, rng = self.boxes[box_id], self.rng
        mode = mode or rng.choice(["local", "local", "local", "api", "remote"])
        id_tag = f"{rng.randrange(16**10):010X}" if mode == "local" else f"srv{rng.randrange(16**16):016x}"
        transaction = self._next_transaction if accepted else 0
        self.notifications.append({"type": "start", "accepted": accepted, "chargebox": box_id, "connector": connector,
                                   "id": id_tag, "transaction_id": transaction, "mode": mode})
        if not accepted:
            return None
        self._next_transaction += 1
        power = box.connectors[connector - 1].power if connector <= len(box.connectors) else 11000
        rate = float(min(power, rng.choice([7400, 11000, 22000, 50000, 120000])))
        length = timedelta(minutes=minutes if minutes is not None else rng.uniform(20, 180))
        session = SimSession(transaction, box_id, connector, self.now, id_tag, mode, rate, ends_at=self.now + length)
        self.sessions[transaction] = session
        box.occupied.add(connector)
        box.reserved.discard(connector)
        return session

    def end_session(self, transaction: int, *, stopped_remotely: bool = False) -> None:
        session = self.sessions.pop(transaction)
        box = self.boxes.get(session.box_id)
        if box is not None:
            box.occupied.discard(session.connector)
        self.finished.append({"id": transaction, "chargebox": session.box_id, "connector": session.connector,
                              "date_started": int(session.started.timestamp() * 1000),
                              "date_finished": int(self.now.timestamp() * 1000), "energy": int(session.energy_wh),
                              "id_tag": session.id_tag if session.mode == "local" else None, "payment": None})
        self.notifications.append({"type": "stop_transaction", "accepted": True, "unlocked": False,
                                   "chargebox": session.box_id, "connector": session.connector,
                                   "idTag": session.id_tag, "transaction_id": transaction,
                                   "kwh": int(session.energy_wh),
                                   "time": int((self.now - session.started).total_seconds())})
        self.events.append(f"{self.now:%H:%M:%S} session {transaction} ended on {session.box_id} #{session.connector}"
                           + (" (stopped remotely)" if stopped_remotely else ""))

    def _tick_session(self, box: SimBox, session: SimSession) -> None:
        if box.connected and not session.stalled:
            session.energy_wh += session.rate_w * TICK.total_seconds() / 3600
        stop_due = session.stop_requested_at is not None and self.now - session.stop_requested_at >= 2 * TICK
        if stop_due or (session.ends_at is not None and self.now >= session.ends_at):
            self.end_session(session.transaction, stopped_remotely=stop_due)

    def stall(self, box_id: str) -> SimSession | None:
        """Make a box's charge stop drawing energy (start one first if none is running)."""
        box = self.boxes[box_id]
        session = next((s for s in self.sessions.values() if s.box_id == box_id), None)
        if session is None:
            session = self.start_session(box_id, 1, mode="local", minutes=24 * 60)
        elif session.ends_at is not None:
            session.ends_at = max(session.ends_at, self.now + timedelta(hours=3))
        if session is not None:
            session.stalled = True
            self.events.append(f"{self.now:%H:%M:%S} session {session.transaction} on {box.alias} stalls")
        return session

    def fail(self, box_id: str, connector: int = 1, attempts: int = 3) -> None:
        """Drivers try to charge on a connector and fail: refused starts and sessions that deliver nothing."""
        self.failing[(box_id, connector)] = attempts

    def _failed_attempt(self, box: SimBox, connector: int) -> None:
        left = self.failing[(box.id, connector)]
        if self.rng.random() < 0.5:
            self.start_session(box.id, connector, accepted=False)
        else:
            session = self.start_session(box.id, connector, minutes=0.5)
            if session is not None:
                session.rate_w = 60.0  # a car that gives up: well under 100 Wh
        if left <= 1:
            del self.failing[(box.id, connector)]
        else:
            self.failing[(box.id, connector)] = left - 1

    def stop_command(self, box_id: str, connector: int, id_tag: str, transaction: int | None) -> str | None:
        """Thor's POST /charges/stop: None when forwarded to the box, else Thor's error token."""
        if box_id not in self.boxes:
            return "ChargeboxNotFound"
        if connector < 1 or connector > len(self.boxes[box_id].connectors):
            return "ConnectorNotValid"
        session = self.session_on(box_id, connector)
        if session is None:
            return "NotInTransaction"
        if id_tag != session.id_tag or (transaction and transaction != session.transaction):
            return "WrongTransaction"
        session.stop_requested_at = self.now
        return None

    def add_finished(self, box_id: str, connector: int, started: datetime, minutes: float, energy_wh: float) -> int:
        """A charge that already happened (history, or one too short to be seen running): only in
        /charges/finished, no notification."""
        transaction = self._next_transaction
        self._next_transaction += 1
        self.finished.append({"id": transaction, "chargebox": box_id, "connector": connector,
                              "date_started": int(started.timestamp() * 1000),
                              "date_finished": int((started + timedelta(minutes=minutes)).timestamp() * 1000),
                              "energy": int(energy_wh), "id_tag": None, "payment": None})
        return transaction

    def running_items(self, chargebox: str | None = None) -> list[dict[str, Any]]:
        return [s.running_item() for s in self.sessions.values() if chargebox in (None, s.box_id)]

    def finished_items(self, day_from: str, day_to: str, chargebox: str | None = None) -> list[dict[str, Any]]:
        def day(item: dict[str, Any]) -> str:
            return datetime.fromtimestamp(item["date_finished"] / 1000, tz=UTC).strftime("%Y%m%d")
        return [f for f in self.finished if day_from <= day(f) <= day_to and chargebox in (None, f["chargebox"])]

    def take_notifications(self) -> list[dict[str, Any]]:
        taken, self.notifications = self.notifications, []
        return taken

    def _start_incident(self, box: SimBox) -> None:
        kind = self.rng.choice(["blip", "blip", "outage", "outage", "silent"])
        length = {"blip": timedelta(seconds=20), "outage": timedelta(minutes=self.rng.randint(4, 15)),
                  "silent": timedelta(minutes=self.rng.randint(20, 30))}[kind]
        self.schedule_outage(box.id, self.now, length, silent=kind == "silent")

    def thor_list(self, *, only_active: bool, live_fields: bool = True) -> list[dict[str, Any]]:
        return [b.to_thor(live_fields=live_fields) for b in self.boxes.values() if b.active or not only_active]
