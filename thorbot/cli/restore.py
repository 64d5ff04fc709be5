"""`thorbot restore FILE [--force]`: put a `thorbot backup` file's keys back into Redis (adapters/backup.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from thorbot import __version__
from thorbot.adapters import backup
from thorbot.domain.text import plural
from thorbot.errors import BackupError
from thorbot.runtime import open_redis
from thorbot.settings import Settings

# Exit status, by what went wrong (also in `thorbot restore --help` and docs/operations.md, "Backups").
EXIT = {"file": 1, "redis": 1, "unreadable": 2, "newer": 2, "not_empty": 3, "older_redis": 4}


async def run_restore(settings: Settings, file: str, *, force: bool) -> int:
    try:
        copy = backup.read(Path(file), __version__)  # the whole file is checked before Redis is touched
        async with open_redis(settings) as redis:
            done = await backup.restore(redis, copy, force=force)
    except BackupError as exc:
        print(f"thorbot restore: {exc}", file=sys.stderr)
        return EXIT.get(exc.reason, 1)
    when = copy.header.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    if done.replaced:
        shown = ", ".join(done.replaced[:5]) + (", …" if len(done.replaced) > 5 else "")
        print(f"thorbot restore: --force: deleted the {plural(len(done.replaced), 'thorbot key')} the target held "
              f"({shown}) and put the backup's in their place", file=sys.stderr)
    expired = f"; left out, their TTL having run out since: {done.expired:,}" if done.expired else ""
    print(f"thorbot restore: {plural(done.restored, 'key')} restored from {file} (thorbot {copy.header.thorbot}, "
          f"as of {when}){expired}", file=sys.stderr)
    return 0
