"""Charging sessions: what Thor reports about them, and when one looks stuck. Pure.

Thor's `/charges/running` and `/charges/finished` items and its start/stop notifications are read
with the same totality as chargeboxes (domain/models.py): a value that cannot be read makes that
item unusable, never the whole list (docs/thor-api-notes.md §3, §4).

Rules for stuck sessions (each has a test in tests/domain/test_sessions.py):
- A running session is *stalled* when its energy has not risen for `stall_after`, counted from
  `ignore_first` after it started (a car may take minutes to start drawing).
- A session older than `max_age` is stuck whatever its energy does.
- A stuck session is announced once (a low-severity notice: scheduled or paused charging looks the
  same), never again for that transaction.
- Watching is cheap: an energy reading is remembered with the time it was first seen, and only a
  flat reading needs to survive a worker failover (see `SessionWatch.persist`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from thorbot.domain.models import epoch_ms, text_value

StartMode = Literal["local", "remote", "api"]
MAX_WH = 10**9  # 1 GWh: beyond any session; a larger value is unreadable
STARTED_BY = {"local": "RFID", "remote": "app", "api": "API"}


class Session(BaseModel):
    """A charge in progress on one connector."""

    model_config = ConfigDict(frozen=True)

    transaction: int
    box_id: str
    connector: int
    started: datetime
    energy_wh: int | None = None
    id_tag: str | None = None  # the RFID for local starts; Thor sends null for remote and API starts
    user: str | None = None


class Finished(BaseModel):
    """A charge that has ended."""

    model_config = ConfigDict(frozen=True)

    transaction: int
    box_id: str
    connector: int
    started: datetime | None = None
    finished: datetime
    energy_wh: int | None = None


class StartNote(BaseModel):
    """What Thor's start notification told us about a transaction (the API id_tag is only here)."""

    model_config = ConfigDict(frozen=True)

    box_id: str
    connector: int
    transaction: int
    id_tag: str
    mode: StartMode | None = None
    accepted: bool
    at: datetime


class StopNote(BaseModel):
    """What Thor's stop notification told us about a transaction."""

    model_config = ConfigDict(frozen=True)

    box_id: str
    connector: int
    transaction: int
    accepted: bool
    energy_wh: int | None = None
    rejected_remote_stop: bool = False
    at: datetime
    id_tag_hash: str | None = None  # which id_tag ended it (hashed): a remote stop is confirmed only by its own


def _int(value: Any, limit: int = 2**53) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if abs(value) <= limit else None
    if isinstance(value, float) and math.isfinite(value) and abs(value) <= limit and value == int(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        return int(value)
    return None


def parse_session(raw: Any) -> Session | None:
    """One `/charges/running` item, or None when it cannot be used (no transaction, box or connector)."""
    if not isinstance(raw, dict):
        return None
    transaction, connector = _int(raw.get("id")), _int(raw.get("connector"), 10**4)
    box_id = raw.get("chargebox")
    started = epoch_ms(raw.get("date_started"))
    if transaction is None or connector is None or connector < 1 or not isinstance(box_id, str) or not box_id \
            or started is None:
        return None
    energy = _int(raw.get("energy"), MAX_WH)
    return Session(transaction=transaction, box_id=box_id, connector=connector, started=started,
                   energy_wh=energy if energy is not None and energy >= 0 else None,
                   id_tag=text_value(raw.get("id_tag")) if isinstance(raw.get("id_tag"), str) else None,
                   user=text_value(raw.get("user")) if isinstance(raw.get("user"), str) else None)


def parse_finished(raw: Any) -> Finished | None:
    """One `/charges/finished` item, or None when it cannot be used."""
    if not isinstance(raw, dict):
        return None
    transaction, connector = _int(raw.get("id")), _int(raw.get("connector"), 10**4)
    box_id = raw.get("chargebox")
    finished = epoch_ms(raw.get("date_finished"))
    if transaction is None or connector is None or connector < 1 or not isinstance(box_id, str) or not box_id \
            or finished is None:
        return None
    energy = _int(raw.get("energy"), MAX_WH)
    return Finished(transaction=transaction, box_id=box_id, connector=connector, finished=finished,
                    started=epoch_ms(raw.get("date_started")),
                    energy_wh=energy if energy is not None and energy >= 0 else None)


def items_of(raw: Any) -> list[Any]:
    """The items of a `{count, items}` answer (a bare array is tolerated too)."""
    if isinstance(raw, dict) and isinstance(raw.get("items"), list):
        return list(raw["items"])
    return list(raw) if isinstance(raw, list) else []


def started_by(session: Session, note: StartNote | None) -> str:
    """RFID, app or API: the start notification says; without it, an id_tag means an RFID card."""
    if note is not None and note.mode in STARTED_BY:
        return STARTED_BY[note.mode]
    return "RFID" if session.id_tag else "app or API"


def stop_id_tag(session: Session, note: StartNote | None) -> str | None:
    """The id_tag Thor needs to stop the charge: the RFID from the running list, else the start notification's."""
    if session.id_tag:
        return session.id_tag
    return note.id_tag if note is not None and note.transaction == session.transaction and note.id_tag else None


def mask_tag(tag: str) -> str:
    """An id_tag as people may see it: enough to recognise a card, not enough to clone it."""
    return f"…{tag[-4:]}" if len(tag) > 4 else "…"


def is_failed(energy_wh: int | None, threshold_wh: int) -> bool:
    """A finished session that delivered less than the threshold is a failed attempt (ChargeX: 100 Wh)."""
    return energy_wh is None or energy_wh < threshold_wh


@dataclass(frozen=True)
class StallRules:
    stall_after: timedelta = timedelta(minutes=30)
    ignore_first: timedelta = timedelta(minutes=10)
    max_age: timedelta = timedelta(hours=24)


class SessionWatch(BaseModel):
    """The last energy reading of a running session and since when it has not changed."""

    model_config = ConfigDict(frozen=True)

    box_id: str
    connector: int
    energy_wh: int | None
    since: datetime
    notified: bool = False

    def persist(self, previous: SessionWatch | None) -> bool:
        """Worth writing to Redis: a reading seen flat twice, or the notice flag (a rising one changes every poll)."""
        if previous is None:
            return self.notified
        return self != previous and (self.energy_wh == previous.energy_wh or self.notified != previous.notified)


StuckReason = Literal["stalled", "too_long"]


@dataclass(frozen=True)
class Stuck:
    session: Session
    reason: StuckReason
    flat_since: datetime


def watch_session(prev: SessionWatch | None, session: Session, now: datetime,
                  rules: StallRules, *, box_reachable: bool = True) -> tuple[SessionWatch, Stuck | None]:
    """Advance one running session by one reading; a Stuck when it should be announced (once).

    While its box is not reachable (offline, silent: it has its own alert) the energy cannot rise in Thor's
    eyes, so flat time counts only from when the box is back: no "stuck" notice doubling an outage alert.
    """
    if prev is not None and box_reachable and session.energy_wh is not None and prev.energy_wh is not None \
            and session.energy_wh <= prev.energy_wh:
        watch = prev  # flat: keep counting from when it last rose
    else:
        watch = SessionWatch(box_id=session.box_id, connector=session.connector, energy_wh=session.energy_wh,
                             since=now, notified=prev.notified if prev else False)
    if watch.notified:
        return watch, None
    flat_from = max(watch.since, session.started + rules.ignore_first)
    reason: StuckReason | None = None
    if now - session.started >= rules.max_age:
        reason = "too_long"
    elif session.energy_wh is not None and prev is not None and now - flat_from >= rules.stall_after:
        reason = "stalled"
    if reason is None:
        return watch, None
    return watch.model_copy(update={"notified": True}), Stuck(session, reason, flat_from)


def running_for(session: Session, now: datetime) -> timedelta:
    return max(timedelta(0), now - session.started)


def kwh(energy_wh: int | None) -> str:
    """Energy for people: 12345 Wh → "12.3 kWh"."""
    if energy_wh is None:
        return "energy n/a"
    return f"{energy_wh / 1000:.1f} kWh"


def day_of(when: datetime) -> str:
    """The UTC day as Thor's finished-charges filter wants it: YYYYMMDD (thor-api notes §3)."""
    return when.astimezone(UTC).strftime("%Y%m%d")
