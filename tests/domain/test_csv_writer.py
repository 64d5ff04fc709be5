"""The one CSV writer: the formula guard (OWASP's list of leading characters, and more) on every text cell of
every file, numbers thorbot computes written as numbers, and no other module writing CSV."""

from __future__ import annotations

import ast
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from thorbot.domain.csv_writer import Num, guard, to_csv
from thorbot.domain.evchart import evchart
from thorbot.domain.report_view import report_csv
from thorbot.domain.uptime import BoxHistory, box_history, build_report, parse_period

PKG = Path(__file__).resolve().parents[2] / "thorbot"
WRITER = PKG / "domain" / "csv_writer.py"

# OWASP's CSV injection list (= + - @ tab CR), line feed, DDE's `|` and `%`, the full-width and small forms,
# each as the cell's first character and after leading spaces, plus payloads seen in the wild.
LEADERS = ["=", "+", "-", "@", "\t", "\r", "\n", "|", "%", "\uff1d", "\uff0b", "\uff0d", "\uff20",
           "\ufe66", "\ufe62", "\ufe63", "\ufe6b"]
HOSTILE = ([f"{c}1+1" for c in LEADERS] + [f"  {c}cmd" for c in LEADERS if not c.isspace()]
           + ["=2+5", "+SUM(1;1)", "@cmd", "\t=1+1", "-2+3", "=HYPERLINK(\"http://x\",\"click\")",
              "=cmd|' /C calc'!A0", "\r\n=1+1", "=1,+2", " \t =1"])
NOW = datetime(2026, 10, 2, tzinfo=UTC)
JUL = datetime(2026, 7, 1, tzinfo=UTC)


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet would read as a formula: the cell (as parsed back from the CSV) begins, after any
    whitespace, with a formula character."""
    return cell[:1] in LEADERS or cell.lstrip()[:1] in LEADERS


@pytest.mark.parametrize("text", HOSTILE)
def test_every_leading_formula_character_is_made_plain_text(text: str) -> None:
    assert guard(text) == "'" + text
    [row] = list(csv.reader(io.StringIO(to_csv([], [[text, "ok"]]).split("\r\n", 1)[1])))
    assert row == ["'" + text, "ok"]  # one cell, quoted as CSV needs, even with commas, quotes, line breaks


@pytest.mark.parametrize("text", ["Depot north", "BOX-1", "1-2", "", "  ", "a=b", "ACME @ depot", "'=quoted",
                                  "\"=1\"", "  \u00a0x"])
def test_ordinary_text_is_written_as_it_is(text: str) -> None:
    assert guard(text) == text


def test_figures_are_numbers_even_negative_and_text_cannot_pass_as_one() -> None:
    text = to_csv(["a", "b", "c", "d", "e"], [[Num(-2.5, 2), Num(-3), Num(12.345, 1), Num(float("nan"), 2), "-4"]])
    assert text.splitlines()[1] == "-2.50,-3,12.3,,'-4"
    bad: Any = "=1+1"
    with pytest.raises(TypeError):
        Num(bad)
    with pytest.raises(TypeError):
        Num(True)
    with pytest.raises(TypeError):
        to_csv(["a"], [[bad_cell()]])


def bad_cell() -> Any:
    return 3.5  # a bare float is neither text nor Num: refused, not written unguarded


def test_the_report_csv_guards_every_hostile_id_and_name() -> None:
    window = parse_period("30d", NOW)
    assert window is not None
    histories = [BoxHistory.of(h, h, JUL - timedelta(days=400)) for h in HOSTILE]
    rows = list(csv.reader(io.StringIO(report_csv(build_report(window, histories, [], NOW)))))
    for row in rows[1:]:
        assert not any(runs_as_formula(cell) for cell in row), row
    assert {r[0] for r in rows[2:]} == {"'" + h for h in HOSTILE}
    assert {r[1] for r in rows[2:]} == {"'" + h for h in HOSTILE}


def test_the_evchart_files_guard_every_hostile_id_and_the_network_provider() -> None:
    period = parse_period("2026Q3", NOW)
    assert period is not None
    down = [((JUL + timedelta(days=3)).timestamp(), (JUL + timedelta(days=3, hours=1)).timestamp())]
    histories = [box_history(h, h, (JUL - timedelta(days=1)).timestamp(), down, {}, 1, [], []) for h in HOSTILE]
    export = evchart(histories, period, [], NOW, network_provider="=HYPERLINK(\"http://evil\",\"x\")")
    assert export.ports == len(HOSTILE) and export.outages == len(HOSTILE)
    for text in (export.module3, export.module4):
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) == len(HOSTILE) + 1
        for row in rows[1:]:
            assert not any(runs_as_formula(cell) for cell in row), row
            assert row[2] == "'=HYPERLINK(\"http://evil\",\"x\")"
        assert {r[0] for r in rows[1:]} == {"'" + h for h in HOSTILE}
    uptime = list(csv.reader(io.StringIO(export.module3)))
    assert all(float(r[5]) < 100 and float(r[6]) == 60.0 for r in uptime[1:])  # the figures stay numbers


# Writing CSV anywhere but the writer: importing csv, or joining cells with commas by hand.
def csv_outside_the_writer(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name == "csv" or a.name.startswith("csv.") for a in node.names):
            found.append("imports csv")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "csv" and not node.level:
            found.append("imports from csv")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
              and isinstance(node.func.value, ast.Constant) and node.func.value.value in (",", ";", "\t")):
            found.append(f"joins cells with {node.func.value.value!r} by hand")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("writerow", "writerows", "DictWriter", "writer")
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "csv"):
            found.append(f"calls csv.{node.func.attr}")
    return found


@pytest.mark.parametrize("source", ["import csv", "import csv as c", "from csv import writer",
                                    "line = ','.join(cells)", "line = ';'.join(cells)", "x = '\\t'.join(c)"])
def test_the_checker_catches_csv_written_by_hand(source: str) -> None:
    assert csv_outside_the_writer(source)


def test_the_checker_passes_ordinary_joins() -> None:
    assert csv_outside_the_writer("text = ', '.join(names)\nline = ' · '.join(parts)\nimport json") == []


def test_no_module_but_the_writer_writes_csv() -> None:
    found = {}
    for path in sorted(PKG.rglob("*.py")):
        if path == WRITER or path.parts[-2] == "sim":  # the simulated world writes no files thorbot produces
            continue
        if problems := csv_outside_the_writer(path.read_text()):
            found[str(path.relative_to(PKG))] = problems
    assert found == {}
