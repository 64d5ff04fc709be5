"""The one CSV writer: every file thorbot produces (the report CSV, the EV-ChART files, anything later) is
written here, and nowhere else (tests/domain/test_csv_writer.py walks thorbot/ to keep it so). Pure.

A cell is one of two things, and the type says which:
- `str`: text, which may have come from outside (box ids and names from Thor, settings, notes people type).
  Every text cell goes through the formula guard (OWASP's CSV injection advice): one a spreadsheet would
  run as a formula gets a leading `'` and is then plain text.
- `Num`: a figure thorbot computed itself, written as a number (EV-ChART's validator wants numbers, and a
  negative one must stay negative). `Num` takes only an `int` or a `float`: text cannot be passed as a number,
  to mypy or at run time.
Cells are quoted as CSV needs (a comma, a quote or a line break in a cell stays inside the cell).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# What a spreadsheet (Excel, LibreOffice, Google Sheets) may take as the start of a formula: OWASP's list
# (= + - @ tab CR), line feed (a cell can begin a new line inside quotes), `|` and `%` (DDE and LibreOffice's
# older forms), and the full-width and small forms of = + - @ that East Asian input methods type and some
# spreadsheets read as their ASCII twins.
FORMULA_STARTS = frozenset("=+-@\t\r\n|%" "\uff1d\uff0b\uff0d\uff20" "\ufe66\ufe62\ufe63\ufe6b")


@dataclass(frozen=True)
class Num:
    """A number thorbot computed, written as `value` with `places` decimals (`None`: as an integer)."""

    value: int | float
    places: int | None = None

    def __post_init__(self) -> None:
        # bool is an int to Python but never a figure; str would slip past a careless caller without this.
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise TypeError(f"Num takes an int or a float, not {type(self.value).__name__}")
        if self.places is not None and not 0 <= self.places <= 12:
            raise ValueError(f"places must be 0 to 12, not {self.places}")

    def text(self) -> str:
        if isinstance(self.value, float) and not math.isfinite(self.value):
            return ""  # no figure (nan or inf) is an empty cell, not text a spreadsheet might read otherwise
        if self.places is None:
            return str(int(self.value))
        return f"{self.value:.{self.places}f}"


Cell = str | Num


def guard(text: str) -> str:
    """`text` as a cell no spreadsheet runs: a leading `'` when it starts (after any whitespace) like a formula."""
    return "'" + text if text.lstrip()[:1] in FORMULA_STARTS or text[:1] in FORMULA_STARTS else text


def cell_text(cell: Cell) -> str:
    if isinstance(cell, Num):
        return cell.text()
    if isinstance(cell, str):
        return guard(cell)
    raise TypeError(f"a CSV cell is text or Num, not {type(cell).__name__}")


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, lineterminator: str = "\r\n") -> str:
    """The CSV text of `header` then `rows`; every cell through `cell_text`, quoted where CSV needs it."""
    # csv quotes a cell only for the characters of ITS line terminator: written with "\n", a cell holding a lone
    # "\r" would go out bare and break the row. So every row is written ending in "\r\n" (CR and LF both
    # force quoting), and that ending is swapped for the one asked for.
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    lines: list[str] = []

    def put(cells: list[str]) -> None:
        line.seek(0)
        line.truncate()
        writer.writerow(cells)
        lines.append(line.getvalue()[:-2] + lineterminator)

    put([guard(h) for h in header])
    for row in rows:
        put([cell_text(c) for c in row])
    return "".join(lines)
