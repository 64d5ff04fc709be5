"""The App Home tab: the fleet at a glance. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from thorbot.domain.alerts import incident_line
from thorbot.domain.blocks import Block, context, header, section
from thorbot.domain.card import health_line
from thorbot.domain.incidents import BoxRecord, Incident, Status
from thorbot.domain.oncall import Ack
from thorbot.domain.status import look
from thorbot.domain.text import code, escape, plural, slack_date, truncate
from thorbot.domain.usage import GRADE_ORDER, Health

PROBLEMS = (Status.OFFLINE, Status.SILENT, Status.GONE, Status.INACTIVE, Status.SUSPECT, Status.RECOVERING)
MAX_LINES = 30


@dataclass(frozen=True)
class ChannelSummary:
    channel: str
    boxes: int
    whole_fleet: bool
    oncall: str | None


def render_home(records: dict[str, BoxRecord], incidents: list[tuple[Incident, Ack | None]],
                channels: list[ChannelSummary], now: datetime, reliability: list[Block] | None = None,
                open_boxes: frozenset[str] = frozenset(),
                connectors: Mapping[str, list[tuple[int, Health]]] | None = None, worker: str | None = None,
                ) -> dict[str, Any]:
    """`incidents`: the open ones shown (with their acks); `open_boxes`: every box with an open incident of any
    kind (a box online but failing every charge needs attention too); `connectors`: the connectors of online
    boxes that are failing or to watch, worst first (services/health.py)."""
    connectors = connectors or {}
    problems = sorted(((i, r) for i, r in records.items() if r.status in PROBLEMS),
                      key=lambda item: (PROBLEMS.index(item[1].status), item[1].since))
    attention = ({i for i, _ in problems} | set(open_boxes) | {i.box_id for i, _ in incidents if i.resolved is None}
                 | set(connectors))
    online = sum(1 for r in records.values() if r.status is Status.ONLINE)
    blocks: list[Block] = [
        header("thorbot — fleet at a glance"),
        context(f"Updated {slack_date(now)}" + (f" · {worker}" if worker and not worker.startswith(":warning:")
                                                else "")),
        *([section(worker)] if worker and worker.startswith(":warning:") else []),  # a worker that stopped: loud
        section(f"*Watched boxes:* {len(records)} · {online} online · {len(attention)} "
                f"{'needs' if len(attention) == 1 else 'need'} attention"),
        header("Offline and silent boxes"),
    ]
    lines = [f"{look(r.status.value).icon} *{escape(truncate(r.alias or i, 60))}* {code(i, 40)} — "
             f"{look(r.status.value).label} since {slack_date(r.since)}" for i, r in problems[:MAX_LINES]]
    if len(problems) > MAX_LINES:
        lines.append(f"_…and {len(problems) - MAX_LINES} more_")
    blocks.append(section("\n".join(lines) if lines else ":large_green_circle: Every watched box is online."))
    blocks.append(header("Open incidents"))
    incident_lines = []
    for incident, ack in incidents[:MAX_LINES]:
        taken = f" · :eyes: {escape(ack.who) if ack.via else ack.who} {slack_date(ack.at)}" if ack else \
            " · *not acknowledged*"
        incident_lines.append(incident_line(incident, now) + taken)
    blocks.append(section("\n".join(incident_lines) if incident_lines else "No open incidents."))
    blocks.append(header("Connectors needing a look"))
    ordered = sorted(connectors.items(), key=lambda item: (GRADE_ORDER[item[1][0][1].grade], item[0]))
    connector_lines = [f"*{escape(truncate(records[b].alias or b if b in records else b, 60))}* {code(b, 40)} "
                       f"#{n} {health_line(h)}" for b, found in ordered for n, h in found][:MAX_LINES]
    blocks.append(section("\n".join(connector_lines) if connector_lines else
                          "Every connector of the online boxes is charging as usual (or too new to judge)."))
    blocks += reliability or []
    blocks.append(header("Your channels"))
    channel_lines = [
        f"• <#{c.channel}> — {'the whole fleet' if c.whole_fleet else plural(c.boxes, 'chargebox')}"
        + (f" · on call {c.oncall}" if c.oncall else "") for c in channels[:MAX_LINES]
    ]
    blocks.append(section("\n".join(channel_lines) if channel_lines else
                           "None of your channels watch chargeboxes yet: try `/chargebox subscribe` in one."))
    return {"type": "home", "blocks": blocks}
