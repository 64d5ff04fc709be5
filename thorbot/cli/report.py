"""`thorbot report [<box|name>|all] [7d|30d|YYYY-MM|YYYYQn|12m] [--csv FILE] [--quarter YYYYQn --format
ev-chart]`: the reliability report in the terminal, or its CSV, or a quarter's EV-ChART files, from Redis
alone (no Thor or Slack needed)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from thorbot.adapters.report_source import ReportSource
from thorbot.adapters.terminal import glyphs, shown
from thorbot.domain.evchart import Export
from thorbot.domain.report_view import UPTIME_LABEL, fleet_lines, minutes, pct, report_csv, strip
from thorbot.domain.search import match_boxes
from thorbot.domain.text import plural
from thorbot.domain.uptime import Period, Report, is_quarter, parse_period, period_shape
from thorbot.runtime import open_redis, utc_now
from thorbot.services.reports import gather_evchart, gather_report
from thorbot.settings import Settings

ROWS = 40


def _write(err: Console, path: str, text: str) -> bool:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"thorbot report: cannot write {path}: {exc.strerror or exc}", markup=False)
        return False
    return True


def _period_text(words: list[str], quarter: str | None, err: Console) -> str | None:
    """The period asked for (taken off the end of `words`), or None after saying what is wrong with it."""
    if quarter is not None:
        if not is_quarter(quarter) or parse_period(quarter, utc_now()) is None:
            err.print(f"thorbot report: {quarter!r} is not a quarter: write it like 2026Q3 (Q1 to Q4)", markup=False)
            return None
        return quarter
    if words and parse_period(words[-1], utc_now()) is not None:
        return words.pop()
    if words and period_shape(words[-1]) != "other":
        err.print(f"thorbot report: {words[-1]!r} is not a period: use 7d, 30d (up to 400d), 2026-10, 2026Q3 or 12m",
                  markup=False)
        return None
    return "30d"


def _write_evchart(err: Console, export: Export, period: Period, prefix: str | None) -> int:
    prefix = prefix or f"thorbot-evchart-{period.quarter}"
    if prefix == "-":
        sys.stdout.write(export.module3 + "\n" + export.module4)
        return 0
    for suffix, text in (("uptime", export.module3), ("outages", export.module4)):
        if not _write(err, f"{prefix}-{suffix}.csv", text):
            return 1
    err.print(f"thorbot report: EV-ChART {period.label}: {plural(export.ports, 'port')} written to "
              f"{prefix}-uptime.csv, {plural(export.outages, 'outage')} to {prefix}-outages.csv", markup=False)
    return 0


def _write_csv(err: Console, report: Report, path: str | None) -> int:
    text = report_csv(report)
    if not path or path == "-":
        sys.stdout.write(text)
        return 0
    if not _write(err, path, text):
        return 1
    err.print(f"thorbot report: {len(report.boxes)} boxes written to {path}", markup=False)
    return 0


def _print_table(console: Console, report: Report, period: Period) -> None:
    console.print(f"[bold]Reliability report · {period.label}[/bold] ({period.zone})")
    if not report.boxes:
        console.print("No history yet: thorbot keeps one from the moment a channel subscribes to boxes.")
        return
    for line in fleet_lines(report):
        console.print(shown(glyphs(line.replace("*", ""))))
    table = Table(show_lines=False)
    for column in ("box", "name", UPTIME_LABEL, "outages", "down", "MTTR", "longest", "excluded", "unknown",
                   "month by month" if period.monthly else "day by day"):
        table.add_column(column)
    for row in report.boxes[:ROWS]:
        u = row.uptime
        table.add_row(shown(row.box_id), shown(row.name[:40]), pct(u.percent), str(u.outages),
                      minutes(u.downtime), minutes(u.mttr) if u.mttr else "—", minutes(u.longest),
                      minutes(u.excluded), minutes(u.unknown), glyphs(strip(row.steps)))
    console.print(table)
    if len(report.boxes) > ROWS:
        console.print(f"…and {len(report.boxes) - ROWS} more boxes (`--csv` writes them all).")
    for note in report.notes:
        console.print(f"Note: {note}", markup=False)


async def run_report(settings: Settings, words: list[str], csv_path: str | None,
                     console: Console | None = None, *, quarter: str | None = None, form: str | None = None) -> int:
    console = console or Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    period_text = _period_text(words, quarter, err)
    if period_text is None:
        return 2
    query = " ".join(words).strip()
    now = utc_now()
    period = parse_period(period_text, now, settings.timezone)
    if period is None:  # pragma: no cover - checked above
        return 2
    if form == "ev-chart" and not period.quarter:
        err.print("thorbot report: EV-ChART is filed by quarter: add --quarter 2026Q3", markup=False)
        return 2
    async with open_redis(settings) as redis:
        source = ReportSource(redis)
        box_ids: list[str] | None = None
        if query and query.lower() not in ("all", "fleet"):
            matches = match_boxes(await source.history.known_boxes(), query)
            if len(matches) != 1:
                found = plural(len(matches), "chargebox") if matches else "no chargeboxes"
                err.print(f"thorbot report: {found} with history match {query!r}" + ("; use an id" if matches else ""),
                          markup=False)
                return 3 if not matches else 4
            box_ids = [matches[0].id]
        if form == "ev-chart":
            return _write_evchart(err, await gather_evchart(source, period, now, box_ids, settings.posted_hours,
                                                            settings.evchart_network_provider), period, csv_path)
        report = await gather_report(source, period, now, box_ids, hours=settings.posted_hours)
    if csv_path or form == "csv":
        return _write_csv(err, report, csv_path)
    _print_table(console, report, period)
    return 0
