"""`thorbot backup FILE`: every thorbot key in Redis, copied at one moment, into FILE (adapters/backup.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from thorbot import __version__
from thorbot.adapters import backup
from thorbot.errors import BackupError
from thorbot.runtime import open_redis
from thorbot.settings import Settings

EXIT_OK, EXIT_FAILED = 0, 1


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"


async def run_backup(settings: Settings, file: str) -> int:
    path = Path(file)
    if path.is_dir():
        print(f"thorbot backup: {file} is a folder; name the file to write", file=sys.stderr)
        return EXIT_FAILED
    try:
        async with open_redis(settings) as redis:
            copy = await backup.take(redis, __version__)
        size = backup.write(path, copy)
    except BackupError as exc:
        print(f"thorbot backup: {exc}", file=sys.stderr)
        return EXIT_FAILED
    when = copy.header.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"thorbot backup: {copy.header.keys} keys as of {when} written to {file} ({_size(size)})", file=sys.stderr)
    return EXIT_OK
