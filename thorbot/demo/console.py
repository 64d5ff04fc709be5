"""The demo's terminal: type slash commands, watch cards and alerts arrive without garbling the prompt."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.store import Store
from thorbot.adapters.terminal import mrkdwn_to_plain, render_payload
from thorbot.domain.alerts import ACTION_ACK, ACTION_ALERT_REFRESH, ACTION_SNOOZE
from thorbot.domain.models import Chargebox
from thorbot.domain.search import match_boxes
from thorbot.runtime import AppContext
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.slack_user import SlackUser
from thorbot.slack.app import build_app, close_app
from thorbot.slack.web import build_web_app
from thorbot.worker.loop import Worker

CONSOLE_HELP = """[bold]Type slash commands as in Slack[/bold], e.g.
  /chargebox help             /chargebox <id or name>
  /chargebox list             /chargebox subscribe all
  /chargebox oncall           /chargebox mute <id> 30m
[bold]Demo helpers[/bold]
  boxes              the simulated fleet, with ids
  break <id|name>    make a box drop off for 6 minutes
  silence <id|name>  stop a box's heartbeats for 25 minutes
  ack | snooze 1h | refresh   press the last alert's buttons
  home               show the App Home tab
  quit               stop the demo"""


class DemoSlackRenderer:
    """Receives everything the fake Slack gets and prints it like a Slack client would show it."""

    def __init__(self, console: Console, clock: Callable[[], datetime]) -> None:
        self.console = console
        self.clock = clock
        self.last_alert_ts: str | None = None
        self.shown: list[str] = []

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        text = str(payload.get("text", ""))
        self.shown.append(f"{kind}: {mrkdwn_to_plain(text)}")
        stamp = f"sim {self.clock():%H:%M:%S}"
        if kind == "response" and re.search(r"Looking up|Checking with Thor|Updating…", text):
            self.console.print(f"[dim]{rich_escape(mrkdwn_to_plain(text))}[/dim]")
            return
        if kind in ("response", "ephemeral"):
            self.console.print(render_payload(payload, title="only visible to you", style="blue"))
            return
        channel = str(payload.get("channel", ""))
        where = "DM from thorbot" if channel.startswith("D") else "#demo-alerts"
        if kind == "update":
            self.console.print(render_payload(payload, title=f"{where} · message updated · {stamp}", style="yellow"))
            return
        thread = " › thread" if payload.get("thread_ts") else ""
        style = "green" if "back" in text or "recovered" in text else "red"
        if any(b.get("type") == "actions" for b in payload.get("blocks", [])) and not thread:
            self.last_alert_ts = str(payload.get("ts"))
        self.console.print(render_payload(payload, title=f"{where}{thread} · {stamp}", style=style))


STORY_DROP_AFTER = timedelta(seconds=30)


class LineReader:
    """Lines from a stream, read on a daemon thread: a blocked read (an open pipe) never holds up a stop."""

    def __init__(self, stream: TextIO) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True, name="demo-stdin").start()

    def _pump(self, stream: TextIO) -> None:
        try:
            for line in iter(stream.readline, ""):
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        except (OSError, ValueError, RuntimeError):  # the stream or the loop closed under us
            pass
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    async def next_line(self, stop: asyncio.Event) -> str | None:
        """The next line; None at the end of the stream or once `stop` is set."""
        getter = asyncio.ensure_future(self._queue.get())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        return None


class DemoConsole:
    def __init__(self, ctx: AppContext, client: AsyncWebClient, slack: FakeSlack, fleet: Fleet, console: Console,
                 stop: asyncio.Event, *, channel: str, user: str, secret: str, story_box: str | None = None) -> None:
        self.story_box = story_box
        self.ctx, self.client, self.slack, self.fleet = ctx, client, slack, fleet
        self.console, self.stop = console, stop
        self.channel, self.user, self.secret = channel, user, secret
        self.renderer = next(x for x in slack.listeners if isinstance(x, DemoSlackRenderer))

    async def run(self, *, script: str | None, duration: float, speed: float) -> None:
        bolt = build_app(self.ctx, self.client, self.secret)
        app_server = await LoopbackServer(build_web_app(bolt, self.ctx.redis, self.secret)).start()
        worker = Worker(self.ctx.settings, Store(self.ctx.redis), self.ctx.thor, self.client, self.ctx.clock,
                        worker_id="demo")
        worker_task = asyncio.create_task(worker.run(self.stop))
        async with httpx.AsyncClient(timeout=15) as http:
            self.slack_user = SlackUser(app_server.url, self.slack.base_url, self.secret,
                                        user=self.user, channel=self.channel, http=http)
            self._welcome(speed)
            await self._send("/chargebox subscribe all", quiet=True)
            await self._send(f"/chargebox oncall <@{self.user}|you>", quiet=True)
            await self._first_watch(worker)
            self._script_story(speed)
            timer = asyncio.create_task(self._stop_after(duration)) if duration > 0 else None
            try:
                await self._input_loop(script, keep_running=duration > 0)
            finally:
                self.stop.set()
                if timer:
                    timer.cancel()
                await worker_task
                await app_server.stop()
                await close_app(bolt)

    def _welcome(self, speed: float) -> None:
        self.console.rule("[bold]thorbot demo[/bold]")
        self.console.print(f"A simulated Thor fleet of {len(self.fleet.boxes)} chargeboxes; time runs ×{speed:g}. "
                           "This terminal is channel [bold]#demo-alerts[/bold], which watches the whole fleet with "
                           "you on call. Alerts and recoveries appear here as they happen.\n")
        self.console.print(CONSOLE_HELP)
        self._print_boxes(limit=6)

    async def _first_watch(self, worker: Worker, timeout: float = 30.0) -> None:
        """Wait until the worker has seen the whole fleet once: a box down at its first sighting is not news,
        so the story (and anything typed) starts only once every box has been seen up."""
        worker.poll_soon()
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline and not self.stop.is_set():
            report = worker.last_report
            if report is not None and report.observed >= len(self.fleet.boxes):
                return
            await asyncio.sleep(0.05)

    def _script_story(self, speed: float) -> None:
        if self.story_box is None or self.story_box not in self.fleet.boxes:
            return
        drop_in = STORY_DROP_AFTER.total_seconds()
        self.fleet.schedule_outage(self.story_box, self.ctx.clock() + STORY_DROP_AFTER, timedelta(minutes=4))
        first_alert = drop_in + self.ctx.settings.disconnect_grace + self.ctx.settings.poll_interval * speed
        self.console.print(f"[dim]{rich_escape(self.fleet.boxes[self.story_box].alias)} is scripted to drop "
                           f"{drop_in:.0f} simulated seconds from now; its alert arrives in about "
                           f"{first_alert / speed:.0f} s real time. `break <id>` drops any box on demand.[/dim]")

    def _print_boxes(self, limit: int | None = None) -> None:
        table = Table(title="Chargeboxes (first few; `boxes` lists all)" if limit else "Chargeboxes", show_lines=False)
        for col in ("id", "name", "connected", "connectors"):
            table.add_column(col)
        for box in sorted(self.fleet.boxes.values(), key=lambda b: b.alias)[:limit]:
            table.add_row(box.id, box.alias, "yes" if box.connected else "[red]no[/red]", str(len(box.connectors)))
        self.console.print(table)

    async def _stop_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.stop.set()

    async def _input_loop(self, script: str | None, *, keep_running: bool) -> None:
        if script is None and sys.stdin.isatty():
            await self._interactive()
            return
        stream = sys.stdin if script in (None, "-") else Path(script).open(encoding="utf-8")  # noqa: SIM115
        lines = LineReader(stream)
        try:
            while not self.stop.is_set():
                line = await lines.next_line(self.stop)
                if line is None:
                    break
                if not await self.handle(line.strip()):
                    return
        finally:
            if stream is not sys.stdin:
                stream.close()
        if keep_running:
            await self.stop.wait()

    async def _interactive(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.patch_stdout import patch_stdout

        session: PromptSession[str] = PromptSession()
        with patch_stdout(raw=True):
            while not self.stop.is_set():
                prompt = asyncio.create_task(session.prompt_async("thorbot> "))
                stopper = asyncio.create_task(self.stop.wait())
                done, _ = await asyncio.wait({prompt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    prompt.cancel()
                    break
                stopper.cancel()
                try:
                    line = prompt.result()
                except (EOFError, KeyboardInterrupt):
                    break
                if not await self.handle(line.strip()):
                    break

    async def handle(self, line: str) -> bool:
        """Run one console line; False means quit."""
        if not line or line.startswith("#"):
            return True
        word, _, rest = line.partition(" ")
        if word in ("quit", "exit"):
            return False
        if word.startswith("/chargebox"):
            await self._send(line)
        elif word == "/help" or word == "help":
            self.console.print(CONSOLE_HELP)
        elif word == "boxes":
            self._print_boxes()
        elif word in ("break", "silence"):
            self._break(rest.strip(), silent=word == "silence")
        elif word in ("ack", "snooze", "refresh"):
            await self._click(word, rest.strip())
        elif word == "home":
            await self._home()
        elif word.startswith("/"):
            self.console.print(f"Only /chargebox is installed in this workspace, not {rich_escape(word)}.")
        else:
            self.console.print("Unknown command; type [bold]help[/bold].")
        return True

    async def _send(self, text: str, *, quiet: bool = False) -> None:
        _, _, args = text.partition(" ")
        response, key = await self.slack_user.command(args)
        if response.status_code != 200:
            self.console.print(f"[red]Slack would show: HTTP {response.status_code}[/red]")
            return
        if quiet:
            self.slack.responses.pop(key, None)
            return
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            if not re.search(r"Looking up|Checking with Thor|Updating…", str(body.get("text", ""))):
                self.console.print(render_payload(body, title="only visible to you", style="blue"))

    def _break(self, query: str, *, silent: bool) -> None:
        boxes = [Chargebox(id=b.id, alias=b.alias) for b in self.fleet.boxes.values()]
        matches = match_boxes(boxes, query) if query else []
        if len(matches) != 1:
            self.console.print("Name one box: `break <id or name>` (see `boxes`).")
            return
        length = timedelta(minutes=25 if silent else 6)
        self.fleet.schedule_outage(matches[0].id, self.ctx.clock(), length, silent=silent)
        what = "stops sending heartbeats" if silent else "drops off"
        self.console.print(f"[dim]{rich_escape(matches[0].name)} {what} now (simulated, for {length}).[/dim]")

    async def _click(self, word: str, arg: str) -> None:
        ts = self.renderer.last_alert_ts
        if ts is None:
            self.console.print("No alert with buttons yet.")
            return
        if word == "ack":
            await self.slack_user.click(ACTION_ACK, ts)
        elif word == "refresh":
            await self.slack_user.click(ACTION_ALERT_REFRESH, ts)
        else:
            await self.slack_user.click(ACTION_SNOOZE, ts, selected=arg or "1h")

    async def _home(self) -> None:
        await self.slack_user.open_home()
        for _ in range(100):
            view = self.slack.views.get(self.user)
            if view:
                self.console.print(render_payload(view, title="App Home", style="cyan"))
                self.slack.views.pop(self.user, None)
                return
            await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            self.console.print("[dim]The Home tab did not load.[/dim]")
