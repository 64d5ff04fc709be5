"""The per-box alert state machine. Pure: the previous record, an observation and the clock in;
the next record and the events to announce out.

States: online → suspect → offline → recovering → online, plus silent, gone and inactive.

Rules (each has a test in tests/domain/test_watch.py):
- A disconnection shorter than `grace` is a blip: suspect → online, nothing is posted.
- Disconnected for `grace` or longer opens one `offline` incident, dated from the first
  disconnected sighting.
- Connected, but the last heartbeat is older than `stale_after`: one `silent` incident.
- A 404 (box deleted) or `active: false` opens one `gone` / `inactive` notice, not a loop.
- While an incident is open nothing new is announced: offline → silent → offline is one incident.
- An incident resolves only after the box has looked healthy for `recovery_grace`; a box that drops
  again within it continues the same incident (flap suppression: no recovery + new alert pair).
- The first sighting of a box that is already down is recorded without an alert: the channel saw
  its status when it subscribed, and an old outage is not news.
- No observation (Thor failed) means no call to `step` at all: a Thor outage changes no box.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from thorbot.domain.models import Chargebox, epoch_ms, flag, text_value


class Status(StrEnum):
    ONLINE = "online"
    SUSPECT = "suspect"
    OFFLINE = "offline"
    SILENT = "silent"
    RECOVERING = "recovering"
    GONE = "gone"
    INACTIVE = "inactive"


class Condition(StrEnum):
    HEALTHY = "healthy"
    DISCONNECTED = "disconnected"
    SILENT = "silent"
    GONE = "gone"
    INACTIVE = "inactive"


IncidentKind = Literal["offline", "silent", "gone", "inactive", "failed_starts", "quiet", "reported"]
# Incidents of one connector (a port), not the box. `reported`: drivers said so (domain/driver_reports.py).
CONNECTOR_KINDS = frozenset({"failed_starts", "quiet", "reported"})
_KIND_STATUS: dict[str, Status] = {"offline": Status.OFFLINE, "silent": Status.SILENT, "gone": Status.GONE,
                                   "inactive": Status.INACTIVE}
_CONDITION_STATUS = {Condition.DISCONNECTED: Status.OFFLINE, Condition.SILENT: Status.SILENT,
                     Condition.GONE: Status.GONE, Condition.INACTIVE: Status.INACTIVE}


class Incident(BaseModel):
    """One outage of one box (or, for failed starts, of one connector); each channel gets one alert for it."""

    model_config = ConfigDict(frozen=True)

    id: str
    box_id: str
    alias: str | None = None
    kind: IncidentKind
    started: datetime
    opened: datetime
    last_heartbeat: datetime | None = None
    occupied: tuple[int, ...] = ()
    reserved: tuple[int, ...] = ()
    timezone: str | None = None
    resolved: datetime | None = None
    connector: int | None = None  # failed starts, quiet: the connector drivers could not charge on
    failures: int = 0  # failed starts: failed attempts counted in it
    evidence: str | None = None  # quiet: why thorbot thinks so (usual starts, hours since, the siblings)
    # reported (by drivers): counted reports, their distinct sources (keyed hashes), the first report's problem and
    # words (quoted as plain text), and when it was confirmed (by a person or by thorbot's own evidence).
    reports: int = 0
    sources: tuple[str, ...] = ()
    problem: str | None = None
    quote: str | None = None
    confirmed: datetime | None = None
    confirmed_by: str | None = None  # a Slack user, or "thorbot" (failed starts, not charging anyone)
    resolved_by: str | None = None  # a Slack user who pressed Resolve (else thorbot saw it charge again)
    contact: str | None = None  # the first driver's contact, if left: personal data, shown in the alert only

    @property
    def name(self) -> str:
        return self.alias or self.box_id

    def downtime(self) -> timedelta | None:
        return None if self.resolved is None else self.resolved - self.started


class BoxRecord(BaseModel):
    """What thorbot remembers about a watched box between polls."""

    model_config = ConfigDict(frozen=True)

    status: Status
    since: datetime
    incident: Incident | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Thresholds:
    grace: timedelta = timedelta(seconds=120)
    stale_after: timedelta = timedelta(seconds=900)
    recovery_grace: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Observation:
    """What Thor said about one box this cycle: the box, or `box=None` for 404 (deleted)."""

    box_id: str
    box: Chargebox | None


@dataclass(frozen=True)
class Opened:
    incident: Incident


@dataclass(frozen=True)
class Resolved:
    incident: Incident


Event = Opened | Resolved


def classify(*, active: bool | None, connected: bool | None, last_heartbeat: datetime | None, now: datetime,
             stale_after: timedelta) -> Condition:
    if active is False:
        return Condition.INACTIVE
    if connected is False:
        return Condition.DISCONNECTED
    if last_heartbeat is not None and now - last_heartbeat > stale_after:
        return Condition.SILENT
    return Condition.HEALTHY


def condition_of(obs: Observation, now: datetime, limits: Thresholds) -> Condition:
    box = obs.box
    if box is None:
        return Condition.GONE
    return classify(active=box.active, connected=box.connected, last_heartbeat=box.last_heartbeat, now=now,
                    stale_after=limits.stale_after)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class QuickJudge:
    """The poller's fast path over Thor's raw JSON, for one clock reading.

    Most boxes are online and stay online (or are seen for the first time, online); building full
    models for tens of thousands of them every cycle costs more than the HTTP call. `record` returns
    what `step` would return (with no events) when the raw entry is enough to tell, else None and
    the caller takes the full path. Equivalence with `step` is a property test in test_watch.py.
    """

    def __init__(self, now: datetime, limits: Thresholds) -> None:
        self.now = now
        self.thresholds = limits
        self._now_us = (now - _EPOCH) // _MICROSECOND
        self._stale_us = limits.stale_after // _MICROSECOND

    def record(self, prev: BoxRecord | None, raw: dict[str, Any]) -> BoxRecord | None:
        if raw.get("connected") is not True or "last_heartbeat" not in raw:
            return None  # disconnected, odd encodings and missing live fields take the full path
        if raw.get("active") is not True and flag(raw.get("active")) is False:
            return None
        heartbeat = raw["last_heartbeat"]
        if type(heartbeat) is int:  # exact integer arithmetic; equal to the datetime comparison
            if heartbeat > 0 and self._now_us - heartbeat * 1000 > self._stale_us:
                return None
        elif classify(active=None, connected=True, last_heartbeat=epoch_ms(heartbeat), now=self.now,
                      stale_after=self.thresholds.stale_after) is not Condition.HEALTHY:
            return None
        alias = raw.get("alias")
        if type(alias) is not str or not alias or alias[0].isspace() or alias[-1].isspace():
            alias = text_value(alias)
        if prev is None:
            return BoxRecord(status=Status.ONLINE, since=self.now, alias=alias)
        if prev.incident is not None or prev.status is not Status.ONLINE or prev.alias != alias:
            return None
        return prev


def quick_record(prev: BoxRecord | None, raw: dict[str, Any], now: datetime, limits: Thresholds) -> BoxRecord | None:
    """`QuickJudge(now, limits).record(prev, raw)`, for callers judging a single entry."""
    return QuickJudge(now, limits).record(prev, raw)


def step(prev: BoxRecord | None, obs: Observation, now: datetime, limits: Thresholds) -> tuple[BoxRecord, list[Event]]:
    """Advance one box by one observation."""
    cond = condition_of(obs, now, limits)
    alias = obs.box.alias if obs.box is not None else (prev.alias if prev else None)
    if prev is None:
        status = Status.ONLINE if cond is Condition.HEALTHY else _CONDITION_STATUS[cond]
        return BoxRecord(status=status, since=now, alias=alias), []
    if prev.incident is not None:
        return _with_incident(prev, prev.incident, obs, cond, now, limits, alias)
    return _without_incident(prev, obs, cond, now, limits, alias)


def _without_incident(prev: BoxRecord, obs: Observation, cond: Condition, now: datetime, limits: Thresholds,
                      alias: str | None) -> tuple[BoxRecord, list[Event]]:
    if cond is Condition.HEALTHY:
        keep = prev.status is Status.ONLINE
        return BoxRecord(status=Status.ONLINE, since=prev.since if keep else now, alias=alias), []
    if cond is Condition.DISCONNECTED:
        if prev.status is Status.OFFLINE:  # already down when first seen: known, not news
            return prev.model_copy(update={"alias": alias}), []
        started = prev.since if prev.status is Status.SUSPECT else now
        if now - started >= limits.grace:
            return _open(obs, "offline", started, now, alias)
        return BoxRecord(status=Status.SUSPECT, since=started, alias=alias), []
    status = _CONDITION_STATUS[cond]
    if prev.status is status:
        return prev.model_copy(update={"alias": alias}), []
    kind: IncidentKind = "silent" if cond is Condition.SILENT else ("gone" if cond is Condition.GONE else "inactive")
    started = now
    if cond is Condition.SILENT and obs.box is not None and obs.box.last_heartbeat is not None:
        started = obs.box.last_heartbeat
    return _open(obs, kind, started, now, alias)


def _with_incident(prev: BoxRecord, incident: Incident, obs: Observation, cond: Condition, now: datetime,
                   limits: Thresholds, alias: str | None) -> tuple[BoxRecord, list[Event]]:
    if incident.kind in ("gone", "inactive") and cond is not _incident_condition(incident):
        # The box exists / is active again: close the notice, then judge its state afresh.
        resolved = incident.model_copy(update={"resolved": now})
        record, events = _without_incident(BoxRecord(status=Status.ONLINE, since=now, alias=alias), obs, cond, now,
                                           limits, alias)
        return record, [Resolved(resolved), *events]
    if cond is Condition.HEALTHY:
        if prev.status is Status.RECOVERING:
            if now - prev.since >= limits.recovery_grace:
                return _resolve(incident, prev.since, alias)
            return prev.model_copy(update={"alias": alias}), []
        if limits.recovery_grace <= timedelta(0):
            return _resolve(incident, now, alias)
        return BoxRecord(status=Status.RECOVERING, since=now, incident=incident, alias=alias), []
    status = _CONDITION_STATUS[cond]
    if prev.status is status:
        return prev.model_copy(update={"alias": alias}), []
    since = now if prev.status is Status.RECOVERING else prev.since
    return BoxRecord(status=status, since=since, incident=incident, alias=alias), []


def _incident_condition(incident: Incident) -> Condition:
    return Condition.GONE if incident.kind == "gone" else Condition.INACTIVE


def _open(obs: Observation, kind: IncidentKind, started: datetime, now: datetime,
          alias: str | None) -> tuple[BoxRecord, list[Event]]:
    box = obs.box
    incident = Incident(
        id=f"{obs.box_id}@{int(started.timestamp())}:{kind}", box_id=obs.box_id, alias=alias, kind=kind,
        started=started, opened=now, last_heartbeat=box.last_heartbeat if box else None,
        occupied=tuple(sorted(box.occupied)) if box else (), reserved=tuple(sorted(box.reserved)) if box else (),
        timezone=box.timezone if box else None,
    )
    return BoxRecord(status=_KIND_STATUS[kind], since=started, incident=incident, alias=alias), [Opened(incident)]


def _resolve(incident: Incident, at: datetime, alias: str | None) -> tuple[BoxRecord, list[Event]]:
    resolved = incident.model_copy(update={"resolved": at})
    return BoxRecord(status=Status.ONLINE, since=at, alias=alias), [Resolved(resolved)]
