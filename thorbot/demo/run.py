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
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from thorbot.demo.console import DemoConsole, DemoSlackRenderer
from thorbot.runtime import open_context, slack_client
from thorbot.settings import Settings
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import PREFIX, FakeThor

DEMO_KEY = "demo-thor-key"
DEMO_TOKEN = "xoxb-demo"
DEMO_SECRET = "demo-signing-secret"
DEMO_CHANNEL = "C0DEMOALERTS"
DEMO_USER = "U0YOU"
DEMO_TEAM = "T0DEMO"


class SimClock:
    """Simulated time: `speed` simulated seconds pass per real second."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start, self.speed = start, speed
        self._real0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._real0) * self.speed)


def demo_fleet(boxes: int, seed: int, now: datetime) -> tuple[Fleet, str]:
    """The seeded fleet, and the box whose outage the demo scripts (it has a driver charging)."""
    fleet = Fleet.generate(boxes, seed=seed, now=now)
    story = sorted(fleet.boxes.values(), key=lambda b: b.alias)[fleet.rng.randrange(len(fleet.boxes))]
    fleet.start_session(story.id, 1, mode="local", minutes=90)
    return fleet, story.id


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


def demo_settings(base: Settings, data_dir: Path, thor_url: str, slack_url: str | None, speed: float) -> Settings:
    values: dict[str, object] = {
        "thor_api_key": DEMO_KEY, "thor_api_url": thor_url, "redis_url": None, "data_dir": data_dir,
        "poll_interval": max(0.5, 60.0 / speed), "slack_channel_gap": 0.2, "name_cache_ttl": 30.0,
        "thor_timeout": 5.0, "admins": "",
    }
    if slack_url:
        values.update({"slack_bot_token": DEMO_TOKEN, "slack_signing_secret": DEMO_SECRET,
                       "slack_api_url": slack_url + "/api/"})
    return base.with_changes(**values)


async def run_demo(base: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    console = Console(highlight=False)
    if args.speed <= 0 or args.boxes < 1:
        console.print("thorbot demo: --speed must be > 0 and --boxes ≥ 1")
        return 2
    now = datetime.now(tz=UTC).replace(microsecond=0)
    clock = SimClock(now, args.speed)
    fleet, story_box = demo_fleet(args.boxes, args.seed, now)
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
            async with open_context(settings) as ctx:
                ctx.clock = clock
                driver = asyncio.create_task(fleet.run(clock, stop))
                renderer = DemoSlackRenderer(console, clock)
                fake_slack.listeners.append(renderer)
                fake_slack.memberships[DEMO_USER] = [DEMO_CHANNEL]
                demo = DemoConsole(ctx, slack_client(settings), fake_slack, fleet, console, stop,
                                   channel=DEMO_CHANNEL, user=DEMO_USER, secret=DEMO_SECRET, story_box=story_box)
                try:
                    await demo.run(script=args.script, duration=args.duration, speed=args.speed)
                finally:
                    stop.set()
                    await driver
    console.print("[dim]thorbot demo stopped; the embedded Redis and the simulated fleet are gone.[/dim]")
    return 0
