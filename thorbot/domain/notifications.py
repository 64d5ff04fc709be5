"""Thor's push notifications, read into what thorbot keeps. Pure: JSON in, notes and attempts out.

Every number is clamped as `/charges/*` items are (domain/sessions.py): a connector outside 1–10,000, a
transaction outside 0–2^53, an energy outside 0–1 GWh or of the wrong type is unreadable, never stored.
An energy thorbot cannot read is *unknown*: the stop is kept (it may confirm a remote stop), but it is
not counted as a charge attempt at all, neither failed nor good (polling `/charges/finished` counts it).

The docs name the id_tag `id` in start notifications and `idTag` in stop ones (thor-api notes §4); the
start examples repeat `type` where `mode` is meant, so `mode` is read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from thorbot.domain.failed_starts import Attempt
from thorbot.domain.sessions import MAX_WH, StartNote, StopNote, is_failed

MAX_CONNECTOR = 10**4
MAX_TRANSACTION = 2**53
MODES = ("local", "remote", "api")
Kind = Literal["start", "refused start", "stop", "meters", "rfid", "unknown", "unreadable"]


@dataclass(frozen=True)
class Notification:
    """One notification as thorbot reads it; `why` says what was wrong with an unreadable one."""

    kind: Kind
    box_id: str | None = None
    fingerprint: tuple[object, ...] | None = None  # identity: Thor may send one twice
    start: StartNote | None = None
    stop: StopNote | None = None
    attempt: Attempt | None = None
    why: str = ""


def tag_hash(id_tag: str) -> str:
    """An id_tag as thorbot keeps it beside a remote stop: enough to match a notification, not to reuse."""
    return hashlib.sha256(id_tag.encode()).hexdigest()[:24]


def _int(value: Any, low: int, high: int) -> int | None:
    return value if type(value) is int and low <= value <= high else None


def _text(value: Any, limit: int = 200) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def read_notification(data: Any, now: datetime, *, min_wh: int) -> Notification:
    """What one notification says, or why it cannot be used."""
    if not isinstance(data, dict):
        return Notification("unreadable", why="not a JSON object")
    kind = data.get("type")
    if kind == "start":
        return _start(data, now)
    if kind == "stop_transaction":
        return _stop(data, now, min_wh)
    if kind == "meters":
        return Notification("meters")  # energy so far: polling reads it too; nothing to keep
    if data.get("msg") == "rfid":
        return Notification("rfid")
    return Notification("unknown", why=f"unknown type {str(kind)[:40]!r}")


def _start(data: dict[str, Any], now: datetime) -> Notification:
    box, connector = _text(data.get("chargebox")), _int(data.get("connector"), 1, MAX_CONNECTOR)
    transaction = _int(data.get("transaction_id"), 0, MAX_TRANSACTION)
    id_tag, accepted = _text(data.get("id")), data.get("accepted")
    if box is None or connector is None or transaction is None or id_tag is None or not isinstance(accepted, bool):
        return Notification("unreadable", why="start: chargebox, connector, transaction_id, id or accepted is "
                                              "missing, of the wrong type or out of range")
    mode = data.get("mode") if data.get("mode") in MODES else None
    # A refused start has transaction 0: tell repeats of one refusal from a driver's next try by the minute.
    fingerprint: tuple[object, ...] = ("start", box, connector, transaction) if transaction else \
        ("start", box, connector, 0, tag_hash(id_tag), int(now.timestamp() // 60))
    note = StartNote(box_id=box, connector=connector, transaction=transaction, id_tag=id_tag, mode=mode,
                     accepted=accepted, at=now)
    attempt = None if accepted else Attempt(box_id=box, connector=connector, at=now, ok=False)
    return Notification("start" if accepted else "refused start", box, fingerprint, start=note, attempt=attempt)


def _stop(data: dict[str, Any], now: datetime, min_wh: int) -> Notification:
    box, connector = _text(data.get("chargebox")), _int(data.get("connector"), 1, MAX_CONNECTOR)
    transaction, accepted = _int(data.get("transaction_id"), 0, MAX_TRANSACTION), data.get("accepted")
    if box is None or connector is None or transaction is None or not isinstance(accepted, bool):
        return Notification("unreadable", why="stop: chargebox, connector, transaction_id or accepted is missing, "
                                              "of the wrong type or out of range")
    energy = _int(data.get("kwh"), 0, MAX_WH)  # named kwh, but Wh like every other energy field (notes §4)
    id_tag = _text(data.get("idTag"))
    note = StopNote(box_id=box, connector=connector, transaction=transaction, accepted=accepted, energy_wh=energy,
                    rejected_remote_stop=data.get("msg") == "stop" and not accepted, at=now,
                    id_tag_hash=tag_hash(id_tag) if id_tag else None)
    attempt = None
    if accepted and transaction and not data.get("unlocked") and energy is not None:
        attempt = Attempt(box_id=box, connector=connector, at=now, transaction=transaction, energy_wh=energy,
                          ok=not is_failed(energy, min_wh))
    return Notification("stop", box, ("stop_transaction", box, connector, transaction, accepted), stop=note,
                        attempt=attempt)
