"""Connector usage and the quiet/slow/occupied rules (domain/usage.py): pure, time passed in."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from thorbot.domain.usage import (
    HOUR,
    Context,
    QuietRules,
    SlowRules,
    Usage,
    check_quiet,
    connector_health,
    hour_at,
    is_slow,
    occupied_without_charge,
)

MONDAY_9 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC).timestamp()  # a Monday
DAY = 24 * HOUR


def busy_weekdays(weeks: int = 4, *, per_hour: int = 1, hours: range = range(8, 20)) -> Usage:
    """A connector used `per_hour` times an hour from 8 to 20 on weekdays, for `weeks` weeks before MONDAY_9."""
    start = MONDAY_9 - 9 * HOUR - weeks * 7 * DAY
    usage = Usage(since=start)
    for day in range(weeks * 7):
        if day % 7 >= 5:
            continue
        for hour in hours:
            for k in range(per_hour):
                usage = usage.started(start + day * DAY + hour * HOUR + 60 * (k + 1))
    return usage


def test_the_usual_rate_is_the_mean_of_the_complete_weeks() -> None:
    rates = busy_weekdays().rates(MONDAY_9)
    assert rates.weeks == 4 and rates.starts == 4 * 5 * 12
    assert rates.now(MONDAY_9) == 1.0 and rates.now(MONDAY_9 + 5 * DAY) == 0.0  # Saturday: idle
    assert math.isclose(rates.expected(MONDAY_9, MONDAY_9 + 3 * HOUR), 3.0)
    assert math.isclose(rates.expected(MONDAY_9 + 0.5 * HOUR, MONDAY_9 + 1.5 * HOUR), 1.0)
    assert math.isclose(rates.expected(MONDAY_9, MONDAY_9 + 14 * DAY), 2 * 60.0)


@given(st.floats(0, 30 * DAY), st.floats(0, 30 * DAY), st.floats(0, 30 * DAY))
def test_expected_starts_add_up_over_consecutive_spans(a: float, b: float, c: float) -> None:
    rates = busy_weekdays().rates(MONDAY_9)
    t0, t1, t2 = sorted((MONDAY_9 + a, MONDAY_9 + b, MONDAY_9 + c))
    assert math.isclose(rates.expected(t0, t2), rates.expected(t0, t1) + rates.expected(t1, t2), abs_tol=1e-6)


def test_a_busy_connector_with_no_start_while_its_sibling_charges_is_quiet() -> None:
    usage = busy_weekdays()
    rules = QuietRules()
    last = MONDAY_9 + 10 * 60
    usage = usage.started(last)
    busy_sibling = Context(siblings_started=1, siblings_expected=1.0)
    assert check_quiet(usage, last + 8 * HOUR, rules, context=busy_sibling).state == "ok"  # e^-8 is not rare enough
    tuesday_noon = last + 27 * HOUR
    check = check_quiet(usage, tuesday_noon, rules, context=busy_sibling)
    assert check.state == "quiet" and math.exp(-check.expected) < rules.p_max
    assert check.reason.startswith("no start for 27 h; usually")
    assert check_quiet(usage, tuesday_noon, rules, context=Context(0, 1.0)).state == "ok"  # the site may be shut
    # A seldom-used sibling that started nothing scales the expectation down only a little: the silence is still
    # rare enough to alert on, and it is the sibling's silence (the site may be shut) that keeps it "ok".
    shut = check_quiet(usage, last + 51 * HOUR, rules, context=Context(siblings_started=0, siblings_expected=0.5))
    assert shut.state == "ok" and math.exp(-shut.expected) < rules.p_max, shut
    holiday = Context(siblings_started=1, siblings_expected=1.0, fleet_ratio=0.3)
    assert check_quiet(usage, tuesday_noon, rules, context=holiday).state == "ok"  # the whole fleet is quiet
    assert check_quiet(usage, tuesday_noon, rules, context=Context()).state == "ok"  # alone: needs more
    assert check_quiet(usage, last + 4 * DAY + 3 * HOUR, rules, context=Context()).state == "quiet"


def test_a_drivers_report_makes_a_suspicious_silence_quiet_at_once_but_not_an_ordinary_one() -> None:
    usage = busy_weekdays()
    rules = QuietRules()
    last = MONDAY_9 + 10 * 60
    usage = usage.started(last)
    sibling = Context(siblings_started=1, siblings_expected=1.0)
    four_hours = check_quiet(usage, last + 4 * HOUR, rules, context=sibling, reported=True)
    assert check_quiet(usage, last + 4 * HOUR, rules, context=sibling).state == "ok"  # e^-4 alone: not rare enough
    assert four_hours.state == "quiet" and "a driver reported it" in four_hours.reason
    assert check_quiet(usage, last + 2 * HOUR, rules, context=sibling, reported=True).state == "ok"  # e^-2: ordinary
    # The driver standing there shows the site open: siblings that started nothing do not excuse the silence.
    shut = Context(siblings_started=0, siblings_expected=1.0)
    assert check_quiet(usage, last + 8 * HOUR, rules, context=shut, reported=True).state == "quiet"
    saturday = MONDAY_9 + 5 * DAY + 4 * HOUR
    assert check_quiet(usage, saturday, rules, context=sibling, reported=True).state == "idle"  # never used then
    young = busy_weekdays(weeks=1).started(MONDAY_9)
    assert check_quiet(young, MONDAY_9 + 10 * HOUR, rules, context=sibling, reported=True).state == "unjudged"


def test_never_at_hours_it_is_normally_idle_and_never_without_history() -> None:
    usage = busy_weekdays().started(MONDAY_9 + 4 * DAY + 10 * HOUR)  # Friday morning, then nothing
    saturday = MONDAY_9 + 5 * DAY + 4 * HOUR
    sibling = Context(siblings_started=3, siblings_expected=1.0)
    assert check_quiet(usage, saturday, QuietRules(), context=sibling).state == "idle"
    young = busy_weekdays(weeks=1).started(MONDAY_9)
    thin = check_quiet(young, MONDAY_9 + 10 * HOUR, QuietRules(), context=sibling)
    assert thin.state == "unjudged" and "not enough history" in thin.reason
    assert check_quiet(None, MONDAY_9, QuietRules(), context=sibling).state == "unjudged"


def test_rows_are_bounded_to_the_window() -> None:
    usage = busy_weekdays(weeks=12)
    assert len(usage.weeks) <= 5 and all(len(r) == 168 for r in usage.weeks.values())
    assert hour_at(MONDAY_9) % 168 == 9


def test_five_slow_charges_on_a_normally_fast_dc_connector_are_slow_one_is_not() -> None:
    usual = [45_000.0] * 20
    assert not is_slow(usual + [15_000.0], 150_000, SlowRules())  # one slow car
    assert is_slow(usual + [15_000.0] * 5, 150_000, SlowRules())
    assert not is_slow(usual + [40_000.0] * 5, 150_000, SlowRules())  # a bit slower: not half
    assert not is_slow([15_000.0] * 25, 150_000, SlowRules())  # always like that: its own normal
    assert not is_slow([45_000.0] * 3, 150_000, SlowRules())  # too little to say


def test_occupied_without_a_charge_is_an_episode() -> None:
    t = MONDAY_9
    since = occupied_without_charge(None, occupied=True, charging=False, now=t)
    assert since == t and occupied_without_charge(since, occupied=True, charging=False, now=t + 60) == t
    assert occupied_without_charge(since, occupied=True, charging=True, now=t + 120) is None
    assert occupied_without_charge(since, occupied=False, charging=False, now=t + 120) is None


def test_health_grades_name_their_reason() -> None:
    quiet = check_quiet(busy_weekdays().started(MONDAY_9), MONDAY_9 + 27 * HOUR, QuietRules(),
                        context=Context(1, 1.0))
    grade = connector_health(box_down=False, open_incident="quiet", quiet=quiet, slow=False, occupied_stuck=False,
                             success_7d=(10, 10))
    assert grade.grade == "failing" and "no start for 27 h" in grade.reason
    assert connector_health(box_down=False, open_incident=None, quiet=None, slow=False, occupied_stuck=False,
                            success_7d=(3, 10)).grade == "watch"
    assert connector_health(box_down=True, open_incident=None, quiet=None, slow=False, occupied_stuck=False,
                            success_7d=None).grade == "failing"
    assert connector_health(box_down=False, open_incident=None, quiet=None, slow=False, occupied_stuck=False,
                            success_7d=(9, 10)).grade == "good"
