"""Connector health for many boxes at once (`list`, App Home): from what the worker decided, cheaply.

The card grades one box fully (serve/cards.py, with its 7-day success rates and every baseline); a
fleet-wide view reads each watched box's usage and failed-starts records in a few round trips and shows
only the connectors that need a look (domain/usage.py `box_health`, `judge_quiet=False`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.usage_store import UsageStore
from thorbot.domain.failed_starts import connector_key
from thorbot.domain.usage import GRADE_ORDER, Health, QuietRules, box_health


async def needing_a_look(usages: UsageStore, sessions: SessionStore, rules: QuietRules, now: datetime,
                         down: Mapping[str, bool]) -> dict[str, list[tuple[int, Health]]]:
    """Box id → its failing or watched connectors, worst first (`down`: box id → is the box down; a down
    box's own alert says enough)."""
    usage = await usages.load(sorted(down))
    by_box: dict[str, list[int]] = {}
    for box_id, connector in usage:
        by_box.setdefault(box_id, []).append(connector)
    wanted = [connector_key(b, c) for b, c in sorted(usage)]
    records = await sessions.connector_records(wanted)
    out: dict[str, list[tuple[int, Health]]] = {}
    for box_id, connectors in by_box.items():
        mine = {c: usage[(box_id, c)] for c in connectors}
        failing = [c for c in mine if (r := records.get(connector_key(box_id, c))) and r.incident]
        graded = box_health(mine, sorted(mine), now.timestamp(), rules, box_down=down[box_id], failing=failing,
                            judge_quiet=False)
        bad = sorted(((c, h) for c, h in graded.items() if h.grade in ("failing", "watch") and not down[box_id]),
                     key=lambda item: (GRADE_ORDER[item[1].grade], item[0]))
        if bad:
            out[box_id] = bad
    return out

