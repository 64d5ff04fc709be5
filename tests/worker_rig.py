"""Helpers for worker tests: a steerable clock and workers wired to the rig's real parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers import AppRig
from thorbot.runtime import build_worker
from thorbot.sim.fleet import SimBox
from thorbot.worker.loop import Worker


class Clock:
    """Simulated time for the worker and the fleet (the domain never reads the real clock)."""

    def __init__(self) -> None:
        self.now = datetime.now(tz=UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_worker(rig: AppRig, clock: Clock, worker_id: str = "w1", **overrides: Any) -> Worker:
    settings = rig.settings.with_changes(**{"slack_channel_gap": 0.0, **overrides})
    return build_worker(rig.ctx.with_settings(settings).with_clock(clock), worker_id=worker_id)


def heartbeat_all(rig: AppRig, clock: Clock) -> None:
    for box in rig.thor.fleet.boxes.values():
        if box.connected:
            box.last_heartbeat = clock.now


def boxes(rig: AppRig) -> list[SimBox]:
    return list(rig.thor.fleet.boxes.values())
