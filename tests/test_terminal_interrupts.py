"""Ctrl-C in a real terminal (a pseudo-terminal): the interactive demo ends cleanly, `thorbot status` says it
was interrupted (exit 130), and neither prints a traceback."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_stopping import base_env
from thorbot.sim.thor_server import FakeThor


class Terminal:
    """A process on a pseudo-terminal: what it printed, and keys typed into it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "thorbot.cli.main", *args], env=env, stdin=slave,  # noqa: S603
                                     stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.out = b""

    def _read(self) -> None:
        import select

        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.out += chunk

    async def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read()
            if text.encode() in self.out:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared: {self.text()[-2000:]}")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def exit_code(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read()
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            raise AssertionError(f"did not exit: {self.text()[-2000:]}")
        self._read()
        os.close(self.master)
        return int(self.proc.returncode)

    def text(self) -> str:
        return self.out.decode(errors="replace")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["ctrl-c at the prompt", "SIGINT while a command runs"])
async def test_ctrl_c_ends_the_interactive_demo_cleanly(tmp_path: Path, how: str) -> None:
    env = {**base_env(tmp_path), "TERM": "xterm", "TMPDIR": str(tmp_path)}
    term = Terminal(["demo", "--speed", "10", "--seed", "2"], env)
    await term.wait_for("thorbot>")
    if how == "ctrl-c at the prompt":
        term.type("\x03")
    else:
        term.type("/chargebox list\r")
        await term.wait_for("Watching", timeout=60)
        term.proc.send_signal(signal.SIGINT)
    code = await term.exit_code()
    assert code == 0, term.text()[-3000:]
    assert "Traceback" not in term.text() and "never retrieved" not in term.text(), term.text()[-3000:]
    assert "thorbot demo stopped" in term.text()


@pytest.mark.timeout(60)
async def test_ctrl_c_while_status_waits_for_thor_says_so_and_exits_130(tmp_path: Path, fake_thor: FakeThor) -> None:
    fake_thor.faults.hang = True
    env = {**base_env(tmp_path), "THOR_API_KEY": "thor-secret-api-key-ABCDEFG", "THOR_API_URL": fake_thor.base_url}
    term = Terminal(["status", "somebox"], env)
    await asyncio.sleep(1.0)  # it is waiting for Thor now (nothing to wait *for*: Thor never answers)
    term.proc.send_signal(signal.SIGINT)
    code = await term.exit_code()
    assert code == 130, term.text()
    assert "interrupted" in term.text() and "Traceback" not in term.text()
