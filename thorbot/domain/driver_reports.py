"""A driver's report of a broken connector (from a sticker's page, or a support agent's workflow step). Pure.

The report page (`GET/POST /r/<code>` on serve) and the Workflow Builder step write `DriverReport`s into an
inbox in Redis; the worker judges them here, with the connector's record, into a *reported by drivers*
incident on that connector.

Rules (each has a test in tests/domain/test_driver_reports.py):
- A counted report on a connector with no open reported incident opens one, dated from the report, alerted
  like every incident in every channel that watches the box.
- Further counted reports go into that incident: counted (reports, distinct sources) and posted in the
  alert's thread, never as new alerts.
- One report per source per connector per hour is counted (the page also limits; this is the rule the
  worker keeps, so a replay of the inbox counts nothing twice).
- The next successful charge on that connector (energy ≥ THORBOT_FAILED_SESSION_WH) resolves it: "charging
  again after a driver's report". A person may resolve it too (Resolve, which asks the cause).
- It counts as an outage of that port, from its first report, only once confirmed: by a person (Confirm) or
  by thorbot (`failed_starts.corroborate`): failed starts on that connector after the first report, failed
  starts or "not charging anyone" already open there when it came, "not charging anyone" judged there while
  it is open (the report itself makes that judgement immediate: domain/usage.py), or a successful charge on
  another connector of its box begun after the first report (the box works and the site is open, yet nobody
  charged here).
  Unconfirmed, it is shown apart (a line in reliability reports) and counted in no figure.
- The driver's words are quoted as plain text: nothing in them can mention, link or format. A contact a driver
  leaves is personal data: shown only in the alert (and its thread) in the channels that watch the box, never
  logged, and gone with the incident's record after 30 days.
- A person's Confirm or Resolve (buttons on the alert) reaches the worker as a `PersonAction` and is judged
  here too, so the worker stays the one writer of a connector's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from thorbot.domain.failed_starts import ConnectorRecord
from thorbot.domain.incidents import Incident, Opened, Resolved

MAX_DETAILS = 500
MAX_CONTACT = 200
COUNT_ONE_PER = timedelta(hours=1)  # per source, per connector


class Problem(StrEnum):
    WONT_START = "wont_start"
    PAYMENT = "payment"
    SCREEN = "screen"
    DAMAGED = "damaged"
    SLOW = "slow"
    BLOCKED = "blocked"
    OTHER = "other"


# How an alert names each problem (the page's own words, per language, live with the page).
PROBLEM_LABELS: dict[Problem, str] = {
    Problem.WONT_START: "won't start",
    Problem.PAYMENT: "payment or card refused",
    Problem.SCREEN: "screen or buttons dead",
    Problem.DAMAGED: "cable or connector damaged",
    Problem.SLOW: "charging very slowly",
    Problem.BLOCKED: "bay blocked",
    Problem.OTHER: "something else",
}


class DriverReport(BaseModel):
    """One report, as the page or a workflow step received it. `source` is an opaque keyed hash of where it came
    from (the client's address, or `slack:<user>` for a support agent), never the address itself."""

    model_config = ConfigDict(frozen=True)

    box_id: str = Field(max_length=200)
    connector: int = Field(ge=0, le=1000)
    problem: Problem
    details: str = Field("", max_length=MAX_DETAILS)
    contact: str = Field("", max_length=MAX_CONTACT)
    source: str = Field(max_length=100)
    at: datetime
    via: str = "page"  # "page" (a sticker) or "slack" (a support agent's workflow step)


MAX_SOURCES = 50  # distinct sources remembered on one incident (the count says "50+" beyond)


@dataclass(frozen=True)
class Added:
    """A further counted report on an open reported incident: said in its alert's thread."""

    incident: Incident
    report: DriverReport


def judge_report(prev: ConnectorRecord | None, report: DriverReport, *, alias: str | None,
                 timezone: str | None = None, quiet: bool = False) -> tuple[ConnectorRecord, list[Opened | Added]]:
    """Advance one connector by one driver's report (see the rules above). `quiet`: thorbot already judges this
    connector "not charging anyone" (its own evidence)."""
    record = prev or ConnectorRecord()
    heard = tuple((s, t) for s, t in record.heard if report.at - t < COUNT_ONE_PER)
    if any(s == report.source for s, _ in heard):
        return record.model_copy(update={"heard": heard}), []  # this source was counted within the hour
    heard = (*heard, (report.source, report.at))[-MAX_SOURCES:]
    open_ = record.reported
    if open_ is not None:
        sources = open_.sources if report.source in open_.sources else (*open_.sources, report.source)[:MAX_SOURCES]
        counted = open_.model_copy(update={"reports": open_.reports + 1, "sources": sources})
        return record.model_copy(update={"reported": counted, "heard": heard}), [Added(counted, report)]
    # Failed starts already open on this connector: thorbot's own evidence agrees with the driver.
    corroborated = quiet or (record.incident is not None and record.incident.resolved is None)
    incident = Incident(id=f"{report.box_id}#{report.connector}@{int(report.at.timestamp())}:reported",
                        box_id=report.box_id, alias=alias, kind="reported", started=report.at, opened=report.at,
                        connector=report.connector, timezone=timezone, reports=1, sources=(report.source,),
                        problem=report.problem.value, quote=report.details or None, contact=report.contact or None,
                        confirmed=report.at if corroborated else None,
                        confirmed_by="thorbot" if corroborated else None)
    return record.model_copy(update={"reported": incident, "heard": heard}), [Opened(incident)]


class PersonAction(BaseModel):
    """Confirm (it counts as an outage from its first report) or Resolve (a person fixed it), from the alert."""

    model_config = ConfigDict(frozen=True)

    incident_id: str = Field(max_length=400)
    box_id: str = Field(max_length=200)
    connector: int = Field(ge=0, le=1000)
    action: Literal["confirm", "resolve"]
    by: str = Field(max_length=40)
    at: datetime


def judge_action(prev: ConnectorRecord | None, action: PersonAction) -> tuple[ConnectorRecord, list[Resolved]]:
    """Apply a person's Confirm or Resolve to the connector's open reported incident (if it is still that one)."""
    record = prev or ConnectorRecord()
    open_ = record.reported
    if open_ is None or open_.id != action.incident_id:
        return record, []
    if action.action == "confirm":
        if open_.confirmed is not None:
            return record, []
        confirmed = open_.model_copy(update={"confirmed": action.at, "confirmed_by": action.by})
        return record.model_copy(update={"reported": confirmed}), []
    resolved = open_.model_copy(update={"resolved": max(action.at, open_.started), "resolved_by": action.by})
    return record.model_copy(update={"reported": None, "fixed": action.at}), [Resolved(resolved)]
