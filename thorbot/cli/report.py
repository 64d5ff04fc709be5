"""`thorbot report [<box|name>|all] [7d|30d|YYYY-MM|12m] [--csv FILE]`: the reliability report in the
terminal, from Redis alone (no Thor or Slack needed)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from thorbot.adapters.history_store import known_boxes
from thorbot.adapters.terminal import glyphs, shown
from thorbot.domain.report_view import UPTIME_LABEL, fleet_lines, minutes, pct, report_csv, strip
from thorbot.domain.search import match_boxes
from thorbot.domain.text import plural
from thorbot.domain.uptime import parse_period
from thorbot.runtime import open_redis, utc_now
from thorbot.services.reports import gather_report
from thorbot.settings import Settings

ROWS = 40


async def run_report(settings: Settings, words: list[str], csv_path: str | None,
                     console: Console | None = None) -> int:
    console = console or Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    period_text = "30d"
    if words and parse_period(words[-1], utc_now()) is not None:
        period_text = words.pop()
    query = " ".join(words).strip()
    now = utc_now()
    period = parse_period(period_text, now, settings.timezone)
    if period is None:  # pragma: no cover - checked above
        return 2
    async with open_redis(settings) as redis:
        box_ids: list[str] | None = None
        if query and query.lower() not in ("all", "fleet"):
            matches = match_boxes(await known_boxes(redis), query)
            if len(matches) != 1:
                found = plural(len(matches), "chargebox") if matches else "no chargeboxes"
                err.print(f"thorbot report: {found} with history match {query!r}" + ("; use an id" if matches else ""),
                          markup=False)
                return 3 if not matches else 4
            box_ids = [matches[0].id]
        report = await gather_report(redis, period, now, box_ids)
    if csv_path:
        text = report_csv(report)
        if csv_path == "-":
            sys.stdout.write(text)
            return 0
        try:
            Path(csv_path).write_text(text, encoding="utf-8")
        except OSError as exc:
            err.print(f"thorbot report: cannot write {csv_path}: {exc.strerror or exc}", markup=False)
            return 1
        err.print(f"thorbot report: {len(report.boxes)} boxes written to {csv_path}", markup=False)
        return 0
    console.print(f"[bold]Reliability report · {period.label}[/bold] ({period.zone})")
    if not report.boxes:
        console.print("No history yet: thorbot keeps one from the moment a channel subscribes to boxes.")
        return 0
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
    return 0
