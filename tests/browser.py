"""A real headless browser for tests: Debian's chromium driven through chromedriver's W3C WebDriver HTTP API
(https://www.w3.org/TR/webdriver2/), with httpx over loopback: no browser download, no extra dependency.

`scripts/check` installs `chromium` and `chromium-driver` with apt when they are missing (CI runs it); a machine
without them skips the browser tests with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver")


def require_browser() -> None:
    if CHROMEDRIVER is None or not shutil.which("chromium"):
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/check installs them: apt-get install "
                    "chromium chromium-driver)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Browser:
    def __init__(self, http: httpx.AsyncClient, session: str) -> None:
        self.http, self.session = http, session

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, f"/session/{self.session}{path}", json=body)
        value = response.json().get("value")
        if response.status_code != 200:
            raise AssertionError(f"WebDriver {method} {path}: {value}")
        return value

    async def open(self, url: str) -> None:
        await self._call("POST", "/url", {"url": url})

    async def find(self, css: str) -> str:
        return str((await self._call("POST", "/element", {"using": "css selector", "value": css}))[ELEMENT])

    async def click(self, css: str) -> None:
        await self._call("POST", f"/element/{await self.find(css)}/click", {})

    async def type(self, css: str, text: str) -> None:
        await self._call("POST", f"/element/{await self.find(css)}/value", {"text": text})

    async def text(self, css: str = "body") -> str:
        return str(await self._call("GET", f"/element/{await self.find(css)}/text"))

    async def attribute(self, css: str, name: str) -> str | None:
        value = await self._call("GET", f"/element/{await self.find(css)}/attribute/{name}")
        return None if value is None else str(value)

    async def url(self) -> str:
        return str(await self._call("GET", "/url"))

    async def run(self, script: str) -> Any:
        return await self._call("POST", "/execute/sync", {"script": script, "args": []})

    async def screenshot(self) -> bytes:
        return base64.b64decode(await self._call("GET", "/screenshot"))

    async def wait_for_text(self, words: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                shown = await self.text()
            except AssertionError:  # between two pages there may be no body for a moment
                shown = ""
            if words in shown:
                return shown
            assert time.monotonic() < deadline, f"the page never said {words!r}; it says {shown!r}"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def phone_browser(width: int = 360, height: int = 740) -> AsyncIterator[Browser]:
    """A headless Chromium the size of a phone's screen. (The page has no script at all, and its
    Content-Security-Policy would block one: chromedriver itself needs JavaScript to click and type.)"""
    require_browser()
    assert CHROMEDRIVER is not None
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="thorbot-chromium-") as profile:
        driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as http:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if (await http.get("/status")).json()["value"]["ready"]:
                            break
                    except (httpx.TransportError, ValueError, KeyError):
                        pass
                    assert time.monotonic() < deadline, "chromedriver did not start"
                    await asyncio.sleep(0.05)
                options = {"binary": CHROMIUM, "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                    "--lang=en-US"],
                    "mobileEmulation": {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}}}
                created = await http.post("/session", json={"capabilities": {"alwaysMatch": {
                    "browserName": "chrome", "goog:chromeOptions": options}}})
                assert created.status_code == 200, created.text
                session = created.json()["value"]["sessionId"]
                try:
                    yield Browser(http, session)
                finally:
                    await http.delete(f"/session/{session}")
        finally:
            driver.terminate()
            try:
                driver.wait(10)
            except subprocess.TimeoutExpired:
                driver.kill()
