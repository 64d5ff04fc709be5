"""Reliability reports and digests as Block Kit, CSV and App Home blocks. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from thorbot.domain.blocks import Block, Payload, actions, button, context, divider, header, message, section
from thorbot.domain.csv_writer import Cell, Num, to_csv
from thorbot.domain.incidents import BoxRecord
from thorbot.domain.oncall import ALL, Hold
from thorbot.domain.text import code, duration, escape, pack_lines, plural, slack_date, truncate
from thorbot.domain.uptime import ZERO, BoxReport, Report, Sessions, Uptime, grade

ACTION_REPORT_CSV = "report_csv"
ACTION_REPORT_EVCHART = "report_evchart"
SHOWN_BOXES = 12           # boxes listed one by one; the rest are summarised (big fleets)
UPTIME_LABEL = "connectivity uptime"  # Thor exposes no connector fault state: say what is measured
MAX_BLOCKS = 50


def pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 99.995:
        return "100 %"
    return f"{value:.2f} %"


def minutes(value: timedelta) -> str:
    return duration(value.total_seconds()) if value > ZERO else "0 min"


def strip(steps: tuple[float | None, ...]) -> str:
    """One emoji per day (or month)."""
    return "".join(grade(s) for s in steps)


def session_words(sessions: Sessions | None) -> str | None:
    if sessions is None or not sessions.attempts:
        return None
    rate = sessions.success
    return (f"charges: {pct(rate).replace('.00', '')} succeeded ({sessions.ok}/{sessions.attempts}) · "
            f"{sessions.wh / 1000:,.1f} kWh")


def worst_boxes(report: Report, count: int = 5) -> list[BoxReport]:
    """The boxes that had an outage, worst first (the report's order)."""
    return [r for r in report.boxes if r.uptime.outages][:count]


def box_line(row: BoxReport) -> str:
    u = row.uptime
    parts = [f"*{escape(truncate(row.name, 60))}* {code(row.box_id, 40)} — *{pct(u.percent)}*"]
    if u.outages:
        parts.append(f"{plural(u.outages, 'outage')}, down {minutes(u.downtime)}")
        if u.mttr is not None:
            parts.append(f"MTTR {minutes(u.mttr)}")
        parts.append(f"longest {minutes(u.longest)}")
    else:
        parts.append("no outage")
    if u.excluded > ZERO:
        parts.append(f"{minutes(u.excluded)} excluded")
    if u.unknown > ZERO:
        parts.append(f"{minutes(u.unknown)} unknown")
    worst = row.worst_port
    if len(row.ports) > 1 and worst is not None and pct(worst.uptime.percent) != pct(u.percent):
        parts.append(f"port #{worst.port} {pct(worst.uptime.percent)}")
    if row.over_cap > 0:
        parts.append(f"{minutes(timedelta(seconds=row.over_cap))} maintenance over the yearly cap")
    if row.down_now:
        parts.append(":red_circle: down now")
    words = session_words(row.sessions)
    if words:
        parts.append(words)
    return " · ".join(parts) + "\n" + strip(row.steps)


def measured_since(report: Report) -> str | None:
    """When history starts inside the period, say so: a figure over 16 minutes is not one over 30 days."""
    if report.since is None:
        return None
    measured = max(ZERO, min(report.period.window.end, report.generated) - report.since)
    return (f":hourglass_flowing_sand: thorbot's history starts {slack_date(report.since)}: this covers "
            f"{minutes(measured)} of the {report.period.label}, not all of it")


def fleet_lines(report: Report) -> list[str]:
    f = report.fleet
    boxes = len(report.boxes)
    below = sum(1 for r in report.boxes if r.uptime.percent is not None and r.uptime.percent < 97)
    ports = [p for r in report.boxes for p in r.ports if p.uptime.percent is not None]
    ports_below = sum(1 for p in ports if p.uptime.percent is not None and p.uptime.percent < 97)
    over_cap = sum(1 for r in report.boxes if r.over_cap > 0)
    what = f"*Fleet {UPTIME_LABEL}: {pct(f.percent)}* across {plural(boxes, 'chargebox')}" if boxes != 1 else \
        f"*{UPTIME_LABEL.capitalize()}: {pct(f.percent)}*"
    lines = [f"{what} · {plural(f.outages, 'outage')} · {minutes(f.downtime)} down in all"
             + (f" · MTTR {minutes(f.mttr)}" if f.mttr is not None else "")]
    since = measured_since(report)
    if since:
        lines.append(since)
    extra = []
    if below:
        extra.append(f":large_red_square: {below} below NEVI's 97 %")
    if ports_below > below:  # NEVI's figure is per port: a port's own incidents can pull it under alone
        extra.append(f"{ports_below} of {plural(len(ports), 'port')} below 97 %")
    if f.excluded > ZERO:
        extra.append(f"{minutes(f.excluded)} excluded (causes a regulator excuses, maintenance, closed hours)")
    if over_cap:
        extra.append(f"{plural(over_cap, 'box', 'boxes')} with maintenance over the 72 h yearly cap: counted as outage")
    if report.unknown > ZERO:
        extra.append(f"thorbot was not observing for {minutes(report.unknown)}: unknown, counted neither up nor down")
    incidents, reports = report.unconfirmed
    if incidents:
        extra.append(f":loudspeaker: {plural(reports, 'driver report')} nobody confirmed "
                     f"({plural(incidents, 'incident')}): shown apart, counted in no figure")
    words = session_words(report.sessions)
    if words:
        extra.append(words[:1].upper() + words[1:])
    if extra:
        lines.append(" · ".join(extra))
    lines.append(strip(report.fleet_steps))
    return lines


def _legend(report: Report) -> str:
    unit = "month" if report.period.monthly else "day"
    first, last = report.period.step_names[0], report.period.step_names[-1]
    return (f"One square per {unit} ({first} → {last}, {report.period.zone}): :large_green_square: ≥ 99 % · "
            ":large_yellow_square: ≥ 97 % · :large_red_square: below · :white_large_square: not measured. "
            "Uptime = (minutes − (outage − excluded)) / minutes, NEVI's formula; connectivity only (Thor "
            "reports no connector faults).")


def csv_value(scope: str, period: str) -> str:
    return json.dumps({"s": scope[:200], "p": period[:20]}, separators=(",", ":"))


def read_csv_value(value: str) -> tuple[str, str] | None:
    try:
        data = json.loads(value)
        return str(data["s"]), str(data["p"])
    except (ValueError, KeyError, TypeError):
        return None


def rest_line(rest: Sequence[BoxReport]) -> str:
    """The boxes after the worst ones, in a line a reader takes in at once."""
    perfect = sum(1 for r in rest if r.uptime.outages == 0)
    outage_free = "none with an outage" if perfect == len(rest) else f"{perfect} without any outage"
    measured = [r.uptime.percent for r in rest if r.uptime.percent is not None]
    if not measured:
        level = "not measured yet"
    elif min(measured) >= 99.995:
        level = "all at 100 %"
    else:
        level = f"none below {pct(min(measured))}"
    return f"…and {plural(len(rest), 'more box', 'more boxes')}, {level} ({outage_free}). *Download CSV* has every box."


def render_report(report: Report, *, scope: str, period_text: str, title: str | None = None,
                  scope_name: str | None = None) -> Payload:
    """The report as an ephemeral message: fleet first, worst boxes first, big fleets summarised.

    `scope` is "all" or the box's id (the Download CSV button carries it); `scope_name` is what to call it.
    """
    called = scope_name or scope
    name = title or ("Reliability report" if scope == "all" else f"Reliability report · {called}")
    text = f"{name}, {report.period.label}: {UPTIME_LABEL} {pct(report.fleet.percent)}"
    blocks: list[Block] = [header(truncate(f"{name} · {report.period.label}", 150))]
    if not report.boxes:
        blocks.append(section("thorbot has no history for this yet: it keeps one from the moment a channel "
                              "subscribes (`/chargebox subscribe …`)."))
        return message(text, blocks, response_type="ephemeral")
    for chunk in pack_lines(fleet_lines(report)):
        blocks.append(section(chunk))
    blocks.append(divider())
    shown = list(report.boxes[:SHOWN_BOXES])
    rest = report.boxes[SHOWN_BOXES:]
    if len(report.boxes) > 1:
        blocks.append(context(f"Worst first · {plural(len(report.boxes), 'box')}"))
    for chunk in pack_lines([box_line(r) for r in shown]):
        blocks.append(section(chunk))
    if rest:
        blocks.append(section(rest_line(rest)))
    blocks.append(context(_legend(report)))
    for note in report.notes:
        blocks.append(context(f":information_source: {note}"))
    buttons = [button("Download CSV", ACTION_REPORT_CSV, csv_value(scope, period_text))]
    if report.period.quarter:
        buttons.append(button("Download EV-ChART CSV", ACTION_REPORT_EVCHART, csv_value(scope, period_text)))
    blocks.append(actions("report_actions", *buttons))
    return message(text, blocks[:MAX_BLOCKS], response_type="ephemeral")


CSV_COLUMNS = ["box_id", "name", "period_start", "period_end", "measured_min", "uptime_pct", "outages",
               "downtime_min", "mttr_min", "longest_min", "excluded_min", "unknown_min", "down_now",
               "charges_ok", "charges_failed", "charge_success_pct", "kwh", "port"]


def _min(value: timedelta | None) -> Cell:
    return "" if value is None else Num(value.total_seconds() / 60, 1)


def report_csv(report: Report) -> str:
    """A FLEET row, then every box (worst first), each followed by a row per port (`port` set); spreadsheets
    open it as is. Ids and names are text (guarded against formulas); the figures are numbers."""
    start, end = report.period.window.start.isoformat(), report.period.window.end.isoformat()

    def row(box_id: str, name: str, u: Uptime, sessions: Sessions | None, down_now: str,
            port: int | None = None) -> list[Cell]:
        s = sessions or Sessions()
        charges: list[Cell] = [Num(s.ok), Num(s.failed), "" if s.success is None else Num(s.success, 1),
                               Num(s.wh / 1000, 3)] if sessions is not None or port is None else ["", "", "", ""]
        return [box_id, name, start, end, _min(u.measured),
                "" if u.percent is None else Num(u.percent, 3), Num(u.outages), _min(u.downtime), _min(u.mttr),
                _min(u.longest), _min(u.excluded), _min(u.unknown), down_now, *charges,
                "" if port is None else Num(port)]

    rows: list[list[Cell]] = [row("FLEET", "whole fleet", report.fleet, report.sessions, "")]
    for r in report.boxes:
        rows.append(row(r.box_id, r.name, r.uptime, r.sessions, "yes" if r.down_now else "no"))
        for p in r.ports:  # the box is the rollup; NEVI's figure is each port's
            rows.append(row(r.box_id, f"{r.name} #{p.port}", p.uptime, None, "", p.port))
    return to_csv(CSV_COLUMNS, rows)


def digest_facts(watched: Mapping[str, BoxRecord], holds: Sequence[Hold], records: Mapping[str, BoxRecord]
                 ) -> tuple[list[str], list[str]]:
    """What a digest says is down now (of the channel's `watched` boxes) and held here, in words."""
    down = [f"{escape(truncate(r.alias or b, 60))} ({r.incident.kind})" for b, r in sorted(watched.items())
            if r.incident is not None and r.incident.resolved is None]

    def name(box_id: str) -> str:
        if box_id == ALL:
            return "every box watched here"
        record = records.get(box_id)
        return record.alias if record is not None and record.alias else box_id

    held = [f"{escape(truncate(name(h.box_id), 60))} ({h.kind} until {slack_date(h.until)})" for h in holds]
    return down, held


def render_digest(report: Report, *, cadence: str, down_now: list[str], holds: list[str], late_by: timedelta | None,
                  now: datetime) -> Payload:
    """The scheduled digest: down now, the period's outages, the worst 5 boxes, open snoozes and mutes."""
    title = f"thorbot {cadence} digest · {report.period.label}"
    lines: list[str] = []
    if late_by is not None:
        lines.append(f":hourglass: _Late by {minutes(late_by)}: thorbot was not running when it was due._")
    more = f" and {len(down_now) - 15} more" if len(down_now) > 15 else ""
    lines.append("*Down now:* " + (", ".join(down_now[:15]) + more if down_now else "nothing"))
    f = report.fleet
    lines.append(f"*{report.period.label.capitalize()}:* {UPTIME_LABEL} {pct(f.percent)} · "
                 f"{plural(f.outages, 'outage')}, {minutes(f.downtime)} down in all")
    worst = worst_boxes(report)
    if worst:
        lines.append("*Worst boxes:*\n" + "\n".join(f"• {escape(truncate(r.name, 60))} {code(r.box_id, 40)} — "
                                                     f"{pct(r.uptime.percent)}, {plural(r.uptime.outages, 'outage')}, "
                                                     f"down {minutes(r.uptime.downtime)}" for r in worst))
    else:
        lines.append("*Worst boxes:* none had an outage.")
    lines.append("*Muted or snoozed here:* " + (", ".join(holds[:15]) if holds else "nothing"))
    blocks: list[Block] = [header(truncate(title, 150))]
    blocks += [section(chunk) for chunk in pack_lines(lines)]
    blocks.append(context("`/chargebox report` for the full picture · `/chargebox digest off` stops these"))
    return message(title, blocks[:MAX_BLOCKS])


def home_blocks(report: Report) -> list[Block]:
    """App Home: the fleet's 30-day uptime and its worst boxes."""
    if not report.boxes:
        return []
    lines = [f"*{UPTIME_LABEL.capitalize()}, last 30 days: {pct(report.fleet.percent)}* · "
             f"{plural(report.fleet.outages, 'outage')}", strip(report.fleet_steps)]
    since = measured_since(report)
    if since:
        lines.insert(1, since)
    worst = worst_boxes(report)
    if worst:
        lines.append("Worst: " + " · ".join(f"{escape(truncate(r.name, 40))} {pct(r.uptime.percent)}" for r in worst))
    return [header("Reliability"), *[section(c) for c in pack_lines(lines)]]
