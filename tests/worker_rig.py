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


async def subscribe(rig: AppRig, text: str, channel: str = "C0ALERTS") -> dict[str, object]:
    _, key = await rig.command(f"subscribe {text}", channel=channel)
    return await rig.reply(key)


async def poll(worker: Worker, clock: Clock, rig: AppRig, advance: float = 0) -> None:
    clock.advance(advance)
    heartbeat_all(rig, clock)
    await worker.tick(poll=True)


def alerts(rig: AppRig, channel: str = "C0ALERTS") -> list[Any]:
    """Top-level posts, less the audit lines a setup change leaves (serve/dispatch.py)."""
    return [m for m in rig.slack.posts(channel) if m.thread_ts is None and not is_audit(m)]


def is_audit(message: Any) -> bool:
    return bool(message.metadata) and message.metadata.get("event_type") == "thorbot_audit"


async def box_drops(rig: AppRig, clock: Clock, *, worker_id: str = "w1", **overrides: Any) -> tuple[Worker, SimBox]:
    """The preamble of many tests: the first box, watched in #alerts and seen online by a worker, drops off.
    Its alert falls due at the worker's next poll past the disconnect grace (`await poll(worker, clock, rig,
    150)`)."""
    box = boxes(rig)[0]
    await subscribe(rig, box.id)
    worker = make_worker(rig, clock, worker_id, **overrides)
    await poll(worker, clock, rig)
    box.connected = False
    await poll(worker, clock, rig, 10)
    return worker, box
