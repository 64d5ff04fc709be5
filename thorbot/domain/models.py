"""Chargebox as thorbot understands it, parsed leniently from Thor's documented response.

Thor's docs leave a lot unsaid (thor-api.md, "Gaps"), so parsing is deliberately tolerant:
unknown enum values are kept as raw strings, optional fields may be missing or null, and
`occupied_connectors` / `reserved_connectors` may hold numbers or objects. The connectors'
Nayax `token` is a credential and is never modelled, so it cannot leak through a model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Coordinates(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    latitude: float
    longitude: float


class Connector(BaseModel):
    """One connector. `number` is 1-based, following the order Thor lists them in (as OCPP does)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    number: int
    type: str | None = None
    format: str | None = None
    # Thor documents `power` as "Wh", which is not a unit of power; a 22 kW box reads 22000,
    # so we treat the value as watts (thor-api.md, Gaps #1).
    power_w: int | None = Field(None, alias="power")
    max_amperage: int | None = None
    power_type: str | None = None
    terminal_id: str | None = None

    @field_validator("power_w", "max_amperage", mode="before")
    @classmethod
    def _number_or_none(cls, value: Any) -> int | None:
        if isinstance(value, bool) or value is None:
            return None
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None

    @field_validator("type", "format", "power_type", "terminal_id", mode="before")
    @classmethod
    def _text_or_none(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return str(value)


class Chargebox(BaseModel):
    """A chargebox. `connected` / `last_heartbeat` are None when Thor did not send them."""

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

    @property
    def name(self) -> str:
        return self.alias or self.id

    @property
    def has_live_fields(self) -> bool:
        """Whether this record can be judged without a per-box call (list entries may lack them)."""
        return self.connected is not None and self.has_heartbeat_field


def parse_chargebox(raw: Any) -> Chargebox:
    """Build a Chargebox from one Thor JSON object; raise ValueError when it is not one."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str | int) or raw.get("id") == "":
        raise ValueError("not a chargebox object")
    box_type: dict[str, Any] = raw["type"] if isinstance(raw.get("type"), dict) else {}
    connectors_raw: list[Any] = raw["connectors"] if isinstance(raw.get("connectors"), list) else []
    connectors = tuple(
        Connector.model_validate({**c, "number": i})
        for i, c in enumerate(connectors_raw, start=1)
        if isinstance(c, dict)
    )
    coords = raw.get("coordinates")
    return Chargebox(
        id=str(raw["id"]),
        alias=text_value(raw.get("alias")),
        active=flag(raw.get("active")),
        connected=flag(raw.get("connected")),
        public=flag(raw.get("public")),
        reservable=flag(raw.get("reservable")),
        last_heartbeat=epoch_ms(raw.get("last_heartbeat")),
        has_heartbeat_field="last_heartbeat" in raw,
        timezone=text_value(raw.get("timezone")),
        coordinates=_coordinates(coords),
        vehicle=text_value(box_type.get("vehicle")),
        ocpp_msg=text_value(box_type.get("msg")),
        ocpp_version=text_value(box_type.get("version")),
        connectors=connectors,
        occupied=connector_numbers(raw.get("occupied_connectors")),
        reserved=connector_numbers(raw.get("reserved_connectors")),
    )


def has_live_fields(raw: dict[str, Any]) -> bool:
    """Whether a raw list entry can be judged without a per-box call (Gaps #4)."""
    return "last_heartbeat" in raw and flag(raw.get("connected")) is not None


def connector_numbers(raw: Any) -> frozenset[int]:
    """Connector numbers from an array the docs only call "Array" (numbers or objects: Gaps #3)."""
    if not isinstance(raw, list):
        return frozenset()
    numbers: set[int] = set()
    for item in raw:
        value = item
        if isinstance(item, dict):
            value = next((item[k] for k in ("connector", "connector_id", "number", "id") if k in item), None)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            numbers.add(int(value))
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
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _coordinates(value: Any) -> Coordinates | None:
    if not isinstance(value, dict):
        return None
    try:
        coords = Coordinates.model_validate(value)
    except ValueError:
        return None
    if not (-90 <= coords.latitude <= 90 and -180 <= coords.longitude <= 180):
        return None
    return coords
