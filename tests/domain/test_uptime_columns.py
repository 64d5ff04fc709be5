"""The report's fast path (uptime_columns: a chunk of boxes as arrays) against the plain one (uptime: box by box),
on random fleets: the same Report, to the bit, and the same CSV."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thorbot.domain.causes import CAUSES
from thorbot.domain.report_view import report_csv
from thorbot.domain.uptime import (
    INF,
    BoxInput,
    Report,
    ReportBuilder,
    Seconds,
    Sessions,
    Span,
    box_history,
    parse_period,
)
from thorbot.domain.uptime_columns import (
    ChunkColumns,
    add_columns,
    cause_rows,
    history_rows,
    measure_chunk,
)

NOW = datetime(2026, 11, 24, 12, 0, 7, tzinfo=UTC)
T = int(NOW.timestamp())
DAY = 86400
YEAR = 400 * DAY  # history reaches back to the first calendar year's start, past the window
CAUSE_NAMES = [*CAUSES, "a_cause_from_a_newer_version"]


@st.composite
def spans(draw: st.DrawFn, count: int, longest: int = 30 * DAY) -> list[Seconds]:
    """Spans over the history's reach, most in the same few weeks (so they overlap, touch, and fill the caps)."""
    out: list[Seconds] = []
    for _ in range(draw(st.integers(0, count))):
        if out and draw(st.integers(0, 3)) == 0:
            a = int(out[-1][1])  # touching the one before
        else:
            a = draw(st.one_of(st.integers(T - 50 * DAY, T - 60), st.integers(T - YEAR, T - 60)))
        out.append((float(a), float(a + draw(st.one_of(st.integers(0, longest), st.integers(0, 3 * 3600))))))
    return out


@st.composite
def boxes(draw: st.DrawFn, index: int) -> tuple[BoxInput, Sessions | None]:
    outages = draw(spans(8))
    ports = {p: draw(spans(4, 3 * DAY)) for p in draw(st.sets(st.integers(1, 3), max_size=2))}
    ports = {p: s for p, s in ports.items() if s}
    if draw(st.booleans()):  # down now: an open outage (never given a cause: see test_an_open_outage_with_a_cause)
        outages.append((float(draw(st.integers(T - 40 * DAY, T - 1))), INF))
    if ports and draw(st.booleans()):
        port = next(iter(ports))
        ports[port].append((float(draw(st.integers(T - 40 * DAY, T - 1))), INF))
    closed_outages = [a for a, b in outages if b != INF]
    causes = {int(a): draw(st.sampled_from(CAUSE_NAMES)) for a in closed_outages if draw(st.booleans())}
    port_causes = {int(a): draw(st.sampled_from(CAUSE_NAMES)) for own in ports.values() for a, b in own
                   if b != INF and draw(st.booleans())}
    first_seen = draw(st.one_of(st.none(), st.integers(T - YEAR - 30 * DAY, T + DAY).map(float)))
    maintenance = draw(spans(4, 4 * DAY)) + [(a - 3600, b + 3600) for a, b in outages[:3] if b != INF
                                             and draw(st.booleans())]
    closed = draw(st.sampled_from([[], [(float(T - 100 * DAY), float(T - 90 * DAY))],
                                   [(float(T - d * DAY - 8 * 3600), float(T - d * DAY)) for d in range(60, 0, -1)]]))
    sessions = draw(st.one_of(st.none(), st.builds(Sessions, st.integers(0, 50), st.integers(0, 9),
                                                   st.integers(0, 10**6))))
    return BoxInput(f"BOX{index:03d}", f"Box {index}", first_seen, outages, ports, draw(st.integers(0, 3)),
                    maintenance, closed, causes, port_causes), sessions


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[tuple[BoxInput, Sessions | None]], list[Span], str, str]:
    fleet = [draw(boxes(i)) for i in range(draw(st.integers(0, 12)))]
    unknown = []
    for _ in range(draw(st.integers(0, 3))):
        a = NOW - timedelta(seconds=draw(st.integers(60, 400 * DAY)))
        unknown.append(Span(a, min(NOW, a + timedelta(seconds=draw(st.integers(1, 5 * DAY))))))
    period = draw(st.sampled_from(["12m", "2026Q3", "30d", "2026-03", "7d"]))
    zone = draw(st.sampled_from(["UTC", "America/Los_Angeles", "Europe/Berlin"]))
    return fleet, unknown, period, zone


def plain(fleet: list[tuple[BoxInput, Sessions | None]], unknown: list[Span], period: str, zone: str) -> Report:
    parsed = parse_period(period, NOW, zone)
    assert parsed is not None
    builder = ReportBuilder(parsed, unknown, NOW, with_sessions=True)
    for box, sessions in fleet:
        builder.add(box_history(*box), sessions)
    return builder.finish()


def as_read(boxes: Sequence[BoxInput]) -> ChunkColumns:
    """The chunk as history_store reads it: each box's causes as `kind|start|cause` lines, parsed as columns."""
    lines = ["".join(f"o|{a}|{c}\n" for a, c in (b.causes or {}).items())
             + "".join(f"f|{a}|{c}\n" for a, c in (b.port_causes or {}).items()) for b in boxes]
    return replace(ChunkColumns.of(boxes), causes=[], port_causes=[], given=cause_rows(lines, {"o"}),
                   cause_lines=lines, cause_connectivity=frozenset({"o"}))


def fast(fleet: list[tuple[BoxInput, Sessions | None]], unknown: list[Span], period: str, zone: str,
         chunk: int = 5, read: Callable[[Sequence[BoxInput]], ChunkColumns] = ChunkColumns.of) -> Report:
    """The fast path, a chunk of boxes at a time; `read`: how a chunk comes in (built from the boxes, or `as_read`)."""
    parsed = parse_period(period, NOW, zone)
    assert parsed is not None
    builder = ReportBuilder(parsed, unknown, NOW, with_sessions=True)
    sessions = {box.box_id: s for box, s in fleet if s is not None}
    for start in range(0, len(fleet), chunk):
        add_columns(builder, read([box for box, _ in fleet[start:start + chunk]]), sessions)
    return builder.finish()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fleets())
def test_the_fast_path_reports_what_the_plain_one_does(case: tuple[list[tuple[BoxInput, Sessions | None]],
                                                                   list[Span], str, str]) -> None:
    fleet, unknown, period, zone = case
    expected, got = plain(fleet, unknown, period, zone), fast(fleet, unknown, period, zone)
    assert got == expected
    assert report_csv(got) == report_csv(expected)
    assert fast(fleet, unknown, period, zone, read=as_read) == expected  # causes read as lines, as columns


def test_causes_read_as_lines_are_the_plain_parsers_and_a_second_one_wins() -> None:
    rows = cause_rows(["o|100|vandalism\nf|150|utility_power\no|100|scheduled_maintenance\n", "", "s|7|network\n"],
                      {"o", "s"})
    assert rows is not None
    got = sorted(zip(rows.box.tolist(), rows.port.tolist(), rows.start.tolist(), rows.cls.tolist(), strict=True))
    assert [(b, p, s) for b, p, s, _ in got] == [(0, 0, 100), (0, 0, 100), (0, 1, 150), (2, 0, 7)]
    # Given twice (a hash has one value per field, but two kinds of one source may share a start second): the
    # later line counts, as the plain path's dict keeps the later value.
    start = T - 10 * DAY
    box = BoxInput("B", "b", float(T - YEAR), [(float(start), float(start + DAY))], {}, 1, [], [],
                   {start: "vandalism"})
    twice = [f"o|{start}|network\ns|{start}|vandalism\n"]
    chunk = replace(ChunkColumns.of([box]), causes=[], port_causes=[], given=cause_rows(twice, {"o", "s"}),
                    cause_lines=twice, cause_connectivity=frozenset({"o", "s"}))
    parsed = parse_period("30d", NOW)
    assert parsed is not None
    builder = ReportBuilder(parsed, [], NOW, with_sessions=True)
    add_columns(builder, chunk, {})
    assert builder.finish() == plain([(box, None)], [], "30d", "UTC")
    # Another version's cause, another shape: parsed one by one (the plain path's reading).
    assert cause_rows(["o|1|a_cause_from_a_newer_version\n"], {"o"}) is None
    assert cause_rows(["o|x|vandalism\n"], {"o"}) is None
    lines = ["o|100|vandalism\no|100|scheduled_maintenance\nf|5|network\nq|x|network\n"]
    by_box, by_port = replace(ChunkColumns.of([]), box_ids=["B"], cause_lines=lines,
                              cause_connectivity=frozenset({"o"})).cause_dicts()
    assert by_box == [{100: "scheduled_maintenance"}] and by_port == [{5: "network"}]


def test_a_chunk_the_columns_cannot_hold_is_measured_the_plain_way() -> None:
    """An open outage given a cause has no end for the yearly cap to count to: that chunk goes the plain way
    (and still agrees)."""
    box = BoxInput("B", "b", float(T - YEAR), [(float(T - DAY), INF)], {}, 1, [], [], {T - DAY: "vandalism"})
    parsed = parse_period("30d", NOW)
    assert parsed is not None
    builder = ReportBuilder(parsed, [], NOW, with_sessions=False)
    assert not measure_chunk(builder, ChunkColumns.of([box]), {})
    assert not builder.rows  # nothing half-added
    assert fast([(box, None)], [], "30d", "UTC") == plain([(box, None)], [], "30d", "UTC")


def test_history_members_parse_as_the_plain_parser_reads_them() -> None:
    joined = ["o||100|200\nf|2|150|160\ng||1|2\nq||5|6\n", "", "s|7|300|400\nr|0|1|2\n"]
    box, port, start, end = history_rows(joined, {"o", "s"}, {"f", "q", "r"}) or ((), (), (), ())
    assert list(zip(box, port, start, end, strict=True)) == [(0, 0, 100.0, 200.0), (0, 2, 150.0, 160.0),
                                                              (2, 0, 300.0, 400.0)]
    # Anything else (a member of another shape, another version's kind): the caller parses one by one.
    assert history_rows(["o|1|2\n", "o|1|2|3|4\n"], {"o"}, set()) is None
    assert history_rows(["o|x|1|2\n"], {"o"}, set()) is None
    assert history_rows(["oo||1|2\n"], {"o"}, set()) is None
