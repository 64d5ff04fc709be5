"""Failed starts on a connector: the incident drivers feel even when the box is "up". Pure.

Rules (each has a test in tests/domain/test_failed_starts.py):
- An attempt fails when a finished session delivered less than `min_wh` (100 Wh, ChargeX's
  threshold), or when Thor's start notification says the box refused to start (`accepted: false`).
- `count` failed attempts on one connector within `window` open one "failed starts" incident for
  that connector, dated from the first of them.
- While it is open, further failures are counted in it; nothing new is announced.
- The next successful session on that connector resolves it.
- Failures older than `window` are forgotten, so the record stays small.
- The connector's record also holds its open *reported by drivers* incident (domain/driver_reports.py):
  a successful charge after the first report resolves it too; a failed one after it corroborates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from thorbot.domain.incidents import Incident, Opened, Resolved


@dataclass(frozen=True)
class FailureRules:
    min_wh: int = 100
    count: int = 3
    window: timedelta = timedelta(hours=24)


class Attempt(BaseModel):
    """One try to charge on a connector, as Thor reported it (a finished session or a refused start)."""

    model_config = ConfigDict(frozen=True)

    box_id: str
    connector: int
    at: datetime
    ok: bool
    energy_wh: int | None = None
    transaction: int | None = None
    started: datetime | None = None  # a finished charge: when it began (its usage, its average power)


class ConnectorRecord(BaseModel):
    """Recent failed attempts on one connector, and its open failed-starts incident."""

    model_config = ConfigDict(frozen=True)

    failures: tuple[datetime, ...] = ()
    incident: Incident | None = None
    reported: Incident | None = None  # drivers said so (domain/driver_reports.py)
    heard: tuple[tuple[str, datetime], ...] = ()  # (source, when) of the reports counted in the last hour
    fixed: datetime | None = None  # when its last reported incident resolved (the sticker's page says so)


def corroborate(prev: ConnectorRecord | None, at: datetime) -> ConnectorRecord | None:
    """thorbot's own evidence at `at` agrees with the drivers: the open reported incident is confirmed (it counts
    from its first report; domain/driver_reports.py). None when there is nothing to confirm (none open, already
    confirmed, or evidence from before the first report)."""
    if prev is None or prev.reported is None or prev.reported.confirmed is not None or at < prev.reported.started:
        return None
    confirmed = prev.reported.model_copy(update={"confirmed": at, "confirmed_by": "thorbot"})
    return prev.model_copy(update={"reported": confirmed})


def connector_key(box_id: str, connector: int) -> str:
    return f"{box_id}#{connector}"


def judge_attempt(prev: ConnectorRecord | None, attempt: Attempt, rules: FailureRules, *, alias: str | None,
                  timezone: str | None = None) -> tuple[ConnectorRecord, list[Opened | Resolved]]:
    """Advance one connector by one attempt."""
    record = prev or ConnectorRecord()
    reported, heard, fixed = record.reported, record.heard, record.fixed
    after_report = reported is not None and attempt.at >= reported.started
    if attempt.ok:
        events: list[Opened | Resolved] = []
        if record.incident is not None:
            events.append(Resolved(record.incident.model_copy(update={"resolved": attempt.at})))
        if reported is not None and after_report:
            events.append(Resolved(reported.model_copy(update={"resolved": attempt.at})))
            reported, fixed = None, attempt.at
        return ConnectorRecord(reported=reported, heard=heard, fixed=fixed), events
    reported = (corroborate(record, attempt.at) or record).reported  # a failed start after the report: evidence
    recent = tuple(sorted(t for t in (*record.failures, attempt.at) if attempt.at - t < rules.window))[-rules.count:]
    if record.incident is not None:
        counted = record.incident.model_copy(update={"failures": record.incident.failures + 1})
        return ConnectorRecord(failures=recent, incident=counted, reported=reported, heard=heard, fixed=fixed), []
    if len(recent) < rules.count:
        return ConnectorRecord(failures=recent, reported=reported, heard=heard, fixed=fixed), []
    started = recent[0]
    incident = Incident(id=f"{attempt.box_id}#{attempt.connector}@{int(started.timestamp())}:failed_starts",
                        box_id=attempt.box_id, alias=alias, kind="failed_starts", started=started, opened=attempt.at,
                        connector=attempt.connector, failures=len(recent), timezone=timezone)
    return (ConnectorRecord(failures=recent, incident=incident, reported=reported, heard=heard, fixed=fixed),
            [Opened(incident)])
