"""Which outage time a regulator excuses (causes, caps, hours of operation), maintenance windows as typed,
quarters, and the EV-ChART layout: pure functions, hand-checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thorbot.domain.causes import CAUSES
from thorbot.domain.evchart import MODULE3, MODULE4, evchart
from thorbot.domain.hours import closed_spans, parse_hours
from thorbot.domain.maintenance import WindowRequest, parse_window
from thorbot.domain.slash_commands import ShowReport, parse_command
from thorbot.domain.uptime import (
    BoxHistory,
    CausedOutage,
    Span,
    _whole,
    box_history,
    exclusions,
    is_quarter,
    measure,
    merge_seconds,
    parse_period,
    period_shape,
)
from thorbot.errors import UsageError

H = 3600.0
T0 = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday


def test_the_cause_table_excludes_exactly_what_nevi_lists() -> None:
    assert {c for c, info in CAUSES.items() if info.excluded} == {
        "utility_power", "vandalism", "scheduled_maintenance", "vehicle", "natural_disaster"}


def test_vandalism_is_excused_ten_days_an_incident_and_unknown_not_at_all() -> None:
    down = [(T0, T0 + 12 * 24 * H), (T0 + 20 * 24 * H, T0 + 21 * 24 * H)]
    caused = [CausedOutage(*down[0], "vandalism"), CausedOutage(*down[1], None)]
    excluded, over = exclusions(down, caused, [], [])
    assert excluded == [(T0, T0 + 10 * 24 * H)] and over == 0


def test_maintenance_is_capped_at_72_hours_a_calendar_year_and_the_rest_is_reported() -> None:
    dec = datetime(2025, 12, 31, tzinfo=UTC).timestamp()
    down = [(dec, dec + 100 * H)]  # 24 h in 2025, 76 h in 2026
    excluded, over = exclusions(down, [], [(dec, dec + 100 * H)], [])
    assert excluded == [(dec, dec + 96 * H)] and over == 4 * H
    # A cause of "scheduled maintenance" counts against the same cap as a window.
    excluded, over = exclusions([(T0, T0 + 80 * H)], [CausedOutage(T0, T0 + 80 * H, "scheduled_maintenance")],
                                [], [])
    assert excluded == [(T0, T0 + 72 * H)] and over == 8 * H


def test_a_window_excuses_only_the_outage_inside_it() -> None:
    excluded, _ = exclusions([(T0, T0 + 4 * H)], [], [(T0 + 3 * H, T0 + 10 * H)], [])
    port = box_history("B", "b", T0, [(T0, T0 + 4 * H)], {}, 1, [(T0 + 3 * H, T0 + 10 * H)], [])
    assert excluded == [(T0 + 3 * H, T0 + 4 * H)] and port.maintenance == ((T0 + 3 * H, T0 + 4 * H),)


def test_hours_of_operation_read_and_closed_spans_follow_daylight_saving() -> None:
    assert parse_hours("24/7") is None
    hours = parse_hours("mon-fri 07:00-22:00, sat 08:00-14:00")
    assert hours is not None and hours[6] == [] and hours[5] == [(480, 840)]
    with pytest.raises(ValueError, match="not like"):
        parse_hours("weekdays 7-22")
    with pytest.raises(ValueError, match="open before it closes"):
        parse_hours("mon 22:00-07:00")
    berlin = ZoneInfo("Europe/Berlin")
    sunday = datetime(2026, 3, 29, tzinfo=berlin).timestamp()  # 23 hours long: clocks go forward
    closed = closed_spans(parse_hours("sun 10:00-12:00"), sunday, sunday + 23 * H, berlin)
    assert sum(b - a for a, b in closed) == 21 * H


def test_closed_hours_excuse_outage_time_but_not_the_minutes_measured() -> None:
    hours = parse_hours("mon-sun 06:00-22:00")
    closed = closed_spans(hours, T0, T0 + 24 * H, ZoneInfo("UTC"))
    history = box_history("B", "b", T0, [(T0 + 4 * H, T0 + 8 * H)], {}, 1, [], closed)
    period = parse_period("2026-03", datetime(2026, 4, 2, tzinfo=UTC))
    assert period is not None
    figures = measure(history, period.window, [], datetime(2026, 4, 2, tzinfo=UTC))
    assert figures.outage == timedelta(hours=4) and figures.excluded == timedelta(hours=2)
    assert figures.measured == timedelta(days=30)  # from its first sighting on the 2nd: closed time is measured


def test_a_ports_own_incident_takes_down_that_port_only() -> None:
    history = box_history("B", "b", T0, [(T0, T0 + H)], {2: [(T0 + 5 * H, T0 + 7 * H)]}, 2, [], [],
                          causes={int(T0): "utility_power"}, port_causes={int(T0 + 5 * H): "vehicle"})
    one, two = history.ports
    assert one.outages == ((T0, T0 + H),) and two.outages == ((T0, T0 + H), (T0 + 5 * H, T0 + 7 * H))
    assert one.maintenance == ((T0, T0 + H),)  # the box's excused outage excuses every port
    assert two.maintenance == ((T0, T0 + H), (T0 + 5 * H, T0 + 7 * H))  # and port 2's own, only port 2


@pytest.mark.parametrize(("text", "label", "months"), [("2026Q3", "2026 Q3", ("2026-07", "2026-08", "2026-09")),
                                                      ("2026q4", "2026 Q4", ("2026-10", "2026-11", "2026-12"))])
def test_quarters(text: str, label: str, months: tuple[str, ...]) -> None:
    period = parse_period(text, datetime(2026, 11, 30, tzinfo=UTC))
    assert period is not None and period.label == label and period.step_names == months and period.quarter


@pytest.mark.parametrize("text", ["2026Q5", "2026Q0", "1999Q1", "26Q1"])
def test_quarters_that_do_not_exist(text: str) -> None:
    assert parse_period(text, datetime(2026, 11, 30, tzinfo=UTC)) is None


@pytest.mark.parametrize(("word", "shape", "period"), [
    ("7d", "period", "7d"), ("400d", "period", "400d"), ("2026-10", "period", "2026-10"),
    ("2026Q3", "period", "2026q3"), ("12M", "period", "12m"), ("nevi", "period", "nevi"),
    ("401d", "period", None), ("2026-13", "period", None), ("2026Q5", "meant", None), ("13m", "meant", None),
    ("2026q", "meant", None), ("١٢d", "meant", None), ("1000d", "meant", None), ("depot-7", "other", None)])
def test_one_grammar_reads_a_period_for_the_slash_command_the_cli_and_the_report(
        word: str, shape: str, period: str | None) -> None:
    """What `/chargebox report … <word>` and `thorbot report … <word>` take as the period: one grammar (a
    quarter's alternative removed from it makes `2026Q3` a mistake, not a quarter)."""
    assert period_shape(word) == shape
    assert (parse_period(word, NOW) is not None) == (period is not None)
    assert is_quarter(word) == (period == "2026q3")
    if shape == "other":
        assert parse_command(f"report {word}") == ShowReport(word, "30d")  # a box's name, over the default
    elif shape == "period":  # taken as the period; one out of range is refused when the report is built
        assert parse_command(f"report all {word}") == ShowReport(None, word.lower())
    else:
        with pytest.raises(UsageError, match="not a period I know"):
            parse_command(f"report all {word}")


NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("words", "expected"), [
    ("box-1 now 2h", (NOW, NOW + timedelta(hours=2), None)),
    ("Depot north 2026-12-03 09:00 1d new cabinet", (datetime(2026, 12, 3, 9, tzinfo=UTC),
                                                    datetime(2026, 12, 4, 9, tzinfo=UTC), "new cabinet")),
    ("box-1 09:00 90m", (datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 10, 30, tzinfo=UTC), None)),
])
def test_maintenance_windows_as_typed(words: str, expected: tuple[datetime, datetime, str | None]) -> None:
    request = parse_window(words.split(), ZoneInfo("UTC"), NOW)
    assert isinstance(request, WindowRequest)
    assert (request.start, request.end, request.note) == expected


@pytest.mark.parametrize(("words", "says"), [("box-1 2026-11-01 09:00 2h", "has passed"),
                                             ("box-1 now 31d", "30 days"), ("box-1 now", "duration"),
                                             ("box-1", "say which box")])
def test_maintenance_windows_refused(words: str, says: str) -> None:
    answer = parse_window(words.split(), ZoneInfo("UTC"), NOW)
    assert isinstance(answer, str) and says in answer


def test_the_evchart_layout_has_one_uptime_row_per_port_and_one_row_per_outage() -> None:
    period = parse_period("2026Q1", NOW)
    assert period is not None
    history = box_history("BOX", "b", period.window.start.timestamp(), [(T0, T0 + H / 2)], {}, 2, [], [])
    export = evchart([history], period, [], NOW, "Net")
    lines = export.module3.splitlines()
    assert lines[0] == ",".join(MODULE3) and export.module4.splitlines()[0] == ",".join(MODULE4)
    assert lines[1] == "BOX,BOX-1,Net,2026-01-01T00:00:00Z,2026-04-01T00:00:00Z,99.98,30.00,0.00"
    assert export.module4.splitlines()[1:] == ["BOX,BOX-1,Net,2026-03-02T00:00:00Z,30.00",
                                               "BOX,BOX-2,Net,2026-03-02T00:00:00Z,30.00"]
    assert (export.ports, export.outages) == (2, 2)


raw_spans = st.lists(st.tuples(st.integers(0, 31 * 24 * 60), st.integers(1, 3 * 24 * 60)), max_size=8)


@given(raw_spans, raw_spans, raw_spans, st.integers(0, 40), st.booleans())
def test_a_ports_figure_is_the_boxs_arithmetic(outages: list[tuple[int, int]], excluded: list[tuple[int, int]],
                                              blind: list[tuple[int, int]], day: int, still_down: bool) -> None:
    """The light whole-window measure used for ports agrees with the full one on every figure."""
    t0 = datetime(2026, 10, 1, tzinfo=UTC).timestamp()

    def seconds(raw: list[tuple[int, int]]) -> list[tuple[float, float]]:
        return merge_seconds([(t0 + a * 60, t0 + (a + n) * 60) for a, n in raw])

    down = seconds(outages)
    if still_down and down:
        down[-1] = (down[-1][0], float("inf"))
    history = BoxHistory("B", "b", t0 - 86400, tuple(down), tuple(seconds(excluded)))
    window = Span(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    now = datetime(2026, 10, 1, 7, tzinfo=UTC) + timedelta(days=day)
    unknown = [Span(datetime.fromtimestamp(a, tz=UTC), datetime.fromtimestamp(b, tz=UTC)) for a, b in seconds(blind)]
    assert _whole(history, window, seconds(blind), now) == measure(history, window, unknown, now)
