"""The rules of domain/driver_reports.py, one test each, with explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from thorbot.domain.driver_reports import Added, DriverReport, Problem, judge_report
from thorbot.domain.failed_starts import Attempt, ConnectorRecord, FailureRules, corroborate, judge_attempt
from thorbot.domain.incidents import Opened, Resolved

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def report(source: str = "s1", at: datetime = T0, problem: Problem = Problem.SCREEN, details: str = "") -> DriverReport:
    return DriverReport(box_id="box/1|x", connector=2, problem=problem, details=details, source=source, at=at)


def test_a_first_report_opens_one_reported_incident_dated_from_it() -> None:
    record, events = judge_report(None, report(details="screen black <!channel>"), alias="Depot")
    [opened] = events
    assert isinstance(opened, Opened)
    incident = opened.incident
    assert incident.kind == "reported" and incident.connector == 2 and incident.started == T0
    assert incident.reports == 1 and incident.sources == ("s1",) and incident.confirmed is None
    assert incident.quote == "screen black <!channel>"  # kept as typed; rendered as plain text
    assert record.reported == incident


def test_further_reports_add_to_it_and_one_source_counts_once_an_hour() -> None:
    record, _ = judge_report(None, report(), alias=None)
    record, events = judge_report(record, report(at=T0 + 10 * MIN), alias=None)
    assert events == [] and record.reported is not None and record.reported.reports == 1
    record, events = judge_report(record, report(source="s2", at=T0 + 11 * MIN), alias=None)
    [added] = events
    assert isinstance(added, Added) and added.incident.reports == 2 and len(added.incident.sources) == 2
    record, events = judge_report(record, report(at=T0 + 61 * MIN), alias=None)  # an hour on: counted again
    assert isinstance(events[0], Added) and events[0].incident.reports == 3
    assert len(events[0].incident.sources) == 2  # still two sources


def test_a_successful_charge_after_the_report_resolves_it_and_an_earlier_one_does_not() -> None:
    record, _ = judge_report(None, report(), alias=None)
    rules = FailureRules()
    before = Attempt(box_id="box/1|x", connector=2, at=T0 - MIN, ok=True, energy_wh=9000)
    record, events = judge_attempt(record, before, rules, alias=None)
    assert events == [] and record.reported is not None
    after = Attempt(box_id="box/1|x", connector=2, at=T0 + 30 * MIN, ok=True, energy_wh=9000)
    record, events = judge_attempt(record, after, rules, alias=None)
    [resolved] = events
    assert isinstance(resolved, Resolved) and resolved.incident.kind == "reported"
    assert resolved.incident.resolved == T0 + 30 * MIN
    assert record.reported is None and record.fixed == T0 + 30 * MIN


def test_a_failed_start_after_the_report_confirms_it_and_failed_starts_already_open_confirm_at_once() -> None:
    record, _ = judge_report(None, report(), alias=None)
    failed = Attempt(box_id="box/1|x", connector=2, at=T0 + MIN, ok=False, energy_wh=10)
    record, _ = judge_attempt(record, failed, FailureRules(), alias=None)
    assert record.reported is not None and record.reported.confirmed == T0 + MIN
    assert record.reported.confirmed_by == "thorbot"
    rules = FailureRules(count=1)
    with_starts, _ = judge_attempt(ConnectorRecord(), failed, rules, alias=None)
    assert with_starts.incident is not None
    record, [opened] = judge_report(with_starts, report(at=T0 + 2 * MIN), alias=None)
    assert isinstance(opened, Opened) and opened.incident.confirmed is not None


def test_failed_starts_judging_keeps_the_reported_incident() -> None:
    record, _ = judge_report(None, report(), alias=None)
    for k in range(3):
        record, _ = judge_attempt(record, Attempt(box_id="box/1|x", connector=2, at=T0 + (k + 1) * MIN, ok=False),
                                  FailureRules(), alias=None)
    assert record.incident is not None and record.reported is not None


def test_a_report_on_a_connector_thorbot_already_judges_quiet_is_confirmed_at_once() -> None:
    _, [opened] = judge_report(None, report(), alias=None, quiet=True)
    assert isinstance(opened, Opened) and opened.incident.confirmed == T0
    assert opened.incident.confirmed_by == "thorbot"


def test_thorbots_own_evidence_after_the_first_report_confirms_it_once() -> None:
    record, _ = judge_report(None, report(), alias=None)
    assert corroborate(record, T0 - MIN) is None  # evidence from before the report says nothing of it
    confirmed = corroborate(record, T0 + 5 * MIN)
    assert confirmed is not None and confirmed.reported is not None
    assert confirmed.reported.confirmed == T0 + 5 * MIN and confirmed.reported.confirmed_by == "thorbot"
    assert corroborate(confirmed, T0 + 9 * MIN) is None  # already confirmed: the first confirmation stands
    assert corroborate(ConnectorRecord(), T0) is None and corroborate(None, T0) is None

