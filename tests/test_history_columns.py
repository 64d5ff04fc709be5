"""History read from a real Redis as columns (history_store.columns) is what the plain reader reads, members
that are not thorbot's included: the 12-month report agrees with the plain path, box by box."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.adapters.history_store import HistoryCommit, HistoryStore, write_cycle
from thorbot.adapters.report_source import ReportSource
from thorbot.domain.causes import CauseRecord, incident_cause_key, pack_cause
from thorbot.domain.incidents import Incident
from thorbot.domain.uptime import Report, ReportBuilder, box_history, parse_period
from thorbot.services.reports import gather_report

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=365)


async def fill(redis: Redis) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        day = START
        while day < NOW - timedelta(days=2):  # observed every minute but the last two days (unknown time)
            pipe.set(keys.observed(day.strftime("%Y%m%d")), b"\xff" * 180)
            day += timedelta(days=1)
        write_cycle(pipe, HistoryCommit(now=START, first_seen={"A": "Alpha", "B": "Bravo"}, ports={"A": 2, "B": 2}),
                    [])
        incidents = []
        for week in range(0, 52, 3):
            t = START + timedelta(weeks=week, hours=week)
            incidents.append(Incident(id=f"A{week}", box_id="A", kind="offline", started=t, opened=t,
                                      resolved=t + timedelta(hours=2 + week % 5)))
            incidents.append(Incident(id=f"B{week}", box_id="B", kind="failed_starts", connector=2, started=t,
                                      opened=t, resolved=t + timedelta(hours=7)))
        write_cycle(pipe, HistoryCommit(now=NOW), incidents)
        first = incidents[6]  # A, week 9: inside the window
        pipe.hset(keys.causes("A"), incident_cause_key(first.kind, first.started),
                  pack_cause(CauseRecord(cause="utility_power", by="U1", at=NOW)))
        await pipe.execute()


def figures(report: Report) -> list[object]:
    return [report.fleet, report.fleet_steps, report.unknown,
            *((b.box_id, b.name, b.uptime, b.steps, b.ports, b.down_now, b.over_cap) for b in report.boxes)]


async def plain_report(redis: Redis) -> Report:
    period = parse_period("12m", NOW)
    assert period is not None
    history = HistoryStore(redis)
    builder = ReportBuilder(period, await history.unknown(period.window, NOW), NOW, with_sessions=True)
    ids = await history.box_ids()
    sessions = await history.sessions(ids, period.window, monthly=True)
    for box in await history.inputs(ids, period.window, {}, {}):
        builder.add(box_history(*box), sessions.get(box.box_id))
    return builder.finish()


async def test_a_member_that_is_not_thorbots_is_skipped_as_the_plain_reader_skips_it(redis: Redis) -> None:
    await fill(redis)
    period = parse_period("12m", NOW)
    assert period is not None
    clean = await gather_report(ReportSource(redis), period, NOW)
    # Written by hand or by another version: another shape, another kind, a negative connector, a fraction.
    await redis.zadd(keys.history("A"), {"junk": NOW.timestamp(), "x|1|2": NOW.timestamp(),
                                         f"q|-1|{int(NOW.timestamp()) - 7200}|{int(NOW.timestamp()) - 3600}": 1e10,
                                         f"o||{NOW.timestamp() - 900.5}|{NOW.timestamp() - 600}": 1e10})
    mixed = await gather_report(ReportSource(redis), period, NOW)
    assert figures(mixed) == figures(await plain_report(redis))
    assert mixed.boxes[0].uptime.outages == clean.boxes[0].uptime.outages + 1  # the fraction counts, as in plain
    assert mixed.boxes[0].uptime.excluded > timedelta(0)  # the cause given
    assert [b.box_id for b in clean.boxes] == [b.box_id for b in mixed.boxes] == ["A", "B"]
    assert (await HistoryStore(redis).columns(["A", "B"], period.window, {}, {})).boxes() == \
        await HistoryStore(redis).inputs(["A", "B"], period.window, {}, {})
