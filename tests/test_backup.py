"""`thorbot backup` and `thorbot restore`: 400 days of history copied out of one Redis database and into another
reproduce the report byte for byte; a file that is newer, cut short or damaged, or a target already in use,
is refused with nothing changed."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from thorbot.adapters import backup, keys
from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.report_source import ReportSource
from thorbot.adapters.secrets_box import SecretBox
from thorbot.demo.history import pregenerate
from thorbot.domain.causes import CauseRecord, cause_key
from thorbot.domain.pager import PagerLink
from thorbot.domain.report_view import report_csv
from thorbot.domain.uptime import parse_period
from thorbot.errors import BackupError
from thorbot.services.reports import gather_report
from thorbot.sim.fleet import Fleet

PAGER_KEY = "0123456789abcdef0123456789abcdef"  # a PagerDuty integration key, as a person pastes it


def other_db(url: str, db: int = 1) -> str:
    """The same test server, another database: the restore's target."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture
async def target(redis_url: str) -> AsyncIterator[tuple[str, Redis]]:
    url = other_db(redis_url)
    flusher = sync_redis.Redis.from_url(url)
    flusher.flushdb()
    client: Redis = Redis.from_url(url, decode_responses=True)
    yield url, client
    await client.aclose()
    flusher.flushdb()  # database 1 is this file's alone; leave it as found
    flusher.close()


async def thorbot_cli(redis_url: str, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"REDIS_URL": redis_url, "COLUMNS": "200", "TERM": "dumb"})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    text = out.decode()
    assert "Traceback" not in text, text
    return proc.returncode, text


async def build_history(redis: Redis, now: datetime) -> Fleet:
    """400 days written with the worker's own history writes (the demo's), a cause someone gave, a maintenance
    window, posted hours, and a pager whose key is sealed."""
    fleet = Fleet.generate(6, seed=3, now=now)
    assert await pregenerate(redis, fleet, 400, now, seed=3) > 100
    history = HistoryStore(redis)
    box = sorted(fleet.boxes)[0]
    code, _, start, _ = (await history.outages(box, now - timedelta(days=400)))[0]
    await history.set_causes(box, {cause_key(code, start): CauseRecord(cause="utility_power", by="U0ANA", at=now,
                                                                       note="grid work")})
    sealed = SecretBox(SecretBox.new_key()).seal(PAGER_KEY)
    await PagerStore(redis).set_link("C0PAGE", PagerLink(kind="pagerduty", sealed=sealed, delay=300))
    await redis.set(keys.SCHEMA, keys.SCHEMA_VERSION)
    return fleet


async def report_bytes(redis: Redis, now: datetime, period: str) -> bytes:
    wanted = parse_period(period, now)
    assert wanted is not None
    return report_csv(await gather_report(ReportSource(redis), wanted, now)).encode()


async def test_a_backup_restored_into_another_database_reproduces_the_report_byte_for_byte(
        redis: Redis, redis_url: str, target: tuple[str, Redis], tmp_path: Path) -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    await build_history(redis, now)
    file = tmp_path / "thorbot.jsonl.gz"
    code, out = await thorbot_cli(redis_url, "backup", str(file))
    assert code == 0 and "written to" in out, out
    target_url, copy = target
    code, out = await thorbot_cli(target_url, "restore", str(file))
    assert code == 0 and "restored from" in out, out
    for period in ("12m", "30d", "400d"):
        original = await report_bytes(redis, now, period)
        assert original.count(b"\n") > 6 and await report_bytes(copy, now, period) == original
    names = sorted(await redis.keys("{thorbot}:*"))
    assert len(names) > 400 and sorted(await copy.keys("{thorbot}:*")) == names
    for name in names:  # each value as it was, and the same moment of expiry (read between two of the source's)
        before = await redis.pttl(name)
        restored = await copy.pttl(name)
        after = await redis.pttl(name)
        assert (restored == before == -1) or after - 1 <= restored <= before, name
    with gzip.open(file, "rt") as text:  # the pager's key stayed sealed; the header says what the file is
        lines = text.read().splitlines()
    assert all(PAGER_KEY not in base64.b64decode(json.loads(line)["d"]).decode("latin-1") for line in lines[1:-1])
    header = json.loads(lines[0])
    assert header["format"] == "thorbot-backup" and header["version"] == backup.FORMAT_VERSION
    assert header["keys"] == len(names) == len(lines) - 2 and header["layout"] == keys.SCHEMA_VERSION
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == [file.name]  # no temporary file left beside it


async def test_ttls_are_kept_and_a_key_whose_time_ran_out_is_left_out(redis: Redis, target: tuple[str, Redis],
                                                                       tmp_path: Path) -> None:
    await redis.set(keys.THOR, "{}")
    await redis.set(keys.SWEPT, "w1", px=60_000)
    copy = await backup.take(redis, "test")
    [swept] = [e for e in copy.entries if e.key == keys.SWEPT.encode()]
    assert swept.ttl_ms is not None and 0 < swept.ttl_ms <= 60_000
    file = tmp_path / "b.gz"
    backup.write(file, copy)
    stale = backup.read(file)
    # The same backup read as if taken a minute and more ago: `swept` would have expired by now.
    aged = backup.Backup(header=stale.header.model_copy(update={"server_time_ms": stale.header.server_time_ms
                                                                - 61_000}), entries=stale.entries)
    _, client = target
    done = await backup.restore(client, aged, force=False)
    assert (done.restored, done.expired) == (1, 1)
    assert await client.get(keys.THOR) == "{}" and await client.pttl(keys.THOR) == -1
    assert not await client.exists(keys.SWEPT)


async def test_a_newer_format_is_refused_with_nothing_changed(redis: Redis, redis_url: str,
                                                              target: tuple[str, Redis], tmp_path: Path) -> None:
    await redis.set(keys.THOR, "{}")
    file = tmp_path / "b.gz"
    backup.write(file, await backup.take(redis, "0.2.0"))
    with gzip.open(file, "rb") as packed:
        lines = packed.read().split(b"\n")
    header = json.loads(lines[0]) | {"version": backup.FORMAT_VERSION + 1, "thorbot": "9.0.0"}
    with gzip.open(file, "wb") as packed:
        packed.write(b"\n".join([json.dumps(header).encode(), *lines[1:]]))
    target_url, client = target
    code, out = await thorbot_cli(target_url, "restore", str(file))
    assert code == 2, out
    assert f"backup format {backup.FORMAT_VERSION + 1} (written by thorbot 9.0.0)" in out
    assert f"reads format {backup.FORMAT_VERSION} and older" in out and "nothing was restored" in out
    assert await client.dbsize() == 0


async def test_a_target_holding_thorbot_keys_is_refused_unless_forced(redis: Redis, redis_url: str,
                                                                      target: tuple[str, Redis],
                                                                      tmp_path: Path) -> None:
    await redis.sadd(keys.SUB_ALL, "C0FROMBACKUP")
    await redis.set(keys.THOR, "{}")
    file = tmp_path / "b.gz"
    assert (await thorbot_cli(redis_url, "backup", str(file)))[0] == 0
    target_url, client = target
    await client.sadd(keys.SUB_ALL, "C0ALREADY")
    await client.set(keys.ONCALL + ":not-in-backup", "x")
    await client.set("other-app:key", "kept")  # not thorbot's: never looked at, never touched
    code, out = await thorbot_cli(target_url, "restore", str(file))
    assert code == 3 and "already holds 2 thorbot keys" in out and "--force" in out, out
    assert await client.smembers(keys.SUB_ALL) == {"C0ALREADY"} and not await client.exists(keys.THOR)
    code, out = await thorbot_cli(target_url, "restore", str(file), "--force")
    assert code == 0 and "deleted the 2 thorbot keys the target held" in out and keys.SUB_ALL in out, out
    assert await client.smembers(keys.SUB_ALL) == {"C0FROMBACKUP"} and await client.get(keys.THOR) == "{}"
    assert not await client.exists(keys.ONCALL + ":not-in-backup")
    assert await client.get("other-app:key") == "kept"


def damaged(good: bytes, how: str) -> bytes:
    text = gzip.decompress(good)
    if how == "cut":  # the file itself cut short (a full disk, a copy stopped halfway)
        return good[: len(good) // 2]
    if how == "lines cut":  # a whole gzip, but of a file that lost its end
        return gzip.compress(b"\n".join(text.split(b"\n")[:3]))
    if how == "byte changed":  # one value changed inside a well-formed file
        line = text.split(b"\n")[1]
        item = json.loads(line)
        payload = bytearray(base64.b64decode(item["d"]))
        payload[0] ^= 1
        changed = json.dumps(item | {"d": base64.b64encode(bytes(payload)).decode()}, separators=(",", ":"))
        return gzip.compress(text.replace(line, changed.encode()))
    if how == "not gzip":
        return b"redis-cli --rdb output, say\n"
    return gzip.compress(b'{"hello": "world"}\n')  # gzip'd JSON, not a backup


@pytest.mark.parametrize("how", ["cut", "lines cut", "byte changed", "not gzip", "not a backup"])
async def test_a_damaged_or_truncated_file_is_refused_whole_with_nothing_changed(
        redis: Redis, target: tuple[str, Redis], tmp_path: Path, how: str) -> None:
    for n in range(5):
        await redis.set(keys.incident(f"i{n}"), "{}")
    file = tmp_path / "b.gz"
    backup.write(file, await backup.take(redis, "test"))
    file.write_bytes(damaged(file.read_bytes(), how))
    target_url, client = target
    code, out = await thorbot_cli(target_url, "restore", str(file))
    assert code == 2 and "is not a usable thorbot backup" in out and "nothing was restored" in out, out
    assert len(out.strip().splitlines()) == 1
    assert await client.dbsize() == 0


async def test_a_backup_that_cannot_be_written_says_so_and_leaves_nothing_behind(redis: Redis, redis_url: str,
                                                                                  tmp_path: Path) -> None:
    await redis.set(keys.THOR, "{}")
    code, out = await thorbot_cli(redis_url, "backup", str(tmp_path / "no" / "such" / "b.gz"))
    assert code == 1 and "cannot write" in out and "No such file or directory" in out, out
    folder = tmp_path / "taken"
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(BackupError, match="cannot write"):  # the rename fails: its temporary file goes too
        backup.write(folder, await backup.take(redis, "test"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    file = tmp_path / "b.gz"
    file.write_bytes(b"yesterday's backup")
    code, out = await thorbot_cli(redis_url, "backup", str(file))
    assert code == 0 and backup.read(file).header.keys == 1, out


async def test_the_copy_is_one_moment_while_a_writer_commits(redis: Redis, target: tuple[str, Redis]) -> None:
    """A writer commits pairs of keys in transactions (as the worker commits a cycle): every copy holds whole
    commits only, whatever moment it was taken."""
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            async with redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.incident(f"w{n}"), "{}")
                pipe.rpush(keys.RECENT, f"w{n}")
                await pipe.execute()
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        copies = [await backup.take(redis, "test") for _ in range(20)]
    finally:
        stop.set()
        await task
    _, client = target
    for copy in copies:
        await backup.restore(client, copy, force=True)
        recent = await client.lrange(keys.RECENT, 0, -1)
        incidents = {str(k).removeprefix(keys.incident("")) for k in await client.keys(keys.incident("*"))}
        assert set(recent) == incidents
