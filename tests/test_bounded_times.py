"""Times people type are bounded where they are read (issue 28, findings 1, 11 and 12): signed slash commands
into the real Bolt app, a real Redis, a steered clock."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import AppRig
from tests.worker_rig import Clock, subscribe
from thorbot.adapters import keys

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
WENT_WRONG = "Something went wrong"


@pytest.fixture
def clock() -> Clock:
    steered = Clock()
    steered.now = NOW
    return steered


async def answer(rig: AppRig, text: str, channel: str = "C0ALERTS") -> tuple[int, str]:
    """The HTTP status of the ack and the words of the answer (the ack itself, or what followed it)."""
    response, key = await rig.command(text, channel=channel)
    body: dict[str, Any] = {}
    if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
    return response.status_code, json.dumps(body if body else await rig.reply(key), ensure_ascii=False)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


async def test_a_window_planned_far_ahead_keeps_every_other_boxs_maintenance(rig: AppRig, clock: Clock) -> None:
    a, b, c = list(rig.thor.fleet.boxes)[:3]
    rig.use_clock(clock)
    await subscribe(rig, "all")
    clock.now = NOW - timedelta(days=20)
    assert "Maintenance" in (await answer(rig, f"maintenance {a} now 6h rewiring"))[1]  # 20 days ago: in reports
    clock.now = NOW
    assert "Maintenance" in (await answer(rig, f"maintenance {b} tomorrow 09:00 1h"))[1]
    ahead = (NOW + timedelta(days=360)).date().isoformat()
    assert "Maintenance" in (await answer(rig, f"maintenance {c} {ahead} 09:00 30d"))[1]
    assert await rig.ctx.redis.zcard(keys.MAINTENANCE) == 3
    kept = await rig.ctx.stores.history.maintenance(NOW - timedelta(days=30))  # what a 30-day report reads
    assert sorted(kept) == sorted([a, b, c])
    assert kept[a] == [((NOW - timedelta(days=20)).timestamp(), (NOW - timedelta(days=20, hours=-6)).timestamp())]


@pytest.mark.parametrize("start", ["9999-12-31 22:00", "9999-12-31 23:59", "2028-03-03 09:00"])
async def test_a_start_more_than_a_year_ahead_is_refused(rig: AppRig, clock: Clock, start: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    box = next(iter(rig.thor.fleet.boxes))
    rig.use_clock(clock)
    await subscribe(rig, "all")
    status, said = await answer(rig, f"maintenance {box} {start} 1h")
    assert status == 200 and "more than a year ahead" in said and WENT_WRONG not in said
    assert await rig.ctx.redis.zcard(keys.MAINTENANCE) == 0
    no_tracebacks(caplog)


@pytest.mark.parametrize("rig", [{"timezone": "Europe/Rome"}], indirect=True)
async def test_maintenance_across_daylight_saving_lasts_as_typed(rig: AppRig, clock: Clock) -> None:
    box = next(iter(rig.thor.fleet.boxes))
    rig.use_clock(clock)
    await subscribe(rig, "all")
    _, said = await answer(rig, f"maintenance {box} 2027-03-28 02:30 1h")
    assert "02:30 does not exist on 2027-03-28 in Europe/Rome: clocks go forward at 02:00" in said
    assert await rig.ctx.redis.zcard(keys.MAINTENANCE) == 0
    _, said = await answer(rig, f"maintenance {box} 2027-10-31 02:30 1h autumn")
    assert "Maintenance" in said
    [stored] = await rig.ctx.redis.zrange(keys.MAINTENANCE, 0, -1)
    window = json.loads(stored)
    start, end = datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    assert start == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # the first 02:30 (summer time)
    assert end - start == timedelta(hours=1)


async def test_a_mute_of_a_trillion_days_is_acked_with_its_limit(rig: AppRig,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    await subscribe(rig, "all")
    response, _ = await rig.command("mute all 999999999999d")
    assert response.status_code == 200
    assert "at most 30 days" in response.json()["text"]  # the ack is the usage error itself
    assert await rig.ctx.redis.keys(keys.PREFIX + "holds:*") == []
    no_tracebacks(caplog)


@pytest.mark.parametrize(("text", "says"), [
    ("maintenance {box} now 999999999999d", "at most 30 days"),
    ("maintenance {box} 2027-03-02 09:00 99999999999999999999h", "at most 30 days"),
    ("maintenance {box} now 0m", "at least one minute"),
    ("maintenance {box} now -1h", "negative"),
    ("maintenance {box} now ١٢h", "digits 0–9"),
    ("maintenance {box} 2027-02-30 09:00 1h", "February 2027 has 28 days"),
    ("maintenance {box} tomorrow 24:00 1h", "not a time of day"),
    ("maintenance {box} 0001-01-01 00:00 1h", "has passed already"),
    ("mute {box} ١٢h", "digits 0–9"),
    ("mute {box} 0m", "at least one minute"),
    ("mute {box} -5m", "negative"),
    ("mute {box}   2h   ", "Muted"),
    ("cause {box} 9999-12-31 23:59 utility", "in the future"),
    ("cause {box} 0001-01-01 00:00 utility", "more than 400 days ago"),
    ("cause {box} 2027-02-30 09:00 utility", "February 2027 has 28 days"),
    ("cause {box} 2026-12-01 24:00 utility", "not a time of day"),
    ("rotation override <@U0BOB|bob> until 9999-12-31 23:59", "at most 31 days"),
    ("rotation override <@U0BOB|bob> until 999999999999h", "at most 31 days"),
    ("digest daily ٠٩:٠٠", "not a time of day"),
    ("report {box} ١٢d", "not a period I know"),
])
async def test_hostile_times_get_a_clear_reply(rig: AppRig, clock: Clock, text: str, says: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    box = next(iter(rig.thor.fleet.boxes))
    rig.use_clock(clock)
    await subscribe(rig, "all")
    await rig.ctx.redis.hset(keys.HISTORY_FIRST_SEEN, box, str(NOW.timestamp()))  # `cause` looks among these
    if text.startswith("rotation override"):
        await answer(rig, "rotation <@U0ALICE|alice> <@U0BOB|bob> weekly mon 09:00")
    status, said = await answer(rig, text.format(box=box))
    assert status == 200 and says in said and WENT_WRONG not in said and "Traceback" not in said
    if not says == "Muted":
        assert await rig.ctx.redis.zcard(keys.MAINTENANCE) == 0
    no_tracebacks(caplog)
