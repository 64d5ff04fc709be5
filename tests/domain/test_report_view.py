"""Reports as people read them (domain/report_view.py, domain/home_view.py): pure, time passed in."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from tests.helpers import assert_valid_message
from thorbot.domain.home_view import render_home
from thorbot.domain.incidents import BoxRecord, Incident, Status
from thorbot.domain.report_view import home_blocks, render_report, report_csv
from thorbot.domain.uptime import BoxHistory, Outage, build_report, parse_period

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=90)


def report_of(histories: list[BoxHistory], period: str = "30d") -> str:
    window = parse_period(period, NOW)
    assert window is not None
    payload = render_report(build_report(window, histories, [], NOW), scope="all", period_text=period)
    assert_valid_message(payload)
    return json.dumps(payload, ensure_ascii=False)


def test_the_boxes_after_the_worst_are_summed_up_in_plain_words() -> None:
    down = [BoxHistory.of(f"D{i}", f"Down {i}", LONG_AGO, (Outage("offline", NOW - timedelta(hours=i + 1),
                                                                  NOW - timedelta(hours=i)),)) for i in range(12)]
    fine = [BoxHistory.of(f"F{i}", f"Fine {i}", LONG_AGO) for i in range(13)]
    text = report_of(down + fine)
    assert "…and 13 more boxes, all at 100 % (none with an outage)" in text
    assert "or better" not in text
    text = report_of(down + [down[0]] + fine)  # one of the rest had an outage: its figure is the floor
    assert "…and 14 more boxes, none below 99.86 % (13 without any outage)" in text


def test_one_box_is_not_called_a_fleet() -> None:
    text = report_of([BoxHistory.of("B1", "Depot", LONG_AGO)])
    assert "Connectivity uptime: 100 %" in text and "Fleet" not in text and "across" not in text
    assert "across 2 chargeboxes" in report_of([BoxHistory.of("B1", "Depot", LONG_AGO),
                                               BoxHistory.of("B2", "Lot", LONG_AGO)])


def test_a_short_history_says_how_much_time_it_covers() -> None:
    young = BoxHistory.of("B1", "Depot", NOW - timedelta(minutes=16),
                          (Outage("offline", NOW - timedelta(minutes=4), NOW - timedelta(minutes=1)),))
    text = report_of([young])
    assert "history starts" in text and "covers 16 min of the last 30 days" in text
    window = parse_period("30d", NOW)
    assert window is not None
    home = json.dumps(home_blocks(build_report(window, [young], [], NOW)))
    assert "covers 16 min of the last 30 days" in home
    assert "history starts" not in report_of([BoxHistory.of("B1", "Depot", LONG_AGO)])


def test_every_csv_cell_is_plain_text_to_a_spreadsheet() -> None:
    window = parse_period("30d", NOW)
    assert window is not None
    hostile = ["=HYPERLINK(\"http://x\")", "+cmd", "-2+3", "@SUM(1)", " =1+1", "\tTAB"]
    histories = [BoxHistory.of(h, h, LONG_AGO) for h in hostile]
    rows = list(csv.reader(io.StringIO(report_csv(build_report(window, histories, [], NOW)))))
    for row in rows[1:]:
        for cell in row:
            assert cell.lstrip(" ")[:1] not in ("=", "+", "-", "@", "\t"), row
    assert {r[0] for r in rows[2:]} == {"'" + h for h in hostile}


def test_home_counts_a_box_failing_every_charge_as_needing_attention() -> None:
    records = {"B1": BoxRecord(status=Status.ONLINE, since=LONG_AGO, alias="Depot"),
               "B2": BoxRecord(status=Status.ONLINE, since=LONG_AGO, alias="Lot")}
    failing = Incident(id="f1", box_id="B1", kind="failed_starts", started=NOW, opened=NOW, connector=1)
    home = json.dumps(render_home(records, [(failing, None)], [], NOW, open_boxes=frozenset({"B1"})),
                      ensure_ascii=False)
    assert "2 online · 1 needs attention" in home
    assert "0 need attention" in json.dumps(render_home(records, [], [], NOW))
