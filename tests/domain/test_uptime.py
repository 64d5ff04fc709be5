"""The uptime arithmetic (domain/uptime.py) and digest schedule (domain/digest.py): pure, pinned time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thorbot.domain.digest import DigestPlan, due_now, first_period, latest_due, parse_plan
from thorbot.domain.uptime import ZERO, BoxHistory, Outage, Span, build_report, measure, parse_period
from thorbot.errors import UsageError


# --- the oracle: the rules written plainly on datetime spans (the core runs on epoch seconds) -------------
def merge(spans: list[Span]) -> list[Span]:
    """Sorted, non-overlapping, non-empty spans covering the same time."""
    out: list[Span] = []
    for span in sorted(s for s in spans if s.end > s.start):
        if out and span.start <= out[-1].end:
            if span.end > out[-1].end:
                out[-1] = Span(out[-1].start, span.end)
        else:
            out.append(span)
    return out


def clip(spans: list[Span], window: Span) -> list[Span]:
    return merge([Span(max(s.start, window.start), min(s.end, window.end)) for s in spans])


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    a, b = merge(a), merge(b)
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if end > start:
            out.append(Span(start, end))
        if a[i].end < b[j].end:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Span], b: list[Span]) -> list[Span]:
    """The time in `a` that is not in `b`."""
    out: list[Span] = []
    b = merge(b)
    for span in merge(a):
        cursor = span.start
        for cut in b:
            if cut.end <= cursor or cut.start >= span.end:
                continue
            if cut.start > cursor:
                out.append(Span(cursor, cut.start))
            cursor = max(cursor, cut.end)
        if cursor < span.end:
            out.append(Span(cursor, span.end))
    return out


def total(spans: list[Span]) -> timedelta:
    return sum((s.length for s in merge(spans)), ZERO)


T0 = datetime(2026, 10, 1, tzinfo=UTC)
MONTH = Span(T0, datetime(2026, 11, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_the_nevi_formula_by_hand() -> None:
    """31 days = 44,640 min; 120 min down, 30 of them in maintenance: (44640 − 90) / 44640 = 99.798 %."""
    box = BoxHistory.of("B", "Depot", T0 - hours(1),
                     (Outage("offline", T0 + hours(10), T0 + hours(12)),),
                     (Span(T0 + hours(11.5), T0 + hours(14)),))
    u = measure(box, MONTH, [], NOW)
    assert u.measured == timedelta(days=31)
    assert u.outage == hours(2) and u.excluded == timedelta(minutes=30) and u.outages == 1
    assert u.percent is not None and abs(u.percent - (44640 - 90) / 44640 * 100) < 1e-9
    assert u.mttr == hours(1.5) and u.longest == hours(2)  # MTTR counts what `down` counts: not the maintenance


def test_mttr_and_downtime_leave_out_the_same_time() -> None:
    """An outage half in maintenance, half while thorbot was not observing: MTTR agrees with the downtime."""
    box = BoxHistory.of("B", "Depot", T0 - hours(1), (Outage("offline", T0 + hours(10), T0 + hours(14)),),
                        (Span(T0 + hours(10), T0 + hours(11)),))
    u = measure(box, MONTH, [Span(T0 + hours(13), T0 + hours(14))], NOW)
    assert u.downtime == hours(2) and u.repaired == 1
    assert u.mttr == u.downtime


def test_unknown_time_is_neither_up_nor_down() -> None:
    box = BoxHistory.of("B", "Depot", T0, (Outage("offline", T0 + hours(10), T0 + hours(12)),))
    unknown = [Span(T0 + hours(11), T0 + hours(17))]  # thorbot down for 6 h, one of them during the outage
    u = measure(box, MONTH, unknown, NOW)
    assert u.unknown == hours(6) and u.outage == hours(1)
    assert u.measured == timedelta(days=31) - hours(6)


def test_a_box_added_mid_month_is_measured_from_its_first_sighting() -> None:
    box = BoxHistory.of("B", "New", T0 + timedelta(days=15))
    u = measure(box, MONTH, [], NOW)
    assert u.measured == timedelta(days=16) and u.percent == 100.0
    assert measure(BoxHistory.of("B", "Later", MONTH.end + hours(1)), MONTH, [], NOW).percent is None


def test_an_open_outage_counts_until_now() -> None:
    box = BoxHistory.of("B", "Down", NOW - timedelta(days=3), (Outage("silent", NOW - hours(5)),))
    week = parse_period("7d", NOW)
    assert week is not None
    u = measure(box, week.window, [], NOW)
    assert u.outage == hours(5) and u.repaired == 0 and u.mttr is None


def test_failed_starts_and_gone_do_not_count_as_connectivity_outages() -> None:
    box = BoxHistory.of("B", "Depot", T0, (Outage("failed_starts", T0, T0 + hours(5), 1),
                                        Outage("gone", T0, T0 + hours(1))))
    assert measure(box, MONTH, [], NOW).outage == ZERO


def test_dst_days_have_23_and_25_hours() -> None:
    march = parse_period("2026-03", NOW, "Europe/Rome")
    october = parse_period("2026-10", NOW, "Europe/Rome")
    assert march is not None and october is not None
    assert march.steps[28].length == hours(23)   # 29 March 2026: clocks go forward
    assert october.steps[24].length == hours(25)  # 25 October 2026: clocks go back
    assert sum((s.length for s in october.steps), ZERO) == october.window.length == timedelta(days=31, hours=1)


def test_periods_parse_and_refuse() -> None:
    assert parse_period("12m", NOW) is not None and len(parse_period("12m", NOW).steps) == 12  # type: ignore[union-attr]
    assert parse_period("30d", NOW).window.end > NOW  # type: ignore[union-attr]  # today is included
    for bad in ("0d", "401d", "2026-13", "1999-01", "week", ""):
        assert parse_period(bad, NOW) is None


spans = st.lists(st.tuples(st.integers(0, 31 * 24 * 60), st.integers(1, 3 * 24 * 60)), max_size=8)


def to_spans(raw: list[tuple[int, int]]) -> list[Span]:
    return [Span(T0 + timedelta(minutes=a), T0 + timedelta(minutes=a + n)) for a, n in raw]


@given(spans, spans, spans, st.integers(0, 40 * 24 * 60))
def test_uptime_properties(outages: list[tuple[int, int]], mutes: list[tuple[int, int]],
                           blind: list[tuple[int, int]], first_seen_min: int) -> None:
    first = T0 - timedelta(days=5) + timedelta(minutes=first_seen_min)
    box = BoxHistory.of("B", "Depot", first, tuple(Outage("offline", s.start, s.end) for s in to_spans(outages)),
                     tuple(to_spans(mutes)))
    unknown = to_spans(blind)
    whole = measure(box, MONTH, unknown, NOW)
    if whole.percent is not None:
        assert 0.0 <= whole.percent <= 100.0
    assert ZERO <= whole.excluded <= whole.outage <= whole.measured
    # the days add up to the month
    period = parse_period("2026-10", NOW)
    assert period is not None
    days = [measure(box, step, unknown, NOW) for step in period.steps]
    assert sum((d.outage for d in days), ZERO) == whole.outage
    assert sum((d.excluded for d in days), ZERO) == whole.excluded
    assert sum((d.measured for d in days), ZERO) == whole.measured
    assert sum((d.unknown for d in days), ZERO) == whole.unknown


def reference(outages: list[Span], mutes: list[Span], unknown: list[Span], first: datetime, window: Span,
              now: datetime) -> tuple[timedelta, timedelta, timedelta, timedelta]:
    """The rules of the module docstring, written plainly on datetime spans: the oracle for the fast path."""
    live = Span(max(window.start, first), min(window.end, now))
    if live.end <= live.start:
        return ZERO, ZERO, ZERO, ZERO
    blind = clip(unknown, live)
    down = subtract(clip(outages, live), blind)
    excluded = intersect(down, clip(mutes, live))
    return live.length - total(blind), total(down), total(excluded), total(blind)


@given(spans, spans, spans, st.integers(0, 40 * 24 * 60), st.integers(0, 30))
def test_the_fast_path_agrees_with_the_plain_rules(outages: list[tuple[int, int]], mutes: list[tuple[int, int]],
                                                   blind: list[tuple[int, int]], first_seen_min: int,
                                                   day: int) -> None:
    first = T0 - timedelta(days=5) + timedelta(minutes=first_seen_min)
    down, maintenance, unknown = merge(to_spans(outages)), to_spans(mutes), to_spans(blind)
    box = BoxHistory.of("B", "Depot", first, tuple(Outage("offline", s.start, s.end) for s in down),
                        tuple(maintenance))
    now = T0 + timedelta(days=day, hours=7)
    for window in (MONTH, Span(T0 + timedelta(days=day), T0 + timedelta(days=day + 1))):
        u = measure(box, window, unknown, now)
        expected = reference(down, maintenance, unknown, first, window, now)
        got = (u.measured, u.outage, u.excluded, u.unknown)
        assert all(abs((g - e).total_seconds()) < 0.01 for g, e in zip(got, expected, strict=True)), (got, expected)


@given(spans, spans)
def test_span_algebra(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    x, y = to_spans(a), to_spans(b)
    assert total(subtract(x, y)) <= total(x)
    assert total(merge([*x, *y])) == total(subtract(x, y)) + total(y)


def test_the_report_puts_the_worst_box_first_and_sums_the_fleet() -> None:
    good = BoxHistory.of("A", "Good", T0)
    bad = BoxHistory.of("B", "Bad", T0, (Outage("offline", T0 + hours(1), T0 + hours(30)),))
    period = parse_period("2026-10", NOW)
    assert period is not None
    report = build_report(period, [good, bad], [], NOW)
    assert [r.box_id for r in report.boxes] == ["B", "A"]
    assert report.fleet.outage == hours(29) and report.fleet.measured == timedelta(days=62)
    assert report.boxes[0].steps[0] == (24 - 23) / 24 * 100 and report.boxes[0].steps[1] == (24 - 6) / 24 * 100
    assert report.fleet_steps[0] == (48 - 23) / 48 * 100 and report.fleet_steps[5] == 100.0


# --- digests --------------------------------------------------------------------------------------
def test_a_daily_digest_is_due_once_per_local_day() -> None:
    plan = parse_plan(["daily", "09:00", "Europe/Rome"], "UTC")
    assert plan is not None
    before = datetime(2026, 11, 24, 7, 59, tzinfo=UTC)   # 08:59 in Rome
    after = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)     # 09:00 in Rome
    plan = plan.model_copy(update={"last_period": first_period(plan, before)})
    assert due_now(plan, before) is None
    due = due_now(plan, after)
    assert due is not None and due.period == "2026-11-24" and due.late_by(after) is None
    assert due.covers_from == datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Rome"))
    assert due_now(plan.model_copy(update={"last_period": due.period}), after + hours(5)) is None


def test_a_missed_digest_is_due_once_and_late() -> None:
    plan = DigestPlan(cadence="daily", at="09:00", zone="UTC", last_period="2026-11-20")
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    due = due_now(plan, now)
    assert due is not None and due.period == "2026-11-24"  # only the latest, not four
    assert due.late_by(now) == hours(6)


def test_a_weekly_digest_on_monday() -> None:
    plan = parse_plan(["weekly", "mon", "9"], "America/New_York")
    assert plan is not None and plan.zone == "America/New_York" and plan.at == "09:00"
    due = latest_due(plan, datetime(2026, 11, 26, 12, 0, tzinfo=UTC))  # a Thursday
    assert due.period == "2026-11-23" and due.covers_to - due.covers_from == timedelta(days=7)


def test_digest_plans_refuse_nonsense() -> None:
    import pytest

    from thorbot.errors import UsageError

    assert parse_plan(["off"], "UTC") is None
    for words in (["hourly"], ["daily", "25:00"], ["weekly", "9:00"], ["daily", "09:00", "Mars/Olympus"], []):
        with pytest.raises(UsageError):
            parse_plan(words, "UTC")


@pytest.mark.parametrize("zone", ["Europe", "Factory", "posixrules", "localtime", "A" * 300, "../etc/passwd",
                                  "Europe/Nowhere", "Rome"])
def test_only_real_time_zones_are_accepted_for_digests(zone: str) -> None:
    with pytest.raises(UsageError, match="is not a time zone name"):
        parse_plan(["daily", "09:00", zone], "UTC")


def test_a_time_zone_may_be_typed_in_any_case() -> None:
    plan = parse_plan(["daily", "09:00", "europe/rome"], "UTC")
    assert plan is not None and plan.zone == "Europe/Rome"
