"""One bad value from Thor never stops the fleet: the other boxes are judged and alerted as usual."""

from __future__ import annotations

import pytest

from tests.helpers import AppRig
from tests.worker_rig import Clock, alerts, boxes, make_worker, poll, subscribe


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.mark.parametrize("bad", [float("inf"), "Infinity", 10**400], ids=["inf", "Infinity", "10^400"])
@pytest.mark.parametrize("mode", ["per-box", "list"])
async def test_an_unreadable_power_on_one_box_does_not_stop_alerts_for_others(
        rig: AppRig, clock: Clock, bad: object, mode: str) -> None:
    broken, healthy = boxes(rig)[:2]
    broken.connectors[0].power = bad  # type: ignore[assignment]
    broken.connectors[0].max_amperage = bad  # type: ignore[assignment]
    await subscribe(rig, "all" if mode == "list" else f"{broken.id} {healthy.id}")
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    broken.connected = False
    healthy.connected = False
    await poll(worker, clock, rig, 10)
    await poll(worker, clock, rig, 150)
    assert worker.last_report is not None and worker.last_report.ok, worker.last_report
    shown = " ".join(str(m.blocks) for m in alerts(rig))  # type: ignore[attr-defined]
    assert healthy.alias in shown and broken.alias in shown
    _, key = await rig.command(broken.id)
    card = await rig.reply(key)
    assert "unreadable data" in str(card["blocks"]) and "connector #1 power" in str(card["blocks"])


async def test_a_list_entry_without_a_usable_id_is_skipped(rig: AppRig, clock: Clock) -> None:
    await subscribe(rig, "all")
    worker = make_worker(rig, clock)
    rig.thor.fleet.boxes[boxes(rig)[0].id].id = {"not": "an id"}  # type: ignore[assignment]
    await poll(worker, clock, rig)
    assert worker.last_report is not None and worker.last_report.ok
