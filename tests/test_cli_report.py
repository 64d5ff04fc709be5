"""`thorbot report` as a real process against a real Redis holding history written by the worker's code."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.adapters.history_store import HistoryCommit, write_cycle
from thorbot.domain.incidents import Incident


async def run_report(redis_url: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"REDIS_URL": redis_url, "COLUMNS": "200", "TERM": "dumb"})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", "report", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def seed(redis: Redis) -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    start = now - timedelta(days=10)
    outage = Incident(id="i1", box_id="BOX-A", alias="Depot north", kind="offline", started=now - timedelta(days=2),
                      opened=now - timedelta(days=2), resolved=now - timedelta(days=2) + timedelta(hours=3))
    async with redis.pipeline(transaction=True) as pipe:
        write_cycle(pipe, HistoryCommit(now=start, first_seen={"BOX-A": "Depot north", "BOX-B": "Marina"}), [])
        write_cycle(pipe, HistoryCommit(observed_from=start, now=now), [outage])
        await pipe.execute()


async def test_thorbot_report_prints_the_table_and_writes_csv(redis: Redis, redis_url: str) -> None:
    await seed(redis)
    code, out, err = await run_report(redis_url, "all", "30d")
    assert code == 0, err
    assert "Depot north" in out and "Marina" in out and "connectivity uptime" in out.lower()
    assert "98.75 %" in out  # 3 h down in 10 days: (14400 − 180) / 14400
    code, out, err = await run_report(redis_url, "depot", "7d", "--csv", "-")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["box_id"] for r in rows] == ["FLEET", "BOX-A"] and rows[1]["outages"] == "1"
    code, _, err = await run_report(redis_url, "nowhere")
    assert code == 3 and "no chargebox" in err
    assert await redis.exists(keys.HISTORY_FIRST_SEEN)
