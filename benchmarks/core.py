"""Pure-code throughput: state-machine steps, the raw fast path, card and alert rendering."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from thorbot.domain.alerts import render_alert
from thorbot.domain.card import render_card
from thorbot.domain.incidents import BoxRecord, Observation, Status, Thresholds, quick_record, step
from thorbot.domain.models import parse_chargebox
from thorbot.sim.fleet import Fleet


def _rate(fn: Callable[[], object], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - started)


def bench_core(seconds: float) -> dict[str, Any]:
    now = datetime.now(tz=UTC)
    fleet = Fleet.generate(200, seed=1, now=now)
    raws = [b.to_thor() for b in fleet.boxes.values()]
    boxes = [parse_chargebox(r) for r in raws]
    th = Thresholds()
    prev = BoxRecord(status=Status.ONLINE, since=now - timedelta(hours=1), alias=boxes[0].alias)
    down = boxes[0].model_copy(update={"connected": False})
    suspect = BoxRecord(status=Status.SUSPECT, since=now - timedelta(seconds=300), alias=boxes[0].alias)
    opened = step(suspect, Observation(boxes[0].id, down), now, th)[1][0].incident
    incidents = [opened.model_copy(update={"id": f"{opened.id}{i}", "alias": f"Box {i}"}) for i in range(50)]
    return {
        "step_per_s": _rate(lambda: step(prev, Observation(boxes[0].id, boxes[0]), now, th), seconds),
        "step_opening_incident_per_s": _rate(lambda: step(suspect, Observation(boxes[0].id, down), now, th), seconds),
        "fast_path_per_s": _rate(lambda: quick_record(prev, raws[0], now, th), seconds),
        "parse_box_per_s": _rate(lambda: parse_chargebox(raws[0]), seconds),
        "card_render_per_s": _rate(lambda: render_card(boxes[0], now), seconds),
        "grouped_alert_50_per_s": _rate(lambda: render_alert(incidents, now), seconds),
    }
