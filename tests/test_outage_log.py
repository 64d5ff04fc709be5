"""The outage log a regulator accepts, end to end: a scripted quarter through the real worker, causes
chosen on resolved alerts, a maintenance window planned ahead (and overrunning the 72 h cap), hours of
operation, a port's own incident; the per-port NEVI figures and the EV-ChART export checked against a
hand calculation, byte for byte."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import AppRig, assert_valid_message
from tests.worker_rig import Clock, alerts, make_worker, subscribe
from thorbot.adapters import keys
from thorbot.adapters.history_store import HistoryCommit, HistoryStore, write_cycle
from thorbot.adapters.report_source import ReportSource
from thorbot.domain.alerts import ACTION_CAUSE
from thorbot.domain.hours import PostedHours
from thorbot.domain.incidents import Incident
from thorbot.domain.report_view import ACTION_REPORT_CSV, ACTION_REPORT_EVCHART
from thorbot.domain.uptime import parse_period
from thorbot.services.reports import gather_report
from thorbot.sim.fleet import SimBox

HOUR = timedelta(hours=1)
JUL = datetime(2026, 7, 1, tzinfo=UTC)
OCT = datetime(2026, 10, 1, tzinfo=UTC)
QUARTER_MIN = 92 * 24 * 60  # July, August, September
OPEN = "mon-sun 06:00-22:00"  # closed 22:00–06:00 every night (UTC)
WORKER = {"disconnect_grace": 0.0, "recovery_grace": 0.0, "heartbeat_stale_after": 3 * 3600.0,
          "poll_interval": 3600.0, "escalate_max": 0, "finished_interval": 1.0}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# The script (every edge on the hour, where the worker polls):
# A, 2 ports: utility power 4 h (excluded); equipment 6 h from 02:00 (4 h of it in closed hours: excluded);
#   planned maintenance of 80 h (72 h excluded, the last 8 h beyond the cap count); port 2 fails drivers
#   for 24 h (failed starts; 8 h of it at night: excluded).
# B, 2 ports: vandalism for 10.5 days (10 days excluded, of the 12 h beyond, 6 h at night); 3 h of unknown
#   cause while a channel has it muted (a mute changes nothing).
A_OUT = {"utility": (at(7, 10, 10), at(7, 10, 14)), "equipment": (at(8, 3, 2), at(8, 3, 8)),
         "maintenance": (at(9, 1, 8), at(9, 4, 16))}
A_PORT2 = (at(7, 20, 12), at(7, 21, 12))
B_OUT = {"vandalism": (at(7, 15, 0), at(7, 25, 12)), "unknown": (at(9, 20, 12), at(9, 20, 15))}
CAUSES = {"utility": "utility_power", "equipment": "equipment", "vandalism": "vandalism"}

# The hand calculation, in minutes of outage that count (outage − excluded):
A_COUNTS = 2 * 60 + 8 * 60                      # equipment's 2 open hours; maintenance's 8 h over the cap
A2_COUNTS = A_COUNTS + 16 * 60                  # and port 2's own day, less its 8 closed hours
B_COUNTS = 6 * 60 + 3 * 60                      # vandalism's 6 open hours beyond 10 days; the unknown 3 h
A_OUTAGE = 4 * 60 + 6 * 60 + 80 * 60            # the raw outage minutes (EV-ChART's total_outage)
A2_OUTAGE = A_OUTAGE + 24 * 60
B_OUTAGE = 252 * 60 + 3 * 60


def nevi(counted: int) -> float:
    return (QUARTER_MIN - counted) / QUARTER_MIN * 100


def down(outages: dict[str, tuple[datetime, datetime]], t: datetime) -> bool:
    return any(a <= t < b for a, b in outages.values())


async def fail_drivers(rig: AppRig, box: SimBox, connector: int, energies: tuple[float, ...]) -> None:
    for energy in energies:
        session = rig.thor.fleet.start_session(box.id, connector, mode="local", minutes=1)
        assert session is not None
        session.energy_wh = energy
        rig.thor.fleet.end_session(session.transaction)


async def hourly(rig: AppRig, worker: Any, clock: Clock, box: SimBox, states: tuple[bool, ...]) -> None:
    """A poll an hour, `box` up or down in turn, the rest of the fleet heartbeating."""
    for connected in states:
        box.connected = connected
        for each in rig.thor.fleet.boxes.values():
            if each.connected:
                each.last_heartbeat = clock.now
        await worker.tick(poll=True)
        clock.now += HOUR


def resolved_alert(rig: AppRig, box: SimBox, used: set[str]) -> Any:
    """The newest alert message about `box` not handled yet (its outage is over by now)."""
    found = [m for m in alerts(rig) if box.id in json.dumps(m.blocks) and m.ts not in used]
    assert found, f"no new alert for {box.id}"
    used.add(found[-1].ts)
    return found[-1]


async def choose_cause(rig: AppRig, message: Any, cause: str) -> str:
    _, key = await rig.action(ACTION_CAUSE, "", message={"ts": message.ts, "text": message.text}, selected=cause)
    return json.dumps(await rig.reply(key))


async def play_quarter(rig: AppRig, clock: Clock) -> tuple[SimBox, SimBox]:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    a, b = [box for box in fleet.boxes.values() if len(box.connectors) >= 2][:2]
    for box in (a, b):
        box.connectors = box.connectors[:2]
    for other in [x for x in fleet.boxes if x not in (a.id, b.id)]:
        fleet.remove(other)
    clock.now = JUL - HOUR
    fleet.now = clock.now
    rig.use_clock(clock)
    used: set[str] = set()
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, **WORKER)
    while clock.now <= OCT + HOUR:
        t = fleet.now = clock.now
        if t == at(8, 20, 9):  # planned ahead, as the rule asks
            _, key = await rig.command(f"maintenance {a.id} 2026-09-01 08:00 80h new cabinet")
            assert "Maintenance" in json.dumps(await rig.reply(key))
        if t == at(9, 20, 11):
            _, key = await rig.command(f"mute {b.id} 6h", channel="C0ALERTS")
            assert "Muted" in json.dumps(await rig.reply(key))
        if t == A_PORT2[0]:
            await fail_drivers(rig, a, 2, (20, 40, 10))
        if t == A_PORT2[1]:
            await fail_drivers(rig, a, 2, (18_000,))
        for box, outages in ((a, A_OUT), (b, B_OUT)):
            box.connected = not down(outages, t)
            if box.connected:
                box.last_heartbeat = t
        await worker.tick(poll=True)
        for name, (_, end) in {**A_OUT, **B_OUT}.items():
            if t == end and name in CAUSES:  # the outage is over: its cause, chosen on the resolved alert
                box = a if name in A_OUT else b
                answer = await choose_cause(rig, resolved_alert(rig, box, used), CAUSES[name])
                assert "Recorded for this outage" in answer, answer
        clock.now += HOUR
    return a, b


async def wait_for_files(rig: AppRig, count: int) -> list[dict[str, Any]]:
    for _ in range(500):
        if len(rig.slack.files) >= count:
            return rig.slack.files[:count]
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(rig.slack.files)} files uploaded, not {count}")


def expected_export(a: SimBox, b: SimBox) -> tuple[str, str]:
    def minutes(value: float) -> str:
        return f"{value:.2f}"

    rows = [("A", a, 1, A_OUTAGE, A_COUNTS), ("A", a, 2, A2_OUTAGE, A2_COUNTS), ("B", b, 1, B_OUTAGE, B_COUNTS),
            ("B", b, 2, B_OUTAGE, B_COUNTS)]
    rows.sort(key=lambda r: r[1].id)
    uptime = ["station_id,port_id,network_provider,uptime_reporting_start,uptime_reporting_end,uptime,total_outage,"
              "total_outage_excl"]
    outages = ["station_id,port_id,network_provider,outage_id,outage_duration"]
    for name, box, port, outage, counted in rows:
        uptime.append(f"{box.id},{box.id}-{port},Acme Charging,2026-07-01T00:00:00Z,2026-10-01T00:00:00Z,"
                      f"{nevi(counted):.2f},{minutes(outage)},{minutes(outage - counted)}")
        spans = sorted((A_OUT if name == "A" else B_OUT).values())
        if name == "A" and port == 2:
            spans = sorted([*spans, A_PORT2])
        for start, end in spans:
            outages.append(f"{box.id},{box.id}-{port},Acme Charging,{start:%Y-%m-%dT%H:%M:%SZ},"
                           f"{minutes((end - start).total_seconds() / 60)}")
    return "\n".join(uptime) + "\n", "\n".join(outages) + "\n"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("rig", [{"hours_of_operation": OPEN, "evchart_network_provider": "Acme Charging"}],
                         indirect=True)
async def test_a_hand_checked_quarter_per_port_with_causes_maintenance_and_hours(rig: AppRig, clock: Clock) -> None:
    a, b = await play_quarter(rig, clock)
    _, key = await rig.command("report all 2026Q3")
    report = await rig.reply(key)
    assert_valid_message(report)
    text = json.dumps(report, ensure_ascii=False)
    assert "2026 Q3" in text and "Download EV-ChART CSV" in text
    assert "maintenance over the yearly cap" in text  # A's 8 h beyond 72 h: counted, and said so
    assert "Mutes no longer count as maintenance" in text  # a mute lies in the quarter: the change is noted
    buttons = {e["action_id"]: e["value"] for blk in report["blocks"] if blk["type"] == "actions"
               for e in blk["elements"]}

    # The plain CSV: the box as the rollup, each port its own NEVI figure.
    await rig.action(ACTION_REPORT_CSV, buttons[ACTION_REPORT_CSV])
    [plain] = await wait_for_files(rig, 1)
    rows = {(r["box_id"], r["port"]): r for r in csv.DictReader(io.StringIO(plain["content"]))}
    assert float(rows[(a.id, "")]["uptime_pct"]) == pytest.approx(nevi(A_COUNTS), abs=0.0005)
    assert float(rows[(a.id, "1")]["uptime_pct"]) == pytest.approx(nevi(A_COUNTS), abs=0.0005)
    assert float(rows[(a.id, "2")]["uptime_pct"]) == pytest.approx(nevi(A2_COUNTS), abs=0.0005)
    assert float(rows[(b.id, "")]["uptime_pct"]) == pytest.approx(nevi(B_COUNTS), abs=0.0005)
    assert float(rows[(b.id, "")]["downtime_min"]) == B_COUNTS
    assert float(rows[(a.id, "2")]["excluded_min"]) == A2_OUTAGE - A2_COUNTS

    # The EV-ChART export: two files, byte for byte the hand calculation.
    await rig.action(ACTION_REPORT_EVCHART, buttons[ACTION_REPORT_EVCHART])
    _, module3, module4 = await wait_for_files(rig, 3)
    uptime, outages = expected_export(a, b)
    assert module3["title"] == "EV-ChART uptime, 2026 Q3" and module4["title"] == "EV-ChART outages, 2026 Q3"
    assert module3["content"] == uptime
    assert module4["content"] == outages


async def test_a_cause_is_refused_while_the_outage_is_open_and_audited_once_over(rig: AppRig, clock: Clock) -> None:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    rig.use_clock(clock)
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, **WORKER)
    box = next(iter(fleet.boxes.values()))
    await hourly(rig, worker, clock, box, (True, False))
    [alert] = alerts(rig)
    answer = await choose_cause(rig, alert, "utility_power")
    assert "still going on" in answer
    assert await rig.ctx.redis.hlen(keys.causes(box.id)) == 0  # nothing stored
    _, key = await rig.action(ACTION_CAUSE, "", message={"ts": alert.ts, "text": "x"}, selected="aliens")
    assert "not one thorbot knows" in json.dumps(await rig.reply(key))
    box.connected = True
    box.last_heartbeat = clock.now
    await worker.tick(poll=True)
    answer = await choose_cause(rig, alert, "utility_power")
    assert "Recorded for this outage" in answer and "excluded" in answer
    [stored] = (await rig.ctx.redis.hgetall(keys.causes(box.id))).values()
    assert stored.startswith("utility_power|U0ALICE|")
    redrawn = next(m for m in rig.slack.messages if m.ts == alert.ts)
    assert "Utility power" in json.dumps(redrawn.blocks)


@pytest.mark.parametrize(("words", "says"), [
    ("{box} 2020-01-01 09:00 2h", "has passed already"),
    ("{box} tomorrow 09:00 31d", "from 1 minute to 30 days"),
    ("{box} tomorrow 09:00", "Give a duration"),
    ("{box}", "Say which box"),
    ("nosuchbox-at-all tomorrow 09:00 2h", "No chargebox"),
    ("cancel m000000", "No upcoming or running maintenance window"),
])
async def test_bad_maintenance_windows_get_a_clear_reply_and_store_nothing(rig: AppRig, words: str,
                                                                           says: str) -> None:
    box = next(iter(rig.thor.fleet.boxes.values()))
    await subscribe(rig, "all")
    _, key = await rig.command("maintenance " + words.format(box=box.id))
    assert says in json.dumps(await rig.reply(key))
    assert await rig.ctx.redis.zcard(keys.MAINTENANCE) == 0


async def test_overlapping_maintenance_is_refused_and_a_window_holds_alerts_everywhere(rig: AppRig,
                                                                                      clock: Clock) -> None:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    rig.use_clock(clock)
    box = next(iter(fleet.boxes.values()))
    await subscribe(rig, box.id)
    await subscribe(rig, box.id, channel="C0OTHER")
    _, key = await rig.command(f"maintenance {box.id} now 3h swapping the modem")
    assert "Maintenance" in json.dumps(await rig.reply(key))
    _, key = await rig.command(f"maintenance {box.id} now 1h")
    assert "already has maintenance then" in json.dumps(await rig.reply(key))
    assert await rig.ctx.redis.zcard(keys.MAINTENANCE) == 1
    worker = make_worker(rig, clock, **WORKER)
    for connected in (True, False, False):
        box.connected = connected
        if connected:
            box.last_heartbeat = clock.now
        await worker.tick(poll=True)
        clock.now += HOUR
    assert alerts(rig) == [] and alerts(rig, "C0OTHER") == []  # held in every channel
    _, key = await rig.command("maintenance list")
    listed = json.dumps(await rig.reply(key))
    assert box.id in listed and "swapping the modem" in listed
    window_id = listed.split("`m")[1].split("`")[0]
    _, key = await rig.command(f"maintenance cancel m{window_id}")
    assert "ended now" in json.dumps(await rig.reply(key))
    [window] = await rig.ctx.redis.zrange(keys.MAINTENANCE, 0, -1)
    assert json.loads(window)["end"].startswith(clock.now.isoformat()[:16])  # ended, kept for the report
    clock.now += timedelta(minutes=1)
    await worker.tick(poll=True)  # the window is over and the box still down: every channel hears of it now
    [alert], [other] = alerts(rig), alerts(rig, "C0OTHER")
    assert box.id in alert.text and box.id in other.text


@pytest.mark.parametrize("period", ["2026Q5", "2026Q0", "2026q"])
async def test_a_quarter_that_does_not_exist_is_refused(rig: AppRig, period: str) -> None:
    response, key = await rig.command(f"report all {period}")
    said = response.text + (json.dumps(await rig.reply(key)) if key and "not a period" not in response.text else "")
    assert "not a period I know" in said and "2026Q3" in said  # refused, with the form a quarter takes
    response, key = await rig.command("report all 2026Q3")  # while a real one is a quarter
    assert "not a period" not in response.text and "2026 Q3" in json.dumps(await rig.reply(key))


async def test_an_outage_nobody_explained_gets_one_reminder_in_its_thread(rig: AppRig, clock: Clock) -> None:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    rig.use_clock(clock)
    await subscribe(rig, "all")
    first, second = list(fleet.boxes.values())[:2]
    worker = make_worker(rig, clock, **{**WORKER, "cause_reminder": 7200.0})
    script = [(True, True), (False, True), (True, True), (True, False), (True, True), (True, True), (True, True),
              (True, True), (True, True)]  # one outage each, then four hours: past the reminder's two, twice over
    for step, (a_up, b_up) in enumerate(script):
        first.connected, second.connected = a_up, b_up
        for each in fleet.boxes.values():
            if each.connected:
                each.last_heartbeat = clock.now
        await worker.tick(poll=True)
        if step == 2:  # the first box is back: someone says why at once
            [explained] = alerts(rig)
            assert "Recorded" in await choose_cause(rig, explained, "vehicle")
        clock.now += HOUR
    explained, unexplained = alerts(rig)
    assert first.id in json.dumps(explained.blocks) and second.id in json.dumps(unexplained.blocks)

    def thread(message: Any) -> list[str]:
        return [m.text for m in rig.slack.posts() if m.thread_ts == message.ts and "caused" in m.text]

    assert thread(explained) == []  # its cause was given in time
    assert thread(unexplained) == ["What caused this outage?"]


async def test_a_past_outage_gets_its_cause_later_by_when_it_began(rig: AppRig, clock: Clock) -> None:
    fleet = rig.thor.fleet
    fleet.incident_rate = 0.0
    rig.use_clock(clock)
    clock.now = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, **WORKER)
    box = next(iter(fleet.boxes.values()))
    await hourly(rig, worker, clock, box, (True, False, False, True, False))  # one outage over, one going on

    async def cause(words: str) -> str:
        _, key = await rig.command(f"cause {words}")
        return json.dumps(await rig.reply(key), ensure_ascii=False)

    listed = await cause(box.id)
    assert "2026-11-02 14:00" in listed and "no cause yet" in listed
    assert "not a cause thorbot knows" in await cause(f"{box.id} 2026-11-02 14:00 gremlins")
    assert "Say what it was" in await cause(f"{box.id} 2026-11-02 14:00 other")
    assert "YYYY-MM-DD HH:MM" in await cause(f"{box.id} 2026-11-02 2pm utility")
    assert "No outage of" in await cause(f"{box.id} 2026-11-02 09:00 utility")
    assert "still going on" in await cause(f"{box.id} 2026-11-02 17:00 utility")
    assert await rig.ctx.redis.hlen(keys.causes(box.id)) == 0  # nothing stored by any of these
    answer = await cause(f"{box.id} 2026-11-02 14:00 other contractor cut the cable")
    assert "Recorded" in answer and "contractor cut the cable" in answer and "counts as outage" in answer
    answer = await cause(f"{box.id} 2026-11-02 14:00 utility")  # changed later: the last word counts
    assert "excluded from uptime" in answer
    [stored] = (await rig.ctx.redis.hgetall(keys.causes(box.id))).values()
    assert stored.startswith("utility_power|U0ALICE|")
    assert "Utility power" in await cause(box.id)


async def hours_history(redis: Any) -> datetime:
    """Boxes A and B, seen for ten days, both down 02:00–04:00 UTC two days ago."""
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    start, down = now - timedelta(days=10), datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    outages = [Incident(id=f"i{b}", box_id=b, alias=b, kind="offline", started=down, opened=down,
                        resolved=down + timedelta(hours=2)) for b in ("A", "B")]
    async with redis.pipeline(transaction=True) as pipe:
        write_cycle(pipe, HistoryCommit(now=start, first_seen={"A": "Depot", "B": "Marina"}), [])
        write_cycle(pipe, HistoryCommit(observed_from=start, now=now), outages)
        await pipe.execute()
    return now


async def test_a_box_with_hours_of_its_own_is_measured_by_them_whoever_reads_the_report(redis: Any) -> None:
    now = await hours_history(redis)
    await HistoryStore(redis).set_hours("A", PostedHours(hours="mon-sun 06:00-22:00", zone="UTC"))
    figures = []
    for zone in ("UTC", "America/Los_Angeles"):  # the reader's zone moves the period's days, not the hours
        period = parse_period("7d", now, zone)
        assert period is not None
        report = await gather_report(ReportSource(redis), period, now)
        by_box = {b.box_id: b.uptime.percent for b in report.boxes}
        assert by_box["A"] == 100.0 and by_box["B"] is not None and by_box["B"] < 99  # closed at A, open at B
        fleet_hours = await gather_report(ReportSource(redis), period, now,
                                          hours=PostedHours(hours="mon-sun 06:00-22:00", zone="UTC"))
        figures.append({b.box_id: b.uptime.percent for b in fleet_hours.boxes})
    assert figures[0]["B"] == figures[1]["B"] == 100.0  # THORBOT_HOURS_OF_OPERATION is read in its own zone


@pytest.mark.parametrize(("words", "says", "stored"), [
    ("hours {box} mon-fri 07:00-22:00, sat 08:00-14:00", "mon-fri 07:00-22:00, sat 08:00-14:00", True),
    ("hours {box} 24/7", "open 24/7", True),
    ("hours {box} mon-fri 22:00-07:00", "must open before it closes", False),
    ("hours {box} mon-fri 9-5", "is not like", False),
    ("hours nowhere-box mon-fri 07:00-22:00", "No chargebox matches", False),
])
async def test_hours_of_a_box_are_given_checked_and_shown(rig: AppRig, words: str, says: str, stored: bool) -> None:
    box = next(iter(rig.thor.fleet.boxes.values()))
    await subscribe(rig, box.id)
    _, key = await rig.command(words.format(box=box.id))
    reply = json.dumps(await rig.reply(key))
    assert says in reply and "Traceback" not in reply, reply
    assert (await rig.ctx.redis.hexists(keys.HOURS, box.id)) is stored
    if stored:
        _, key = await rig.command("hours")
        assert box.id in json.dumps(await rig.reply(key))
        _, key = await rig.command(f"hours {box.id} default")
        assert "the fleet's hours of operation again" in json.dumps(await rig.reply(key))
        assert not await rig.ctx.redis.hexists(keys.HOURS, box.id)


@pytest.mark.parametrize(("words", "says"), [
    ("hours tokyo hotel 07:00-22:00", "`07:00-22:00` needs its days: `mon-sun 07:00-22:00`, or "
                                      "`mon-fri 07:00-22:00, sat 08:00-14:00`"),
    ("hours tokyo hotel 22:00-07:00", "`22:00-07:00` needs its days, and hours past midnight are two parts: "
                                      "`mon-sun 00:00-07:00, mon-sun 22:00-24:00`"),
])
async def test_hours_without_their_days_say_how_to_write_them(rig: AppRig, words: str, says: str) -> None:
    """Not "No chargebox matches `tokyo hotel 07:00-22:00`": the hours are read as hours, missing their days."""
    response, _ = await rig.command(words)
    assert response.status_code == 200
    assert says in json.dumps(response.json(), ensure_ascii=False), response.text
    assert not await rig.ctx.redis.exists(keys.HOURS)


async def test_a_ports_own_outage_gets_its_cause_by_port_and_a_port_the_box_lacks_is_refused(
        rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    clock.now = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    began = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    box = Incident(id="i1", box_id="BOX-A", alias="Depot north", kind="offline", started=began, opened=began,
                   resolved=began + timedelta(hours=1))
    port = Incident(id="i2", box_id="BOX-A", alias="Depot north", kind="failed_starts", connector=2, started=began,
                    opened=began, resolved=began + timedelta(hours=5))
    async with rig.ctx.redis.pipeline(transaction=True) as pipe:
        write_cycle(pipe, HistoryCommit(now=began - timedelta(days=5), first_seen={"BOX-A": "Depot north"},
                                        ports={"BOX-A": 2}), [])
        write_cycle(pipe, HistoryCommit(now=clock.now), [box, port])
        await pipe.execute()

    async def cause(words: str) -> str:
        _, key = await rig.command(f"cause {words}")
        return json.dumps(await rig.reply(key), ensure_ascii=False)

    assert "has ports #1–#2; `#3` is not one of them" in await cause("BOX-A #3 2026-11-02 14:00 utility")
    assert "No outage of port #1 of Depot north" in await cause("BOX-A #1 2026-11-02 14:00 utility")
    assert await rig.ctx.redis.hlen(keys.causes("BOX-A")) == 0  # nothing stored by either
    answer = await cause("BOX-A #2 2026-11-02 14:00 vandalism")
    assert "port 2" in answer and "Recorded" in answer
    [(field, stored)] = (await rig.ctx.redis.hgetall(keys.causes("BOX-A"))).items()
    assert stored.startswith("vandalism|") and not field.startswith("o|")  # the port's, not the box's outage
    listed = json.loads(await cause("BOX-A #2"))["text"]
    assert "port 2" in listed and "Vandalism" in listed and listed.count("• ") == 1 and "BOX-A #2 <date>" in listed


# OWASP's leading characters (= + - @ tab CR), and the ids of the finding: each a box id in both kinds of file.
FORMULA_IDS = ["=2+5", "+SUM(1;1)", "-2+3", "@cmd", "\t=1+1", "\r=1+1", "\n=1+1", "\uff1d1+1", " =1+1",
               "=1,+2\"x\""]
PROVIDER = "=HYPERLINK(\"http://evil.example\",\"x\")"


@pytest.mark.parametrize("rig", [{"evchart_network_provider": PROVIDER}], indirect=True)
async def test_no_file_a_download_button_makes_runs_a_formula(rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    clock.now = OCT + timedelta(days=1)
    began = JUL + timedelta(days=3)
    outages = [Incident(id=f"i{n}", box_id=box, alias=box, kind="offline", started=began, opened=began,
                        resolved=began + HOUR) for n, box in enumerate(FORMULA_IDS)]
    async with rig.ctx.redis.pipeline(transaction=True) as pipe:
        write_cycle(pipe, HistoryCommit(now=JUL, first_seen={b: b for b in FORMULA_IDS}), [])
        write_cycle(pipe, HistoryCommit(observed_from=JUL, now=OCT), outages)
        await pipe.execute()
    _, key = await rig.command("report all 2026Q3")
    buttons = {e["action_id"]: e["value"] for blk in (await rig.reply(key))["blocks"] if blk["type"] == "actions"
               for e in blk["elements"]}
    await rig.action(ACTION_REPORT_CSV, buttons[ACTION_REPORT_CSV])
    await rig.action(ACTION_REPORT_EVCHART, buttons[ACTION_REPORT_EVCHART])
    plain, module3, module4 = await wait_for_files(rig, 3)
    for file, id_column in ((plain, 0), (module3, 0), (module4, 0)):
        rows = list(csv.reader(io.StringIO(file["content"])))[1:]
        cells = [cell for row in rows for cell in row]
        leaders = set("=+-@\t\r\n\uff1d")
        assert not [c for c in cells if c.lstrip()[:1] in leaders or c[:1] in leaders], file["content"]
        assert {"'" + b for b in FORMULA_IDS} <= {row[id_column] for row in rows}
    for file in (module3, module4):
        rows = list(csv.reader(io.StringIO(file["content"])))[1:]
        assert {row[2] for row in rows} == {"'" + PROVIDER}
        assert all(float(row[-1]) >= 0 for row in rows)  # the figures are still numbers
