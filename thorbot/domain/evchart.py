"""The EV-ChART export: a quarter's uptime and outages per charging port, in FHWA's upload layout. Pure.

Layout: EV-ChART's data format (the Joint Office's EV-ChART, 2024 data input format, as its open-source
validator `US-JOET/ev-chart-open-source` checks it): Module 3 "Uptime" with the columns
`station_id, port_id, network_provider, uptime_reporting_start, uptime_reporting_end, uptime, total_outage,
total_outage_excl` (times ISO 8601 UTC, uptime a percentage, outages in minutes, two decimals), and
Module 4 "Outages" with `station_id, port_id, network_provider, outage_id, outage_duration` (the outage's
start as its id, its duration in minutes). docs/ev-chart.md says what each column is filled from, and
which ones Thor cannot fill (left empty rather than invented).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from thorbot.domain.csv_writer import Cell, Num, to_csv
from thorbot.domain.uptime import INF, BoxHistory, Period, Span, _seconds, _subtract, measure

MODULE3 = ("station_id", "port_id", "network_provider", "uptime_reporting_start", "uptime_reporting_end", "uptime",
           "total_outage", "total_outage_excl")
MODULE4 = ("station_id", "port_id", "network_provider", "outage_id", "outage_duration")


@dataclass(frozen=True)
class Export:
    module3: str  # CSV text, header first
    module4: str
    ports: int
    outages: int


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(seconds: float) -> Num:
    return Num(seconds / 60, 2)


def evchart(histories: Iterable[BoxHistory], period: Period, unknown: list[Span], now: datetime,
            network_provider: str = "") -> Export:
    """Every port of every box with history in the quarter: its uptime row, and a row per outage.

    Ids and the network provider are text from outside (guarded against formulas, docs/ev-chart.md); the
    figures are numbers, as EV-ChART's validator wants them."""
    window = period.window
    start, end = window.start.timestamp(), min(window.end, now).timestamp()
    blind = _seconds(unknown)
    m3: list[list[Cell]] = []
    m4: list[list[Cell]] = []
    ports = count = 0
    for history in sorted(histories, key=lambda h: h.box_id):
        for spans in history.ports or ():
            port = history.port(spans)
            figures = measure(port, window, unknown, now)
            if figures.percent is None:
                continue  # not seen in the quarter
            ports += 1
            port_id = f"{history.box_id}-{spans.port}"
            m3.append([history.box_id, port_id, network_provider, _iso(start), _iso(end),
                       Num(figures.percent, 2), _minutes(figures.outage.total_seconds()),
                       _minutes(figures.excluded.total_seconds())])
            for a, b in port.outages:
                lo, hi = max(a, start), min(b if b != INF else now.timestamp(), end)
                seen = _subtract([(lo, hi)], blind) if hi > lo else []
                if not seen:
                    continue
                count += 1
                m4.append([history.box_id, port_id, network_provider, _iso(lo),
                           _minutes(sum(y - x for x, y in seen))])
    return Export(to_csv(MODULE3, m3, lineterminator="\n"), to_csv(MODULE4, m4, lineterminator="\n"), ports, count)
