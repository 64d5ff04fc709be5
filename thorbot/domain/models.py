"""Chargebox as thorbot understands it, parsed leniently from Thor's documented response.

Thor's docs leave a lot unsaid (docs/thor-api-notes.md §2), so parsing is deliberately tolerant:
unknown enum values are kept as raw strings, optional fields may be missing or null, and
`occupied_connectors` / `reserved_connectors` may hold numbers or objects. The connectors'
Nayax `token` is a credential and is never modelled, so it cannot leak through a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_POWER_W = 10**7      # 10 MW: beyond any charger; a larger "power" is unreadable, not a number to show
MAX_AMPERAGE = 10**5
MAX_CONNECTORS = 10**4
# Epoch milliseconds that datetime can hold (years 1970..9999).
MAX_EPOCH_MS = 253_402_300_799_000


class Coordinates(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    latitude: float
    longitude: float


class Connector(BaseModel):
    """One connector. `number` is 1-based, following the order Thor lists them in (as OCPP does)."""

    model_config = ConfigDict(frozen=True)

    number: int
    type: str | None = None
    format: str | None = None
    # Thor documents `power` as "Wh", which is not a unit of power; a 22 kW box reads 22000,
    # so we treat the value as watts (thor-api notes §2.1).
    power_w: int | None = None
    max_amperage: int | None = None
    power_type: str | None = None
    terminal_id: str | None = None


class Chargebox(BaseModel):
    """A chargebox. `connected` / `last_heartbeat` are None when Thor did not send them.

    `unreadable` names the fields Thor sent that thorbot could not read (e.g. "connector #1 power"):
    they are treated as unknown, and the card says so.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    alias: str | None = None
    active: bool | None = None
    connected: bool | None = None
    public: bool | None = None
    reservable: bool | None = None
    last_heartbeat: datetime | None = None
    timezone: str | None = None
    coordinates: Coordinates | None = None
    vehicle: str | None = None
    ocpp_msg: str | None = None
    ocpp_version: str | None = None
    connectors: tuple[Connector, ...] = ()
    occupied: frozenset[int] = frozenset()
    reserved: frozenset[int] = frozenset()
    has_heartbeat_field: bool = False
    unreadable: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.alias or self.id

    @property
    def has_live_fields(self) -> bool:
        """Whether this record can be judged without a per-box call (list entries may lack them)."""
        return self.connected is not None and self.has_heartbeat_field


def parse_chargebox(raw: Any) -> Chargebox:
    """Build a Chargebox from one Thor JSON object; raise ValueError only when it is not one (no usable id).

    Total over JSON: any value in any other field is read, or recorded in `unreadable` and treated
    as unknown (thor-api notes §2.5: Thor documents types but not every shape, and one bad value must not
    stop the fleet). The connectors' Nayax `token` is never read.
    """
    box_id = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(box_id, bool) or not isinstance(box_id, str | int) or box_id == "":
        raise ValueError("not a chargebox object")
    fields = _Reader()
    box_type = fields.mapping("type", raw.get("type"))
    connectors_raw = raw.get("connectors")
    if connectors_raw is not None and not isinstance(connectors_raw, list):
        fields.bad("connectors")
        connectors_raw = None
    connectors = tuple(_connector(fields, i, c) for i, c in enumerate(connectors_raw or [], start=1))
    return Chargebox(
        id=str(box_id),
        alias=fields.text("alias", raw.get("alias")),
        active=fields.flag("active", raw.get("active")),
        connected=fields.flag("connected", raw.get("connected")),
        public=fields.flag("public", raw.get("public")),
        reservable=fields.flag("reservable", raw.get("reservable")),
        last_heartbeat=fields.epoch_ms("last_heartbeat", raw.get("last_heartbeat")),
        has_heartbeat_field="last_heartbeat" in raw,
        timezone=fields.text("timezone", raw.get("timezone")),
        coordinates=_coordinates(fields, raw.get("coordinates")),
        vehicle=fields.text("vehicle type", box_type.get("vehicle")),
        ocpp_msg=fields.text("OCPP message format", box_type.get("msg")),
        ocpp_version=fields.text("OCPP version", box_type.get("version")),
        connectors=connectors,
        occupied=fields.numbers("occupied connectors", raw.get("occupied_connectors")),
        reserved=fields.numbers("reserved connectors", raw.get("reserved_connectors")),
        unreadable=tuple(fields.unreadable),
    )


def _connector(fields: _Reader, number: int, raw: Any) -> Connector:
    if not isinstance(raw, dict):
        fields.bad(f"connector #{number}")
        return Connector(number=number)
    name = f"connector #{number}"
    return Connector(
        number=number,
        type=fields.text(f"{name} type", raw.get("type")),
        format=fields.text(f"{name} format", raw.get("format")),
        power_w=fields.number(f"{name} power", raw.get("power"), MAX_POWER_W),
        max_amperage=fields.number(f"{name} max_amperage", raw.get("max_amperage"), MAX_AMPERAGE),
        power_type=fields.text(f"{name} power_type", raw.get("power_type")),
        terminal_id=fields.text(f"{name} terminal_id", raw.get("terminal_id")),
    )


class _Reader:
    """Reads one field at a time; absent or null means unknown, anything unusable is also noted as unreadable."""

    def __init__(self) -> None:
        self.unreadable: list[str] = []

    def bad(self, name: str) -> None:
        self.unreadable.append(name)

    def text(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, dict | list | bool):
            self.bad(name)
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.bad(name)
            return None
        return text_value(value)

    def flag(self, name: str, value: Any) -> bool | None:
        parsed = flag(value)
        if parsed is None and value is not None:
            self.bad(name)
        return parsed

    def number(self, name: str, value: Any, limit: int) -> int | None:
        parsed = _finite_int(value, limit)
        if parsed is None and value is not None and value != "":
            self.bad(name)
        return parsed

    def epoch_ms(self, name: str, value: Any) -> datetime | None:
        parsed = epoch_ms(value)
        # 0 and negative values have always meant "never" (a box that has not connected yet).
        if parsed is None and value is not None and not (_finite_int(value, MAX_EPOCH_MS) == 0):
            self.bad(name)
        return parsed

    def mapping(self, name: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if value is not None:
            self.bad(name)
        return {}

    def numbers(self, name: str, value: Any) -> frozenset[int]:
        if value is not None and not isinstance(value, list):
            self.bad(name)
        numbers = connector_numbers(value)
        if isinstance(value, list) and len(numbers) < len(value):
            self.bad(name)
        return numbers


def _finite_int(value: Any, limit: int) -> int | None:
    """An integer from a JSON number or numeric string; None for non-numbers, inf, NaN and absurd sizes."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if abs(value) <= limit else None
    try:
        number = float(value) if isinstance(value, float | str) else math.nan
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return int(number)


def has_live_fields(raw: dict[str, Any]) -> bool:
    """Whether a raw list entry can be judged without a per-box call (thor-api notes §2.4)."""
    return "last_heartbeat" in raw and flag(raw.get("connected")) is not None


def connector_numbers(raw: Any) -> frozenset[int]:
    """Connector numbers from an array the docs only call "Array" (numbers or objects: thor-api notes §2.3)."""
    if not isinstance(raw, list):
        return frozenset()
    numbers: set[int] = set()
    for item in raw:
        value = item
        if isinstance(item, dict):
            value = next((item[k] for k in ("connector", "connector_id", "number", "id") if k in item), None)
        number = _finite_int(value.strip() if isinstance(value, str) else value, MAX_CONNECTORS)
        if number is not None and number >= 0:
            numbers.add(number)
    return frozenset(numbers)


def text_value(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def epoch_ms(value: Any) -> datetime | None:
    """A UTC datetime from epoch milliseconds; None for missing, non-positive, non-finite or out-of-range values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value <= 0 or value > MAX_EPOCH_MS:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _coordinates(fields: _Reader, value: Any) -> Coordinates | None:
    if value is None:
        return None
    lat = value.get("latitude") if isinstance(value, dict) else None
    lon = value.get("longitude") if isinstance(value, dict) else None
    if isinstance(lat, bool) or isinstance(lon, bool) or not isinstance(lat, int | float) \
            or not isinstance(lon, int | float):
        fields.bad("coordinates")
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # also false for NaN
        fields.bad("coordinates")
        return None
    return Coordinates(latitude=float(lat), longitude=float(lon))


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """What a connector can deliver: its rated power (W) and whether it is DC (for "charging slowly")."""

    rated_w: float | None
    dc: bool


_SHARED_SPECS: dict[tuple[ConnectorSpec, ...], tuple[ConnectorSpec, ...]] = {}
MAX_SHARED_SPECS = 10_000


def shared_specs(specs: tuple[ConnectorSpec, ...]) -> tuple[ConnectorSpec, ...]:
    """The one copy of an equal tuple of specs: a fleet has a handful of kinds of box, and the worker keeps every
    box's specs (50,000 boxes: ~20 MB as separate tuples, next to nothing shared)."""
    if len(_SHARED_SPECS) >= MAX_SHARED_SPECS:
        _SHARED_SPECS.clear()
    return _SHARED_SPECS.setdefault(specs, specs)


def connector_specs(raw: dict[str, Any]) -> tuple[ConnectorSpec, ...]:
    """A raw box's connectors' specs, read leniently (a value thorbot cannot read is unknown)."""
    connectors = raw.get("connectors")
    if not isinstance(connectors, list):
        return ()
    specs = []
    for item in connectors[:MAX_CONNECTORS]:
        item = item if isinstance(item, dict) else {}
        power = _finite_int(item.get("power"), MAX_POWER_W)
        specs.append(ConnectorSpec(float(power) if power else None, item.get("power_type") == "DC"))
    return shared_specs(tuple(specs))


def occupied_numbers(raw: dict[str, Any]) -> frozenset[int]:
    """The connectors a raw box lists as occupied (numbers or objects; anything else is nothing)."""
    value = raw.get("occupied_connectors")
    return connector_numbers(value) if isinstance(value, list) and value else frozenset()
