"""`thorbot demo`: the whole product on a laptop, no credentials.

One process runs: the embedded Redis (in a temporary directory), a simulated Thor fleet served over
loopback with the real API shape, a fake Slack Web API whose messages are rendered in this terminal,
the real Bolt app behind `thorbot serve`'s HTTP endpoint, and the real worker. What you type is sent
to the app as signed slash commands, exactly as Slack would send them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from thorbot.adapters.secrets_box import SecretBox
from thorbot.demo.console import DEMO_PEOPLE, DemoConsole, DemoSlackRenderer
from thorbot.demo.history import pregenerate
from thorbot.demo.story import ghost_history
from thorbot.domain.pager import PagerLink
from thorbot.runtime import open_context
from thorbot.settings import Settings
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.pagerduty import FakePagerDuty
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import PREFIX, FakeThor

DEMO_KEY = "demo-thor-key"
DEMO_TOKEN = "xoxb-demo"
DEMO_SECRET = "demo-signing-secret"
DEMO_CHANNEL = "C0DEMOALERTS"
DEMO_USER = DEMO_PEOPLE["you"]
DEMO_TEAM = "T0DEMO"
DEMO_ROUTING_KEY = "DEMOROUTINGKEY0000000000000000PD"


class PagerPrinter:
    """The fake PagerDuty, in the terminal: what would wake the on-call person's phone."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.summaries: dict[str, str] = {}

    def __call__(self, action: str, event: dict[str, Any]) -> None:
        key = str(event.get("dedup_key", ""))
        if action == "trigger":
            self.summaries[key] = str(event["payload"]["summary"])
            self.console.print(f"📟 [bold]PagerDuty (simulated): paged[/bold] ({event['payload']['severity']}): "
                               f"{escape(self.summaries[key])}")
        else:
            words = "acknowledged" if action == "acknowledge" else "resolved"
            self.console.print(f"📟 PagerDuty (simulated): {words}: {escape(self.summaries.get(key, key))}")


class SimClock:
    """Simulated time: `speed` simulated seconds pass per real second."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start, self.speed = start, speed
        self._real0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._real0) * self.speed)


@contextlib.asynccontextmanager
async def _servers(fake_thor: FakeThor, fake_slack: FakeSlack | None) -> AsyncIterator[tuple[str, str | None]]:
    thor_server = await LoopbackServer(fake_thor.app()).start()
    fake_thor.base_url = thor_server.url + PREFIX
    slack_server = await LoopbackServer(fake_slack.app()).start() if fake_slack else None
    if fake_slack and slack_server:
        fake_slack.base_url = slack_server.url
    try:
        yield thor_server.url + PREFIX, slack_server.url if slack_server else None
    finally:
        if slack_server:
            await slack_server.stop()
        await thor_server.stop()


def script_problem(script: str | None) -> str | None:
    """Why `--script` cannot be read, in a few words; None when it can (or when it is stdin)."""
    if script in (None, "-"):
        return None
    path = Path(script)
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "it is a directory"
    try:
        path.open(encoding="utf-8").close()
    except OSError as exc:
        return (exc.strerror or "unreadable").lower()
    return None


def demo_settings(base: Settings, data_dir: Path, thor_url: str, slack_url: str | None, speed: float) -> Settings:
    values: dict[str, object] = {
        "thor_api_key": DEMO_KEY, "thor_api_url": thor_url, "redis_url": None, "data_dir": data_dir,
        "poll_interval": max(0.5, 60.0 / speed), "slack_channel_gap": 0.2, "name_cache_ttl": 30.0,
        "thor_timeout": 5.0,
        # The console user is an admin (so `/chargebox pager` opens its form, which needs a named admin) and an
        # operator, so the story can show a charge stopped from Slack. --slack: real people, from the environment.
        "admins": DEMO_USER if slack_url else base.admins,
        "operators": DEMO_USER if slack_url else base.operators,  # --slack: real people, from the environment
        # The story's charges: stuck after 5 flat minutes (not 30), finished charges read every minute.
        "session_stall_after": 300.0, "session_stall_grace": 60.0, "finished_interval": 60.0,
        "thor_webhook_token": secrets.token_urlsafe(32),
        # Stickers and their report page (/r/<code> on the demo's serve): a key of the demo's own.
        "sticker_key": secrets.token_urlsafe(32),
    }
    if slack_url:
        values.update({"slack_bot_token": DEMO_TOKEN, "slack_signing_secret": DEMO_SECRET,
                       "slack_api_url": slack_url + "/api/"})
    return base.with_changes(**values)


async def run_demo(base: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    console = Console(highlight=False)
    if args.speed <= 0 or args.boxes < 1 or not 0 <= args.history_days <= 400:
        console.print("thorbot demo: --speed must be > 0, --boxes ≥ 1 and --history-days from 0 to 400")
        return 2
    unreadable = script_problem(args.script)
    if unreadable:
        console.print(f"thorbot demo: cannot read the script {args.script}: {unreadable}", markup=False)
        return 2
    now = datetime.now(tz=UTC).replace(microsecond=0)
    clock = SimClock(now, args.speed)
    fleet = Fleet.generate(args.boxes, seed=args.seed, now=now)
    ghost_history(fleet, now, args.seed)  # a box the worker will find "not charging anyone" (demo/story.py)
    fake_thor = FakeThor(fleet, DEMO_KEY)
    fake_slack = None if args.slack else FakeSlack(DEMO_TOKEN)
    if fake_slack is not None:
        fake_slack.team_id = DEMO_TEAM
    with tempfile.TemporaryDirectory(prefix="thorbot-demo-") as tmp:
        async with _servers(fake_thor, fake_slack) as (thor_url, slack_url):
            settings = demo_settings(base, Path(tmp), thor_url, slack_url, args.speed)
            if args.slack:
                from thorbot.demo.socket_mode import run_demo_slack

                if args.duration > 0:
                    asyncio.get_running_loop().call_later(args.duration, stop.set)
                return await run_demo_slack(settings, clock, fleet, stop, console)
            assert fake_slack is not None
            pagerduty = FakePagerDuty({DEMO_ROUTING_KEY})
            pager_server = await LoopbackServer(pagerduty.app()).start()
            pagerduty.base_url = pager_server.url
            pagerduty.listeners.append(PagerPrinter(console))
            settings = settings.with_changes(secrets_key=SecretBox.new_key(), allow_loopback_urls=True,
                                             pagerduty_events_url=pagerduty.events_url)  # a fake one, on loopback
            async with open_context(settings, clock=clock) as ctx:
                # #demo-alerts pages a fake PagerDuty, shown in the terminal ("📟 paged: …").
                await ctx.stores.pagers.set_link(DEMO_CHANNEL, PagerLink(
                    kind="pagerduty", sealed=ctx.secrets.seal(DEMO_ROUTING_KEY), by=DEMO_USER, at=now))
                if args.history_days:
                    made = await pregenerate(ctx.redis, fleet, args.history_days, now, args.seed)
                    console.print(f"[dim]Made up {args.history_days} days of history: {made} past outages; "
                                  "`report` shows it.[/dim]")
                people = {user: name for name, user in DEMO_PEOPLE.items()}
                renderer = DemoSlackRenderer(console, clock, {**people, DEMO_CHANNEL: "demo-alerts"})
                fake_slack.listeners.append(renderer)
                fake_slack.memberships[DEMO_USER] = [DEMO_CHANNEL]
                demo = DemoConsole(ctx, fake_slack, fake_thor, console, stop,
                                   channel=DEMO_CHANNEL, user=DEMO_USER, secret=DEMO_SECRET)
                try:
                    await demo.run(script=args.script, duration=args.duration, speed=args.speed)
                finally:
                    stop.set()
                    await pager_server.stop()
    console.print("[dim]thorbot demo stopped; the embedded Redis and the simulated fleet are gone.[/dim]")
    return 0
