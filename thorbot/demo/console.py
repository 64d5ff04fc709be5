"""The demo's terminal: type slash commands, watch cards and alerts arrive without garbling the prompt."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
from rich.console import Console
from rich.table import Table

from thorbot.adapters.terminal import local_time, mrkdwn_to_plain, render_payload, shown
from thorbot.context import AppContext
from thorbot.demo.story import DRIVER_REPORTS_AT, DRIVER_WORDS, STORY_LENGTH, Cast, Progress, cast, schedule
from thorbot.domain.alerts import ACTION_ACK, ACTION_ALERT_REFRESH, ACTION_SNOOZE
from thorbot.domain.models import Chargebox
from thorbot.domain.report_view import ACTION_REPORT_CSV
from thorbot.domain.search import match_boxes
from thorbot.domain.session_messages import ACTION_STOP
from thorbot.domain.text import plural
from thorbot.runtime import build_serve, build_worker
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.slack_user import SlackUser
from thorbot.sim.thor_server import FakeThor
from thorbot.worker.loop import Worker

# The demo workspace's people. Slack's client turns a person picked in its autocomplete into `<@U…|name>`; the
# console does the same for these names, so `/chargebox rotation @ana @ben weekly mon 09:00` works as in Slack.
DEMO_PEOPLE: dict[str, str] = {"you": "U0YOU", "ana": "U0ANA", "ben": "U0BEN", "cat": "U0CAT", "dan": "U0DAN"}
_AT_NAME = re.compile(r"(?<!\S)@([a-z0-9._-]+)(?!\S)", re.IGNORECASE)
PROMPT = "thorbot> "

CONSOLE_HELP = """[bold]Type slash commands as in Slack[/bold], e.g.
  /chargebox help             /chargebox <id or name>
  /chargebox list             /chargebox subscribe all
  /chargebox oncall           /chargebox mute <id> 30m
  People here: @you, @ana, @ben, @cat, @dan (as if picked in Slack's autocomplete)
[bold]Demo helpers[/bold]
  boxes              the simulated fleet, with ids
  break <id|name>    make a box drop off for 6 minutes
  silence <id|name>  stop a box's heartbeats for 25 minutes
  fail <id|name>     make three charge attempts fail on its connector #1
  stall <id|name>    make its charge stop drawing energy (starts one if none runs)
  ack | snooze 1h | refresh   press the last alert's buttons
  stop               press the last "Stop charge…" button shown, and confirm
  report \\[box] \\[30d] the reliability report (start with --history-days 30 for some history)
  csv                press the last report's "Download CSV"
  home               show the App Home tab
  quit               stop the demo"""


def as_mentions(line: str, people: Mapping[str, str]) -> str:
    """`line` with each `@name` of `people` as the mention Slack's client sends for it; other words unchanged."""
    def mention(match: re.Match[str]) -> str:
        user = people.get(match.group(1).lower())
        return f"<@{user}|{match.group(1).lower()}>" if user else match.group(0)

    return _AT_NAME.sub(mention, line)


class DemoSlackRenderer:
    """Receives everything the fake Slack gets and prints it like a Slack client would show it."""

    def __init__(self, console: Console, clock: Callable[[], datetime], names: Mapping[str, str]) -> None:
        self.console = console
        self.clock = clock
        self.names = names  # Slack ids → names, as a Slack client shows mentions
        self.last_alert_ts: str | None = None
        self.last_stop: tuple[str, str, bool] | None = None  # a Stop button seen last: (value, message ts, ephemeral)
        self.last_report: str | None = None  # the last report's Download CSV button value
        self.shown: list[str] = []

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        text = str(payload.get("text", ""))
        self.shown.append(f"{kind}: {mrkdwn_to_plain(text, self.names)}")
        stamp = local_time(self.clock())
        self._remember_stop(kind, payload)
        if kind == "file":
            lines = str(payload.get("content", "")).splitlines()
            preview = "\n".join(lines[:6]) + (f"\n… {len(lines) - 6} more rows" if len(lines) > 6 else "")
            self.console.print(render_payload({"text": f"📄 {payload.get('title')}\n{preview}"}, names=self.names,
                                              title=f"#{self.names.get(str(payload.get('channel')), 'channel')} · file"
                                                    f" · {stamp}", style="cyan"))
            return
        if kind == "modal":
            title = str((payload.get("title") or {}).get("text", "thorbot"))
            self.console.print(render_payload(payload, title=f"dialog · {title}", style="magenta", names=self.names))
            return
        if kind == "response" and re.search(r"Looking up|Checking with Thor|Updating…", text):
            self.console.print(f"[dim]{shown(mrkdwn_to_plain(text, self.names))}[/dim]")
            return
        if kind in ("response", "ephemeral"):
            self.console.print(render_payload(payload, title="only visible to you", style="blue", names=self.names))
            return
        channel = str(payload.get("channel", ""))
        where = "DM from thorbot" if channel.startswith("D") else "#" + self.names.get(channel, channel)
        if kind == "update":
            self.console.print(render_payload(payload, title=f"{where} · message updated · {stamp}", style="yellow",
                                              names=self.names))
            return
        thread = " › thread" if payload.get("thread_ts") else ""
        style = "green" if "back" in text or "recovered" in text else "red"
        if any(b.get("type") == "actions" for b in payload.get("blocks", [])) and not thread:
            self.last_alert_ts = str(payload.get("ts"))
        self.console.print(render_payload(payload, title=f"{where}{thread} · {stamp}", style=style, names=self.names))

    def _remember_stop(self, kind: str, payload: dict[str, Any]) -> None:
        for block in payload.get("blocks") or []:
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("action_id") == ACTION_REPORT_CSV:
                    self.last_report = str(element.get("value"))
            accessory = block.get("accessory") or {}
            if accessory.get("action_id") == ACTION_STOP and kind != "modal":
                ts = str(payload.get("ts") or "1.1")
                self.last_stop = (str(accessory.get("value", "")), ts, kind in ("response", "ephemeral"))


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
    def __init__(self, ctx: AppContext, slack: FakeSlack, thor: FakeThor, console: Console,
                 stop: asyncio.Event, *, channel: str, user: str, secret: str) -> None:
        self.ctx, self.slack, self.thor, self.fleet = ctx, slack, thor, thor.fleet
        self.console, self.stop = console, stop
        self.channel, self.user, self.secret = channel, user, secret
        self.renderer = next(x for x in slack.listeners if isinstance(x, DemoSlackRenderer))
        self.story: Cast | None = None
        self.progress = Progress()
        self.story_done = asyncio.Event()
        self.t0: datetime | None = None
        self.driver_tried = False
        self.app_url = ""

    async def run(self, *, script: str | None, duration: float, speed: float) -> None:
        serve = build_serve(self.ctx, signing_secret=self.secret)
        token = self.ctx.settings.thor_webhook_token
        app_server = await LoopbackServer(serve.web).start()
        self.app_url = app_server.url
        if token:
            self.thor.notify_url = f"{app_server.url}/thor/notifications/{token.get_secret_value()}"
        worker = build_worker(self.ctx, worker_id="demo")
        tasks = [asyncio.create_task(worker.run(self.stop)), asyncio.create_task(self._deliver_notifications())]
        async with httpx.AsyncClient(timeout=15) as http:
            self.slack_user = SlackUser(app_server.url, self.slack.base_url, self.secret,
                                        user=self.user, channel=self.channel, http=http)
            self._welcome(speed)
            await self._send("/chargebox subscribe all", quiet=True)
            await self._send(f"/chargebox oncall <@{self.user}|you>", quiet=True)
            await self._first_watch(worker)
            self._start_story(speed)
            await self._show_sticker()
            tasks.append(asyncio.create_task(self.fleet.run(self.ctx.clock, self.stop)))
            tasks.append(asyncio.create_task(self._follow_story(speed)))
            timer = asyncio.create_task(self._stop_after(duration)) if duration > 0 else None
            try:
                await self._input_loop(script, duration=duration, speed=speed)
            finally:
                self.stop.set()
                if timer:
                    timer.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await app_server.stop()
                await serve.aclose()

    def _welcome(self, speed: float) -> None:
        self.console.rule("[bold]thorbot demo[/bold]")
        self.console.print(f"A simulated Thor fleet of {len(self.fleet.boxes)} chargeboxes; time runs ×{speed:g}. "
                           "This terminal is channel [bold]#demo-alerts[/bold], which watches the whole fleet with "
                           "you on call. Alerts and recoveries appear here as they happen; its pages go to a simulated "
                           "PagerDuty, shown as 📟 lines (no phone rings). Times are simulated, "
                           f"shown in this machine's zone ({self.ctx.clock().astimezone().tzname()}).\n")
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

    def _start_story(self, speed: float) -> None:
        """T0: the fleet, frozen since it was generated, starts living now, so a seed gives the same story."""
        self.fleet.now = max(self.fleet.now, self.ctx.clock())
        self.t0 = self.fleet.now
        self.story = cast(self.fleet)
        if self.story is None:
            return
        schedule(self.fleet, self.story, self.fleet.now)
        names = {b.id: b.alias for b in self.fleet.boxes.values()}
        ghost = (f"within 10 min thorbot notices that connector #1 of {shown(names[self.story.ghost])}, online and "
                 "busy, has charged nobody for 8 hours; at 13 min a driver charges there. ") if self.story.ghost else ""
        ghost += (f"At 4½ min a driver reports a dead screen on {shown(names[self.story.reported])} from its "
                  "sticker's page; at 9 min someone charges there. ") if self.story.reported else ""
        self.console.print(
            f"[dim]The story, in simulated time: in 30 s {shown(names[self.story.outage])} drops off for 4 min; "
            f"in 1 min the charge on {shown(names[self.story.stalled])} stops drawing energy, and the demo "
            f"stops it from Slack; in 3½ min {shown(names[self.story.failing])} fails three starts; {ghost}"
            f"At ×{speed:g} it plays out in about {STORY_LENGTH.total_seconds() / speed:.0f} s. "
            "`break`, `fail`, `stall` do the same to any box.[/dim]")

    async def _follow_story(self, speed: float) -> None:
        """Watch the channel for the story's messages; press Stop on the stuck charge, as an operator would."""
        story = self.story
        if story is None:
            self.story_done.set()
            return
        names = {b.id: b.alias for b in self.fleet.boxes.values()}
        async with httpx.AsyncClient(timeout=15) as http:
            await self._watch_story(story, names, http)

    async def _show_sticker(self) -> None:
        """A sticker's loopback link the person running the demo can open in their own browser and report through."""
        codes = self.ctx.stickers
        if codes is None:
            return
        box = sorted(self.fleet.boxes.values(), key=lambda b: b.alias)[0]
        url = f"{self.app_url}/r/{await codes.code_for(box.id, 1)}"
        self.console.print(f"[dim]The sticker on {shown(box.alias)} connector #1 links to[/dim] {url} [dim]— open it "
                           "in your browser and report a problem, as a driver would (`thorbot stickers` prints "
                           "them).[/dim]", soft_wrap=True)

    async def _driver_reports(self, story: Cast, http: httpx.AsyncClient) -> None:
        """The story's driver: scans the sticker and reports a dead screen on its page, as a phone would."""
        codes = self.ctx.stickers
        if codes is None or story.reported is None:
            return
        url = f"{self.app_url}/r/{await codes.code_for(story.reported, 1)}"
        try:
            answer = await http.post(url, data={"problem": "screen", "details": DRIVER_WORDS})
        except httpx.HTTPError as exc:
            self.console.print(f"[dim]The driver's report did not reach the page ({type(exc).__name__}).[/dim]")
            return
        if answer.status_code == 303:
            self.progress.driver_reported = True
            self.console.print(f"[dim]A driver scans the sticker on {shown(self.fleet.boxes[story.reported].alias)} "
                               "connector #1 and reports a dead screen on its page.[/dim]")

    async def _watch_story(self, story: Cast, names: dict[str, str], http: httpx.AsyncClient) -> None:
        while not self.stop.is_set():
            if (self.t0 is not None and not self.driver_tried and story.reported is not None
                    and self.fleet.now >= self.t0 + DRIVER_REPORTS_AT):
                self.driver_tried = True  # once, whatever the page said
                await self._driver_reports(story, http)
            self.progress.update(self.slack.posts(self.channel), names, story)
            notice = self.progress.stuck_notice
            if notice is not None and not self.progress.stop_pressed:
                self.progress.stop_pressed = True
                value = next((b["accessory"]["value"] for b in notice.blocks
                              if (b.get("accessory") or {}).get("action_id") == ACTION_STOP), None)
                if value:
                    self.console.print("[dim]The demo presses “Stop charge…” on that notice and confirms, as an "
                                       "operator would.[/dim]")
                    await self._press_stop(value, notice.ts, ephemeral=False)
            if self.progress.done:
                self.console.print("[dim]The story has played out: an outage and its recovery, a stuck charge "
                                   "stopped from Slack, failed starts and their recovery, a ghost connector found "
                                   "and charging again, a driver's report and the charge that ended it. Type on, or "
                                   "`quit`.[/dim]")
                self.story_done.set()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=0.25)

    async def _deliver_notifications(self) -> None:
        """Thor's push notifications: what the fleet did, POSTed to `serve`'s webhook as Thor would."""
        import aiohttp

        async with aiohttp.ClientSession() as http:
            while not self.stop.is_set():
                await self.thor.deliver_notifications(http)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=0.3)

    def _print_boxes(self, limit: int | None = None) -> None:
        table = Table(title="Chargeboxes (first few; `boxes` lists all)" if limit else "Chargeboxes", show_lines=False)
        for col in ("id", "name", "connected", "connectors"):
            table.add_column(col)
        for box in sorted(self.fleet.boxes.values(), key=lambda b: b.alias)[:limit]:
            table.add_row(shown(box.id), shown(box.alias), "yes" if box.connected else "[red]no[/red]",
                          str(len(box.connectors)))
        self.console.print(table)

    async def _stop_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.stop.set()

    async def _input_loop(self, script: str | None, *, duration: float, speed: float) -> None:
        """Interactive in a terminal; otherwise read the script or the pipe, then run until `--duration`
        (when given) or until the story has played out."""
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
                if line.strip() and not line.lstrip().startswith("#"):  # so each answer can be matched to its line
                    self.console.print(f"[bold]{PROMPT}[/bold]{shown(line.strip())}")
                if not await self.handle(line.strip()):
                    return
        finally:
            if stream is not sys.stdin:
                stream.close()
        if duration > 0:
            await self.stop.wait()
            return
        cap = STORY_LENGTH.total_seconds() / speed + 60  # the story's length, and then some: never forever
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.story_done.wait(), timeout=cap)
        await asyncio.sleep(min(2.0, 60 / speed))  # let the last messages show

    async def _interactive(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
        from prompt_toolkit.patch_stdout import patch_stdout

        # Ctrl-C at the prompt ends the demo like `quit`. prompt_toolkit's own binding raises KeyboardInterrupt,
        # which asyncio re-raises out of the event loop (a traceback, exit 130); and its SIGINT handling would
        # replace thorbot's, so a Ctrl-C while a command runs would do the same. Neither is used.
        keys = KeyBindings()

        @keys.add("c-c")
        def _interrupt(event: KeyPressEvent) -> None:
            event.app.exit(exception=EOFError())

        session: PromptSession[str] = PromptSession(key_bindings=keys)
        with patch_stdout(raw=True):
            while not self.stop.is_set():
                prompt = asyncio.create_task(session.prompt_async(PROMPT, handle_sigint=False))
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
        rest = rest.strip()
        if word in ("quit", "exit"):
            return False
        if word.startswith("/chargebox"):
            await self._send(as_mentions(line, DEMO_PEOPLE))
        elif word in ("/help", "help"):
            self.console.print(CONSOLE_HELP)
        elif word in HELPERS:
            await HELPERS[word](self, word, rest)
        elif word.startswith("/"):
            self.console.print(f"Only /chargebox is installed in this workspace, not {shown(word)}.")
        else:
            self.console.print("Unknown command; type [bold]help[/bold].")
        return True

    async def _boxes(self, word: str, rest: str) -> None:
        self._print_boxes()

    async def _outage_helper(self, word: str, rest: str) -> None:
        self._break(rest, silent=word == "silence")

    async def _stop_helper(self, word: str, rest: str) -> None:
        await self._stop_last()

    async def _report(self, word: str, rest: str) -> None:
        await self._send(f"/chargebox report {rest}".strip())

    async def _csv(self, word: str, rest: str) -> None:
        if self.renderer.last_report is None:
            self.console.print("No report yet: type `report` first.")
            return
        await self.slack_user.click(ACTION_REPORT_CSV, "1.1", value=self.renderer.last_report, ephemeral=True)

    async def _buttons(self, word: str, rest: str) -> None:
        await self._click(word, rest)

    async def _home_helper(self, word: str, rest: str) -> None:
        await self._home()

    async def _send(self, text: str, *, quiet: bool = False) -> None:
        _, _, args = text.partition(" ")
        response, key = await self.slack_user.command(args)
        if response.status_code != 200:
            self.console.print(f"[red]Slack would show: HTTP {response.status_code}[/red]")
            return
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            if not quiet and not re.search(r"Looking up|Checking with Thor|Updating…", str(body.get("text", ""))):
                self.console.print(render_payload(body, title="only visible to you", style="blue",
                                                  names=self.renderer.names))
        else:  # answered through response_url: wait for it, as a person does, before the next line runs
            await self._answer(key)
        if quiet:
            self.slack.responses.pop(key, None)

    async def _answer(self, key: str) -> None:
        deadline = time.monotonic() + self.ctx.settings.interactive_deadline + 2
        while time.monotonic() < deadline and not self.stop.is_set():
            if any(not str(r.get("text", "")).startswith(":hourglass_flowing_sand:")
                   for r in self.slack.responses.get(key, [])):
                return
            await asyncio.sleep(0.05)

    def _one_box(self, query: str, verb: str) -> Chargebox | None:
        boxes = [Chargebox(id=b.id, alias=b.alias) for b in self.fleet.boxes.values()]
        matches = match_boxes(boxes, query) if query else []
        if len(matches) != 1:
            self.console.print(f"Name one box: `{verb} <id or name>` (see `boxes`).")
            return None
        return matches[0]

    def _break(self, query: str, *, silent: bool) -> None:
        box = self._one_box(query, "silence" if silent else "break")
        if box is None:
            return
        length = timedelta(minutes=25 if silent else 6)
        self.fleet.schedule_outage(box.id, self.ctx.clock(), length, silent=silent)
        what = "stops sending heartbeats" if silent else "drops off"
        minutes = plural(int(length.total_seconds() // 60), "minute")
        self.console.print(f"[dim]{shown(box.name)} {what} now (simulated, for {minutes}).[/dim]")

    async def _trouble(self, word: str, query: str) -> None:
        """`fail` or `stall` a box's charging."""
        box = self._one_box(query, word)
        if box is None:
            return
        if word == "fail":
            self.fleet.fail(box.id, connector=1, attempts=3)
            self.console.print(f"[dim]Drivers try to charge on {shown(box.name)} connector #1 and fail, "
                               "three times (refused starts and charges under 100 Wh).[/dim]")
            return
        session = self.fleet.stall(box.id)
        if session is None:
            self.console.print("That box refused the charge; try again.")
            return
        self.console.print(f"[dim]The charge on {shown(box.name)} connector #{session.connector} stops drawing "
                           f"energy; thorbot calls it stuck after {self.ctx.settings.session_stall_after / 60:g} "
                           "simulated minutes flat.[/dim]")

    async def _stop_last(self) -> None:
        if self.renderer.last_stop is None:
            self.console.print("No “Stop charge…” button yet: look up a box with a charge running "
                               "(`/chargebox <id>`), or wait for a stuck-charge notice.")
            return
        value, ts, ephemeral = self.renderer.last_stop
        await self._press_stop(value, ts, ephemeral=ephemeral)

    async def _press_stop(self, value: str, ts: str, *, ephemeral: bool) -> None:
        """Click a Stop button, then confirm the dialog it opens (if it opens one: it may say why not)."""
        before = len(self.slack.modals)
        await self.slack_user.click(ACTION_STOP, ts, value=value, ephemeral=ephemeral)
        for _ in range(100):
            if len(self.slack.modals) > before:
                await self.slack_user.submit(self.slack.modals[-1])
                return
            await asyncio.sleep(0.05)

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
                self.console.print(render_payload(view, title="App Home", style="cyan", names=self.renderer.names))
                self.slack.views.pop(self.user, None)
                return
            await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            self.console.print("[dim]The Home tab did not load.[/dim]")


Helper = Callable[[DemoConsole, str, str], Awaitable[None]]
HELPERS: dict[str, Helper] = {
    "boxes": DemoConsole._boxes, "break": DemoConsole._outage_helper, "silence": DemoConsole._outage_helper,
    "fail": DemoConsole._trouble, "stall": DemoConsole._trouble, "stop": DemoConsole._stop_helper,
    "report": DemoConsole._report, "csv": DemoConsole._csv, "ack": DemoConsole._buttons,
    "snooze": DemoConsole._buttons, "refresh": DemoConsole._buttons, "home": DemoConsole._home_helper,
}
