"""Test helpers: signed Slack requests, Block Kit validation, the running-app rig."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import httpx
from aiohttp import web
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier

from thorbot.adapters.outbound import system_resolver
from thorbot.context import AppContext
from thorbot.runtime import build_serve, check_slack_token, open_context, utc_now
from thorbot.settings import Settings
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.pagerduty import FakePagerDuty
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor

SLACK_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret-0123456789"
THOR_KEY = "thor-secret-api-key-ABCDEFG"
WEBHOOK_TOKEN = "webhook-token-0123456789abcdefghijklmnop"


def assert_valid_message(payload: dict[str, Any]) -> None:
    """Block Kit checks: SDK validation plus the limits it misses (slack-platform.md §3)."""
    assert payload.get("text"), "every message needs a text fallback"
    blocks = payload.get("blocks") or []
    assert len(blocks) <= 50, f"{len(blocks)} blocks > 50"
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None, f"unknown block type {raw.get('type')}"
        parsed.validate_json()
        for item in raw.get("fields", []):
            assert len(item["text"]) <= 2000
    assert len(payload["text"]) <= 40000


def sign(body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class AppRig:
    url: str
    thor: FakeThor
    slack: FakeSlack
    ctx: AppContext
    http: httpx.AsyncClient
    settings: Settings
    clock: RigClock
    sent: list[str] = field(default_factory=list)

    def use_clock(self, clock: Callable[[], datetime]) -> None:
        """From now on serve (and workers built from this rig) read `clock`."""
        self.clock.source = clock

    async def command(self, text: str, *, channel: str = "C0ALERTS", user: str = "U0ALICE",
                      headers: dict[str, str] | None = None, body: str | None = None) -> tuple[httpx.Response, str]:
        key = uuid.uuid4().hex
        form = {"token": "legacy", "team_id": "T0FAKE", "channel_id": channel, "channel_name": "alerts",
                "user_id": user, "user_name": "alice", "command": "/chargebox", "text": text,
                "api_app_id": "A0THORBOT", "trigger_id": "1.2.3",
                "response_url": self.slack.response_url(self.slack.base_url, key)}
        raw = body if body is not None else urlencode(form)
        started = time.monotonic()
        response = await self.http.post(self.url + "/slack/events", content=raw, headers=headers or sign(raw))
        response.extensions["elapsed"] = time.monotonic() - started
        return response, key

    async def action(self, action_id: str, value: str, *, user: str = "U0ALICE", channel: str = "C0ALERTS",
                     message: dict[str, Any] | None = None, block_id: str = "b", ephemeral: bool = False,
                     selected: str | None = None) -> tuple[httpx.Response, str]:
        """A signed click on a button (`value`), or a choice in a menu (`selected`: the option's value)."""
        key = uuid.uuid4().hex
        payload = {
            "type": "block_actions", "team": {"id": "T0FAKE"}, "user": {"id": user, "name": "alice"},
            "api_app_id": "A0THORBOT", "channel": {"id": channel, "name": "alerts"},
            "container": {"type": "message", "channel_id": channel, "message_ts": (message or {}).get("ts", "1.1"),
                          "is_ephemeral": ephemeral},
            "message": message or {"ts": "1.1", "text": "x"}, "trigger_id": "1.2.3",
            "response_url": self.slack.response_url(self.slack.base_url, key),
            "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                         "action_ts": str(time.time())}],
        }
        if selected is not None:
            payload["actions"] = [{"type": "static_select", "action_id": action_id, "block_id": block_id,
                                   "selected_option": {"value": selected, "text": {"type": "plain_text",
                                                                                   "text": selected}},
                                   "action_ts": str(time.time())}]
        raw = urlencode({"payload": json.dumps(payload)})
        return await self.http.post(self.url + "/slack/events", content=raw, headers=sign(raw)), key

    async def submit(self, view: dict[str, Any], *, user: str = "U0ALICE") -> httpx.Response:
        """Press a modal's submit button: a signed view_submission, as Slack sends it."""
        payload = {"type": "view_submission", "team": {"id": "T0FAKE"}, "user": {"id": user, "name": "alice"},
                   "api_app_id": "A0THORBOT", "trigger_id": "1.2.3",
                   "view": {"id": "V1", "state": {"values": {}}, **view}}
        raw = urlencode({"payload": json.dumps(payload)})
        return await self.http.post(self.url + "/slack/events", content=raw, headers=sign(raw))

    async def notify(self, note: object, *, token: str | None = None) -> httpx.Response:
        """POST a Thor notification to thorbot serve's webhook."""
        secret = token if token is not None else WEBHOOK_TOKEN
        return await self.http.post(f"{self.url}/thor/notifications/{secret}", json=note)

    async def run_step(self, callback_id: str, inputs: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
        """A Workflow Builder custom step run, as Slack sends it (a signed `function_executed` event); what thorbot
        completed it with (functions.completeSuccess's outputs, or completeError's error), waited for."""
        payload = self.slack.function_executed(callback_id, inputs)
        execution = payload["event"]["function_execution_id"]
        body = json.dumps(payload)
        response = await self.http.post(self.url + "/slack/events", content=body,
                                        headers={**sign(body), "Content-Type": "application/json"})
        assert response.status_code == 200
        deadline = time.monotonic() + timeout
        while execution not in self.slack.functions_completed:
            assert time.monotonic() < deadline, f"the {callback_id} step was never completed"
            await asyncio.sleep(0.02)
        return self.slack.functions_completed[execution]

    async def open_home(self, user: str, timeout: float = 10.0) -> dict[str, Any]:
        """A signed app_home_opened event for `user`; the Home view thorbot publishes (waits for it)."""
        self.slack.views.pop(user, None)
        body = json.dumps({"type": "event_callback", "team_id": "T0FAKE", "api_app_id": "A0THORBOT",
                           "event": {"type": "app_home_opened", "user": user, "channel": "D0" + user, "tab": "home"},
                           "event_id": "Ev" + uuid.uuid4().hex[:8], "event_time": 1})
        response = await self.http.post(self.url + "/slack/events", content=body,
                                        headers={**sign(body), "Content-Type": "application/json"})
        assert response.status_code == 200
        deadline = time.monotonic() + timeout
        while user not in self.slack.views:
            assert time.monotonic() < deadline, f"no Home view published for {user}"
            await asyncio.sleep(0.02)
        return self.slack.views[user]

    async def reply(self, key: str, count: int = 1, timeout: float = 10.0) -> dict[str, Any]:
        """The `count`-th answer posted to a response_url (waits for it), not counting "working…" notes: a
        slow machine may send one first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answers = [r for r in self.slack.responses[key] if not is_progress(r)]
            if len(answers) >= count:
                return answers[count - 1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no response #{count} on response_url {key}: {self.slack.responses[key]}")


def is_progress(payload: dict[str, Any]) -> bool:
    return str(payload.get("text", "")).startswith(":hourglass_flowing_sand:")


class FakeDns:
    """The rig's resolver for the outbound URL policy: no test looks up a real outside name. `names` maps a name to
    its addresses (a test may add some); `localhost` goes to the system; any other name does not resolve."""

    KNOWN = {"hooks.example.com": ["93.184.215.14"], "metadata.google.internal": ["169.254.169.254"],
             "intranet.example.com": ["10.0.0.5"], "split.example.com": ["93.184.215.14", "192.168.1.10"],
             "v6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"], "mapped.example.com": ["::ffff:127.0.0.1"]}

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.names = {**self.KNOWN, **(names or {})}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.names:
            return list(self.names[host])
        if host == "localhost":
            return await system_resolver(host, port)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


SECRETS_KEY = "q9lOgOWpG0NTYpRmDtbMqdyX5Bjo4zfWhJqTKEnM7Ww="  # a Fernet key for tests only
PAGERDUTY_WEBHOOK_SECRET = "pd-webhook-secret-for-tests-only-0123456789"


def rig_settings(thor: FakeThor, slack: FakeSlack, redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": SLACK_TOKEN, "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.base_url + "/api/",
        "thor_api_key": THOR_KEY, "thor_api_url": thor.base_url,
        "thor_timeout": 2.0, "thor_retries": 1, "redis_url": redis_url, "data_dir": data_dir,
        "name_cache_ttl": 0.0, "thor_webhook_token": WEBHOOK_TOKEN,
        "operators": "U0ALICE",  # a configured deployment: alice may stop charges (nobody may by default)
        "secrets_key": SECRETS_KEY, "pagerduty_webhook_secret": PAGERDUTY_WEBHOOK_SECRET,
        "allow_loopback_urls": True,  # the fake PagerDuty, webhook receivers and heartbeat listen on loopback
    }
    values.update(overrides)
    return Settings(**values)


class RigClock:
    """The rig's clock: real time until a test steers it (`AppRig.use_clock`)."""

    def __init__(self) -> None:
        self.source: Callable[[], datetime] = utc_now

    def __call__(self) -> datetime:
        return self.source()


@contextlib.asynccontextmanager
async def start_app_rig(thor: FakeThor, slack: FakeSlack, redis_url: str, data_dir: Path,
                        **overrides: Any) -> AsyncIterator[AppRig]:
    settings = rig_settings(thor, slack, redis_url, data_dir, **overrides)
    clock = RigClock()
    async with open_context(settings, clock=clock, resolver=FakeDns()) as ctx, httpx.AsyncClient(timeout=15) as http:
        installed = await check_slack_token(ctx, "serve")  # as `thorbot serve` starts (cli/serve.py)
        serve = build_serve(ctx, signing_secret=SIGNING_SECRET)
        if installed is not None:
            serve.app.installed.remember(installed)
        server = await LoopbackServer(serve.web).start()
        try:
            yield AppRig(server.url, thor, slack, ctx, http, settings, clock)
        finally:
            await server.stop()
            await serve.aclose()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Servable(Protocol):
    """A fake outside service: its aiohttp app, and where it is served (set once it is)."""

    base_url: str

    def app(self) -> web.Application: ...


Fake = TypeVar("Fake", bound=Servable)


@contextlib.asynccontextmanager
async def served(fake: Fake) -> AsyncIterator[Fake]:
    """`fake` served on loopback (its `base_url` set) while the block runs."""
    server = await LoopbackServer(fake.app()).start()
    fake.base_url = server.url
    try:
        yield fake
    finally:
        await server.stop()


def fake_pagerduty(*routing_keys: str) -> contextlib.AbstractAsyncContextManager[FakePagerDuty]:
    """A fake PagerDuty Events API on loopback that accepts `routing_keys`."""
    return served(FakePagerDuty(set(routing_keys)))

