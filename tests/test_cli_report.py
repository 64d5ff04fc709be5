"""`thorbot report` as a real process against a real Redis holding history written by the worker's code."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    assert [r["box_id"] for r in rows if not r["port"]] == ["FLEET", "BOX-A"] and rows[1]["outages"] == "1"
    code, _, err = await run_report(redis_url, "nowhere")
    assert code == 3 and "no chargebox" in err
    assert await redis.exists(keys.HISTORY_FIRST_SEEN)


async def one_line_failure(*args: str, **env_values: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"COLUMNS": "200", "TERM": "dumb", **env_values})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    text = out.decode()
    assert "Traceback" not in text, text
    return proc.returncode, text


async def test_what_goes_wrong_is_one_line_not_a_traceback(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    await seed(redis)
    code, out = await one_line_failure("report", "--csv", str(tmp_path / "no" / "such" / "x.csv"),
                                       REDIS_URL=redis_url)
    assert code == 1 and "cannot write" in out and "No such file or directory" in out and len(out.splitlines()) == 1
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    code, out = await one_line_failure("report", REDIS_URL=f"redis://127.0.0.1:{closed}/0")
    assert code == 1 and "cannot reach Redis" in out and "check REDIS_URL" in out and len(out.splitlines()) == 1
    code, out = await one_line_failure("report", THORBOT_LOG_LEVEL="LOUD")
    assert code == 2 and "THORBOT_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in out
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("x")
    code, out = await one_line_failure("report", THORBOT_DATA_DIR=str(not_a_dir / "data"))
    assert code == 2 and "THORBOT_DATA_DIR" in out and "cannot be written" in out and len(out.splitlines()) == 1
    code, out = await one_line_failure("doctor", THORBOT_DATA_DIR=str(not_a_dir / "data"))
    assert "✗ Redis: THORBOT_DATA_DIR" in out and "fix: make THORBOT_DATA_DIR a writable directory" in out


async def test_names_that_look_like_markup_are_printed_as_they_are(redis: Redis, redis_url: str) -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    names = {"BOX-[/]": "Lot [/] east", "BOX-LINK": "[link=http://evil.example]click[/link]", "BOX-B": "[bold]x"}
    async with redis.pipeline(transaction=True) as pipe:
        write_cycle(pipe, HistoryCommit(now=now - timedelta(days=1), first_seen=names), [])
        write_cycle(pipe, HistoryCommit(observed_from=now - timedelta(days=1), now=now), [])
        await pipe.execute()
    code, out, err = await run_report(redis_url)
    assert code == 0, err
    assert "Lot [/] east" in out and "[link=http://evil.example]click[/link]" in out and "[bold]x" in out
    assert "\x1b]8;" not in out and "Traceback" not in err


async def test_thorbot_report_writes_a_quarters_evchart_files(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    july = datetime(2026, 7, 1, tzinfo=UTC)
    outage = Incident(id="i1", box_id="BOX-A", alias="Depot north", kind="offline", started=july + timedelta(days=3),
                      opened=july + timedelta(days=3), resolved=july + timedelta(days=3, minutes=90))
    async with redis.pipeline(transaction=True) as pipe:
        write_cycle(pipe, HistoryCommit(now=july, first_seen={"BOX-A": "Depot north"}, ports={"BOX-A": 2}), [])
        write_cycle(pipe, HistoryCommit(observed_from=july, now=datetime(2026, 10, 1, tzinfo=UTC)), [outage])
        await pipe.execute()
    prefix = tmp_path / "q3"
    code, _, err = await run_report(redis_url, "--quarter", "2026Q3", "--format", "ev-chart", "--csv", str(prefix))
    assert code == 0, err
    assert "2 ports" in err and "2 outages" in err
    uptime = (tmp_path / "q3-uptime.csv").read_text().splitlines()
    # 90 of the quarter's 132,480 minutes down
    assert uptime[1] == "BOX-A,BOX-A-1,,2026-07-01T00:00:00Z,2026-10-01T00:00:00Z,99.93,90.00,0.00"
    outages = (tmp_path / "q3-outages.csv").read_text().splitlines()
    assert outages[1:] == ["BOX-A,BOX-A-1,,2026-07-04T00:00:00Z,90.00", "BOX-A,BOX-A-2,,2026-07-04T00:00:00Z,90.00"]


async def test_a_quarter_that_does_not_exist_or_is_missing_is_one_line(redis: Redis, redis_url: str) -> None:
    code, out = await one_line_failure("report", "--quarter", "2026Q5", "--format", "ev-chart", REDIS_URL=redis_url)
    assert code == 2 and "is not a quarter" in out and len(out.splitlines()) == 1
    code, out = await one_line_failure("report", "--format", "ev-chart", REDIS_URL=redis_url)
    assert code == 2 and "filed by quarter" in out and len(out.splitlines()) == 1
    code, out = await one_line_failure("report", "all", "2026Q9", REDIS_URL=redis_url)
    assert code == 2 and "is not a period" in out and len(out.splitlines()) == 1


async def test_thorbot_report_files_never_run_a_formula(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    """OWASP's leading characters as box ids, and a formula as the network provider, through `thorbot report`."""
    ids = ["=2+5", "+SUM(1;1)", "-2+3", "@cmd", "\t=1+1", "\r=1+1", "\uff1d1+1", " =1+1"]
    july = datetime(2026, 7, 1, tzinfo=UTC)
    began = july + timedelta(days=3)
    outages = [Incident(id=f"i{n}", box_id=box, alias=box, kind="offline", started=began, opened=began,
                        resolved=began + timedelta(minutes=90)) for n, box in enumerate(ids)]
    async with redis.pipeline(transaction=True) as pipe:
        write_cycle(pipe, HistoryCommit(now=july, first_seen={b: b for b in ids}), [])
        write_cycle(pipe, HistoryCommit(observed_from=july, now=datetime(2026, 10, 1, tzinfo=UTC)), outages)
        await pipe.execute()
    provider = "=HYPERLINK(\"http://evil.example\",\"x\")"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"REDIS_URL": redis_url, "THORBOT_EVCHART_NETWORK_PROVIDER": provider})
    prefix = tmp_path / "q3"
    for args in (("--quarter", "2026Q3", "--format", "ev-chart", "--csv", str(prefix)),
                 ("all", "2026Q3", "--csv", str(tmp_path / "plain.csv"))):
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", "report", *args,
                                                    env=env, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()
    leaders = set("=+-@\t\r\n\uff1d")
    for name in ("q3-uptime.csv", "q3-outages.csv", "plain.csv"):
        with (tmp_path / name).open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))[1:]
        assert [c for row in rows for c in row if c.lstrip()[:1] in leaders or c[:1] in leaders] == [], name
        assert {"'" + b for b in ids} <= {row[0] for row in rows}, name
        if name != "plain.csv":
            assert {row[2] for row in rows} == {"'" + provider}
            assert all(float(row[-1]) == 90.0 for row in rows if name == "q3-outages.csv")
