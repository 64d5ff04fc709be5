"""Why a box was down, and which outage time a regulator lets an operator exclude. Pure.

US NEVI (23 CFR 680.116(b)) excludes outage time caused by electric utility service interruptions,
the vehicle, scheduled maintenance, vandalism and natural disasters, and hours outside the posted hours
of operation. California's CEC rule (the EV charger reliability regulation, 20 CCR § 2500 et seq., as
adopted in 2024) caps two of them: scheduled maintenance at 72 hours per port per calendar year, and
vandalism at 10 days per incident. Beyond a cap the time counts as outage, and the report says so.

The table below is the one place that maps a cause to "excluded or not"; docs/reports.md → Reliability reports
shows it. An outage nobody explained is `unknown`: not excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

CauseCode = Literal["utility_power", "vandalism", "scheduled_maintenance", "vehicle", "natural_disaster", "network",
                    "equipment", "backend", "other", "unknown"]
MAINTENANCE_CAP = timedelta(hours=72)   # per port, per calendar year (CEC)
VANDALISM_CAP = timedelta(days=10)      # per incident (CEC)
MAX_NOTE = 200


@dataclass(frozen=True)
class CauseInfo:
    label: str
    excluded: bool
    why: str


CAUSES: dict[str, CauseInfo] = {
    "utility_power": CauseInfo("Utility power", True, "an electric utility service interruption (NEVI: excluded)"),
    "vandalism": CauseInfo("Vandalism", True, "vandalism (NEVI: excluded; CEC: at most 10 days per incident)"),
    "scheduled_maintenance": CauseInfo("Scheduled maintenance", True,
                                       "scheduled maintenance (NEVI: excluded; CEC: at most 72 h per port a year)"),
    "vehicle": CauseInfo("The vehicle", True, "the vehicle, not the charger (NEVI: excluded)"),
    "natural_disaster": CauseInfo("Natural disaster", True, "a natural disaster (NEVI: excluded)"),
    "network": CauseInfo("Network / cellular", False, "the charger's network or cellular link (counts as outage)"),
    "equipment": CauseInfo("Equipment failure", False, "the charger failed (counts as outage)"),
    "backend": CauseInfo("Thor or back end", False, "the charging network's back end (counts as outage)"),
    "other": CauseInfo("Other (with a note)", False, "another cause (counts as outage)"),
    "unknown": CauseInfo("Unknown", False, "not known (counts as outage)"),
}


class CauseRecord(BaseModel):
    """The cause someone gave an outage: audited (who, when), and replaced if chosen again."""

    model_config = ConfigDict(frozen=True)

    cause: CauseCode
    by: str
    at: datetime
    note: str | None = None

    @property
    def excluded(self) -> bool:
        return CAUSES[self.cause].excluded


def cause_line(record: CauseRecord) -> str:
    """ "Cause: Utility power (excluded), set by <@U…>" for the resolved alert (the note escaped by the caller)."""
    info = CAUSES[record.cause]
    return f"{info.label} ({'excluded from uptime' if info.excluded else 'counts as outage'})"


KIND_CODES = {"offline": "o", "silent": "s", "gone": "g", "inactive": "i", "failed_starts": "f", "quiet": "q",
              "reported": "r"}
ASKS_A_CAUSE = frozenset({"offline", "silent", "failed_starts", "quiet", "reported"})  # what takes a box or port down
PORT_KIND_CODES = frozenset({KIND_CODES["failed_starts"], KIND_CODES["quiet"], KIND_CODES["reported"]})  # a port's own


def cause_key(kind_code: str, start: float) -> str:
    """The field a box's cause is kept under: what identifies its outage in the history (kind, start)."""
    return f"{kind_code}|{int(start)}"


def incident_cause_key(kind: str, started: datetime) -> str:
    return cause_key(KIND_CODES.get(kind, "o"), started.timestamp())


def pack_cause(record: CauseRecord) -> str:
    """`cause|by|at|note`: a few dozen bytes a cause (a year of them for a fleet stays small in Redis)."""
    return f"{record.cause}|{record.by}|{int(record.at.timestamp())}|{record.note or ''}"


def cause_code(packed: str) -> str:
    return packed.split("|", 1)[0]


def unpack_cause(packed: str) -> CauseRecord | None:
    """The record, or None for a value that is not one (written by hand, or by a future version)."""
    parts = packed.split("|", 3)
    if len(parts) != 4 or parts[0] not in CAUSES or not parts[2].isdigit():
        return None
    return CauseRecord(cause=parts[0], by=parts[1], at=datetime.fromtimestamp(int(parts[2]), tz=UTC),
                       note=parts[3] or None)


CAUSE_OPTIONS = {code: info.label for code, info in CAUSES.items()}


# What people type for each cause in `/chargebox cause` (the code itself works too).
CAUSE_WORDS = {"utility": "utility_power", "power": "utility_power", "grid": "utility_power",
               "vandalism": "vandalism", "maintenance": "scheduled_maintenance", "vehicle": "vehicle",
               "car": "vehicle", "disaster": "natural_disaster", "weather": "natural_disaster",
               "network": "network", "cellular": "network", "equipment": "equipment", "hardware": "equipment",
               "backend": "backend", "thor": "backend", "other": "other", "unknown": "unknown"}


def read_cause(word: str) -> str | None:
    word = word.strip().lower()
    return word if word in CAUSES else CAUSE_WORDS.get(word)
