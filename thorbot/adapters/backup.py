"""`thorbot backup` and `thorbot restore`: every thorbot key in Redis, copied at one moment, to a file and back.

The copy is one server-side script (SCAN, then DUMP and PTTL of each key matching `{thorbot}:*`): Redis runs a
script alone, so the copy is one moment of the whole keyspace even with serve and a worker writing (a worker's
cycle commits in one MULTI/EXEC, so it is in the copy entirely or not at all). The price is that Redis does
nothing else while the script runs (docs/operations.md, "Backups", gives the figures).

The file: gzip'd JSON lines. A header (format, its version, thorbot's version, when, how many keys, the Redis
version the payloads came from), one line per key (its name, its TTL in ms at that moment or null, its DUMP
payload in base64), and a trailer (the key count again and the SHA-256 of the key lines), so a file cut short
or changed is refused whole before anything is written to Redis. DUMP copies values as stored: sealed pager keys
stay sealed (THORBOT_SECRETS_KEY is never read here). Written to a temporary file in the same folder (mode
0600), flushed and renamed over FILE, so FILE is always a whole backup or the previous one.

Restore puts every key back with RESTORE … ABSTTL: a key expires when it would have in the source, and a key
whose time ran out since the backup is not restored. All keys go in one MULTI/EXEC, so the target changes from
its old state to the backup's in one step.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ResponseError

from thorbot.adapters import keys
from thorbot.errors import BackupError

FORMAT = "thorbot-backup"
FORMAT_VERSION = 1
PATTERN = "{thorbot}:*"  # every layout version's keys (keys.PREFIX is v1's); `{` is not special in a Redis glob
SCAN_COUNT = 1000

# Runs alone in Redis: one moment. SCAN may return a key twice (`seen`); DUMP's nil (a key expiring as it is
# read) is skipped. Each TTL is turned into the moment it ends (ms) as it is read: PTTL counts from Redis's
# clock, which moves on while a long script runs, so a TTL read late and counted from the start would end early.
SNAPSHOT_SCRIPT = """
local function ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local out = {ms()}
local seen = {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', tonumber(ARGV[2]))
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if not seen[key] then
      seen[key] = true
      local payload = redis.call('DUMP', key)
      if payload then
        out[#out + 1] = key
        local now = ms()  -- read before PTTL: an end computed from a later clock would outlive the key by 1 ms
        local ttl = redis.call('PTTL', key)
        if ttl > 0 then ttl = now + ttl end
        out[#out + 1] = ttl
        out[#out + 1] = payload
      end
    end
  end
until cursor == '0'
return out
"""


class Header(BaseModel):
    model_config = ConfigDict(extra="allow")  # a later version 1 may add fields; they are carried, not refused

    format: Literal["thorbot-backup"]
    version: int = Field(ge=1)
    thorbot: str
    created_at: datetime
    server_time_ms: int = Field(ge=0)  # Redis's clock at the copy: TTLs are counted from it
    keys: int = Field(ge=0)
    redis_version: str
    layout: str | None = None  # the `schema` key's value: thorbot's key layout version


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: str
    ttl: int | None = Field(ge=1)
    d: str


class _Trailer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end: Literal[True]
    keys: int
    sha256: str


@dataclass(frozen=True)
class KeyCopy:
    key: bytes
    ttl_ms: int | None  # what was left of its TTL at the copy; None: it had none
    payload: bytes      # DUMP's serialization (Redis's RDB encoding, its version and a CRC64)


@dataclass(frozen=True)
class Backup:
    header: Header
    entries: list[KeyCopy]


@dataclass(frozen=True)
class Restored:
    restored: int
    expired: int              # in the backup, but their time ran out since: not restored
    replaced: list[str]       # thorbot keys the target held before (deleted: --force)


@contextlib.asynccontextmanager
async def _binary(redis: Redis) -> AsyncIterator[Redis]:
    """A client on the same server and database that keeps values as bytes (DUMP payloads are binary; the
    processes' clients decode every reply as text)."""
    pool = redis.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    client: Redis = Redis.from_pool(ConnectionPool(connection_class=pool.connection_class, **kwargs))
    try:
        yield client
    finally:
        await client.aclose()


def _key_text(key: bytes) -> str:
    # thorbot's keys are UTF-8 text; surrogateescape carries any other byte through JSON and back unchanged.
    return key.decode("utf-8", "surrogateescape")


def _key_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _version(text: str) -> tuple[int, int]:
    parts = (text.split(".") + ["0", "0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return 0, 0


async def _redis_version(client: Redis) -> str:
    info: dict[str, Any] = await client.info("server")
    return str(info.get("redis_version", "0"))


async def thorbot_keys(redis: Redis) -> list[str]:
    """Every thorbot key the database holds now (any layout version)."""
    found: set[str] = set()
    async with _binary(redis) as client:
        async for key in client.scan_iter(match=PATTERN, count=SCAN_COUNT):
            found.add(_key_text(key))
    return sorted(found)


async def take(redis: Redis, thorbot_version: str) -> Backup:
    """Every thorbot key at one moment (a script Redis runs alone)."""
    async with _binary(redis) as client:
        try:
            reply: list[Any] = await client.eval(SNAPSHOT_SCRIPT, 0, PATTERN, str(SCAN_COUNT))
            redis_version = await _redis_version(client)
            raw = await client.get(keys.SCHEMA)  # for the header only: the key itself is among the entries
        except ResponseError as exc:
            raise BackupError(f"Redis refused the copy: {exc}", reason="redis") from None
    server_ms = int(reply[0])
    entries: list[KeyCopy] = []
    for at in range(1, len(reply), 3):
        key, ends, payload = bytes(reply[at]), int(reply[at + 1]), bytes(reply[at + 2])
        # Kept as a TTL at the copy's moment (what PTTL said then), at least 1 ms: the key was there.
        entries.append(KeyCopy(key=key, ttl_ms=max(1, ends - server_ms) if ends > 0 else None, payload=payload))
    entries.sort(key=lambda e: e.key)
    layout = raw.decode(errors="replace") if isinstance(raw, bytes) else None
    header = Header(format=FORMAT, version=FORMAT_VERSION, thorbot=thorbot_version,
                    created_at=datetime.fromtimestamp(server_ms / 1000, tz=UTC), server_time_ms=server_ms,
                    keys=len(entries), redis_version=redis_version, layout=layout)
    return Backup(header=header, entries=entries)


def _lines(backup: Backup) -> list[bytes]:
    body = [json.dumps({"k": _key_text(e.key), "ttl": e.ttl_ms, "d": base64.b64encode(e.payload).decode()},
                       separators=(",", ":")).encode() + b"\n" for e in backup.entries]
    digest = hashlib.sha256(b"".join(body)).hexdigest()
    header = backup.header.model_dump_json().encode() + b"\n"
    trailer = json.dumps({"end": True, "keys": len(body), "sha256": digest}).encode() + b"\n"
    return [header, *body, trailer]


def write(path: Path, backup: Backup) -> int:
    """Write `backup` to `path` atomically (a temporary file beside it, renamed over it); its size in bytes."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}", reason="file") from None
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
                for line in _lines(backup):
                    packed.write(line)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BackupError(f"cannot write {path}: {exc.strerror or exc}", reason="file") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the folder is flushed
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path.stat().st_size


def _unreadable(path: Path, why: str) -> BackupError:
    return BackupError(f"{path} is not a usable thorbot backup ({why}); nothing was restored", reason="unreadable")


def _file_lines(path: Path) -> list[bytes]:
    try:
        with gzip.open(path, "rb") as packed:
            lines = packed.read().split(b"\n")
    except FileNotFoundError:
        raise BackupError(f"cannot read {path}: no such file", reason="file") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _unreadable(path, f"cut short or damaged: {exc}") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}", reason="file") from None
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise _unreadable(path, "empty")
    return lines


def _header(path: Path, line: bytes, thorbot_version: str) -> Header:
    """The header; a newer format is refused by its version alone (the rest of its header may differ too)."""
    try:
        first = json.loads(line)
    except ValueError:
        raise _unreadable(path, "no header") from None
    if not isinstance(first, dict) or first.get("format") != FORMAT:
        raise _unreadable(path, "no thorbot-backup header")
    version = first.get("version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        by = first.get("thorbot", "a newer thorbot")
        raise BackupError(f"{path} is in backup format {version} (written by thorbot {by}); this thorbot"
                          f"{' ' + thorbot_version if thorbot_version else ''} reads format {FORMAT_VERSION} and "
                          "older: restore it with that version of thorbot or a later one; nothing was restored",
                          reason="newer")
    try:
        return Header.model_validate(first)
    except ValidationError as exc:
        raise _unreadable(path, f"bad header: {exc.errors()[0]['loc']}") from None


def _entries(path: Path, body: list[bytes]) -> list[KeyCopy]:
    entries: list[KeyCopy] = []
    seen: set[str] = set()
    for number, line in enumerate(body, 2):
        try:
            item = _Line.model_validate_json(line)
            payload = base64.b64decode(item.d, validate=True)
        except (ValidationError, binascii.Error):
            raise _unreadable(path, f"line {number} is damaged") from None
        if item.k in seen or not item.k.startswith("{thorbot}:"):
            raise _unreadable(path, f"line {number}: key repeated or not thorbot's")
        seen.add(item.k)
        entries.append(KeyCopy(key=_key_bytes(item.k), ttl_ms=item.ttl, payload=payload))
    return entries


def read(path: Path, thorbot_version: str = "") -> Backup:
    """The whole file, checked (header, every line, count and checksum) before anything is done with it."""
    lines = _file_lines(path)
    header = _header(path, lines[0], thorbot_version)
    body, rest = lines[1:1 + header.keys], lines[1 + header.keys:]
    if len(body) < header.keys or len(rest) != 1:
        raise _unreadable(path, f"{len(lines) - 2} key lines where the header says {header.keys}")
    try:
        trailer = _Trailer.model_validate_json(rest[0])
    except ValidationError:
        raise _unreadable(path, "no end line: cut short") from None
    checksum = hashlib.sha256(b"".join(line + b"\n" for line in body)).hexdigest()
    if trailer.keys != header.keys or trailer.sha256 != checksum:
        raise _unreadable(path, "checksum does not match")
    return Backup(header=header, entries=_entries(path, body))


async def restore(redis: Redis, backup: Backup, *, force: bool) -> Restored:
    """Put `backup`'s keys into `redis`. Refuses (changing nothing) a target that holds any thorbot key unless
    `force` (then those keys are deleted in the same transaction), and a Redis older than the backup's."""
    present = await thorbot_keys(redis)
    if present and not force:
        shown = ", ".join(present[:3]) + (", …" if len(present) > 3 else "")
        raise BackupError(f"the target already holds {len(present)} thorbot keys ({shown}); restore into an empty "
                          "database, or add --force to replace them; nothing was restored", reason="not_empty")
    async with _binary(redis) as client:
        target = await _redis_version(client)
        if _version(target) < _version(backup.header.redis_version):
            raise BackupError(f"the backup came from Redis {backup.header.redis_version} and this Redis is "
                              f"{target}: Redis cannot read a newer Redis's payloads; restore into Redis "
                              f"{backup.header.redis_version} or later; nothing was restored", reason="older_redis")
        seconds, micros = await client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        restored = expired = 0
        try:
            async with client.pipeline(transaction=True) as pipe:
                if present:
                    pipe.delete(*[_key_bytes(k) for k in present])
                for entry in backup.entries:
                    expire_at = 0 if entry.ttl_ms is None else backup.header.server_time_ms + entry.ttl_ms
                    if expire_at and expire_at <= now_ms:
                        expired += 1
                        continue
                    pipe.restore(entry.key, expire_at, entry.payload, replace=True, absttl=True)
                    restored += 1
                await pipe.execute()
        except ResponseError as exc:  # the commands before it in the transaction did run (Redis has no rollback)
            raise BackupError(f"Redis refused the restore ({exc}); the target may hold part of the backup: run "
                              "the restore again with --force", reason="redis") from None
    return Restored(restored=restored, expired=expired, replaced=present)
