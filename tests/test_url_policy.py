"""The outbound URL policy end to end: the pager form through the real Bolt app, pages and heartbeats through a
real worker, settings through the real CLI. Names resolve through the rig's fake DNS (tests/helpers.FakeDns): no
test looks up a real outside name."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

from tests.helpers import AppRig, FakeDns, served
from tests.test_doctor import doctor
from tests.test_pagers import HOOK_SECRET, ROUTING_KEY, form
from tests.worker_rig import Clock, box_drops, make_worker, poll, subscribe
from thorbot.adapters import keys
from thorbot.adapters.outbound import OutboundPolicy
from thorbot.adapters.pager import PagerClient
from thorbot.domain.pager import PagerLink
from thorbot.errors import PagerRejected
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.pagerduty import FakeWebhookReceiver
from thorbot.worker.loop import Worker

THORBOT = Path(__file__).resolve().parent.parent / "thorbot"
# alice is an admin (connecting a pager needs one); STRICT: production's default, no loopback URLs either
ADMIN = pytest.mark.parametrize("rig", [{"admins": "U0ALICE"}], indirect=True)
STRICT = pytest.mark.parametrize("rig", [{"admins": "U0ALICE", "allow_loopback_urls": False}], indirect=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with served(FakeWebhookReceiver(HOOK_SECRET)) as fake:
        yield fake


def dns(rig: AppRig) -> FakeDns:
    return cast(FakeDns, rig.ctx.outbound.resolver)


async def page_once(rig: AppRig, clock: Clock) -> Worker:
    """A box drops; its alert is posted and its page sent (or refused)."""
    rig.thor.fleet.incident_rate = 0.0
    worker, _ = await box_drops(rig, clock)
    await poll(worker, clock, rig, 150)
    await worker.tick(poll=False)
    await worker.tick(poll=False)
    return worker


# --- finding 3: the webhook pager reaching internal addresses ---------------------------------------------
@STRICT
@pytest.mark.parametrize("url", [
    "https://169.254.169.254/latest/meta-data/", "https://10.0.0.5/hook", "https://127.0.0.1:6379/",
    "http://127.0.0.1:6379/", "http://localhost:8080/hook", "https://[::1]/hook", "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:a9fe:a9fe]/", "https://[fd00::5]/", "https://127.1/", "https://2130706433/",
    "https://0x7f.0.0.1/", "https://metadata.google.internal/computeMetadata/v1/",  # a name: resolved, then refused
    "https://intranet.example.com/hook", "https://split.example.com/hook",  # one of its two addresses is private
    "https://mapped.example.com/hook", "https://no-such-host.example.com/hook",
])
async def test_the_pager_form_refuses_a_webhook_to_an_internal_address(rig: AppRig, url: str) -> None:
    response = await rig.submit(form("webhook", HOOK_SECRET, url=url))
    errors = response.json()["errors"]
    assert response.json()["response_action"] == "errors" and set(errors) == {"url"}, errors
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0
    if "metadata" in url:  # a name's address is not said: it would map the inside of the network
        assert "Metadata.google.internal resolves to a link-local address" in errors["url"], errors
        assert "169.254" not in errors["url"]


@STRICT
async def test_a_public_webhook_is_accepted_and_its_name_was_resolved_not_guessed(rig: AppRig) -> None:
    response = await rig.submit(form("webhook", HOOK_SECRET, url="https://hooks.example.com/hook"))
    assert response.status_code == 200 and not response.content, response.text
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 1
    assert "hooks.example.com" in dns(rig).asked


@ADMIN
async def test_a_webhook_refusing_a_page_is_reported_to_the_channel_without_its_answer(
        rig: AppRig, clock: Clock, receiver: FakeWebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    rig.use_clock(clock)
    await rig.submit(form("webhook", HOOK_SECRET, url=receiver.url))
    receiver.faults.statuses = [418] * 10  # whatever the host answers, the channel hears the same words
    with caplog.at_level(logging.INFO):
        await page_once(rig, clock)
    [notice] = [m for m in rig.slack.posts("C0ALERTS") if "refused thorbot's page" in m.text]
    shown = json.dumps(notice.blocks)
    _, key = await rig.command("pager")
    status = json.dumps(await rig.reply(key))
    for said in (shown, status):
        assert "the webhook did not accept thorbot's event" in said
        # the status as a word of its own: the receiver's random port or a timestamp may hold the digits 418
        assert not re.search(r"(?<!\d)418(?!\d)", said) and "refused the key" not in said
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("thorbot"))
    assert "418" in ours  # the details are in thorbot's log (httpx's own lines are off: redact.configure_logging)
    assert "/hook" not in ours  # naming the host only


@STRICT
async def test_a_name_that_resolves_inward_after_it_was_accepted_is_refused_at_send(
        rig: AppRig, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    rig.use_clock(clock)
    dns(rig).names["rebind.example.com"] = ["93.184.215.14"]
    response = await rig.submit(form("webhook", HOOK_SECRET, url="https://rebind.example.com/hook"))
    assert response.status_code == 200 and not response.content, response.text
    dns(rig).names["rebind.example.com"] = ["169.254.169.254"]  # DNS rebinding: checked again at every send
    with caplog.at_level(logging.INFO):
        await page_once(rig, clock)
    assert "rebind.example.com resolves to a link-local address" in caplog.text
    _, key = await rig.command("pager")
    assert "the webhook did not accept thorbot's event" in json.dumps(await rig.reply(key))


async def test_the_pager_client_connects_to_the_address_it_checked(receiver: FakeWebhookReceiver) -> None:
    # `pinned.localhost` means nothing to the system's resolver here: the page lands only because the client
    # connects to the address the policy resolved and checked, and the receiver still sees the name.
    seen: list[str] = []

    async def fake_dns(host: str, port: int) -> list[str]:
        seen.append(host)
        return {"pinned.localhost": ["127.0.0.1"]}[host]

    port = int(receiver.base_url.rsplit(":", 1)[1])
    client = PagerClient("https://events.pagerduty.com/v2/enqueue", OutboundPolicy(allow_loopback=True,
                                                                                   resolver=fake_dns))
    try:
        await client.webhook(f"http://pinned.localhost:{port}/hook", {"id": "e1", "type": "trigger"}, HOOK_SECRET)
    finally:
        await client.aclose()
    assert seen == ["pinned.localhost"] and [e["id"] for e in receiver.events] == ["e1"]


@pytest.mark.parametrize("url", ["https://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/",
                                 "https://ops:hunter2@hooks.example.com/hook", "https://intranet.example.com/hook"])
async def test_the_pager_client_refuses_a_url_that_did_not_pass_the_policy(url: str) -> None:
    # Whoever calls the client, and whatever was stored: the policy is in its transport, checked at each send.
    client = PagerClient("https://events.pagerduty.com/v2/enqueue", OutboundPolicy(resolver=FakeDns()))
    try:
        with pytest.raises(PagerRejected) as refused:
            await client.webhook(url, {"id": "e1"}, HOOK_SECRET)
    finally:
        await client.aclose()
    assert refused.value.code == "url_refused" and "hunter2" not in str(refused.value)
    assert ".com/hook" not in str(refused.value) and "meta-data" not in str(refused.value)


def test_every_http_client_in_thorbot_is_one_the_policy_built_or_a_known_fixed_service() -> None:
    # A new sender that builds its own client would bypass the URL policy: it must use OutboundPolicy.client().
    known = {"adapters/outbound.py", "adapters/thor.py", "adapters/slack.py", "adapters/aiohttp_transport.py",
             "demo/console.py"}  # Thor's and Slack's API URLs (checked in settings); the demo's own loopback
    builds = re.compile(r"httpx\.(Async)?Client\(|aiohttp\.ClientSession\(|httpx\.(get|post|request|stream)\(|"
                        r"urllib\.request|http\.client")
    found = {str(p.relative_to(THORBOT)) for p in THORBOT.rglob("*.py")
             if not p.relative_to(THORBOT).parts[0] == "sim" and builds.search(p.read_text(encoding="utf-8"))}
    assert found <= known, f"build HTTP clients for given URLs with OutboundPolicy.client(): {found - known}"


# --- finding 7: credentials in a webhook URL ----------------------------------------------------------------
@STRICT
async def test_credentials_in_a_webhook_url_are_refused_and_a_url_is_stored_sealed_and_shown_as_its_host(
        rig: AppRig) -> None:
    response = await rig.submit(form("webhook", HOOK_SECRET, url="https://ops:hunter2@hooks.example.com/hook"))
    assert "user name or password" in response.json()["errors"]["url"] and "hunter2" not in response.text
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0
    url = "https://hooks.example.com/services/T0/B0/tok-9f8e7d?key=qs-secret"
    response = await rig.submit(form("webhook", HOOK_SECRET, url=url))
    assert response.status_code == 200 and not response.content, response.text
    stored = json.dumps({str(k): str(v) for k, v in (await rig.ctx.redis.hgetall(keys.PAGERS)).items()})
    assert "tok-9f8e7d" not in stored and "qs-secret" not in stored and "/services" not in stored
    _, key = await rig.command("pager")
    shown = json.dumps(await rig.reply(key))
    assert "https://hooks.example.com" in shown and "/services" not in shown and "qs-secret" not in shown


@ADMIN
async def test_an_older_clear_text_webhook_record_still_pages_and_one_with_credentials_is_refused_unshown(
        rig: AppRig, clock: Clock, receiver: FakeWebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    rig.use_clock(clock)
    sealed = rig.ctx.secrets.seal(HOOK_SECRET)
    await rig.ctx.stores.pagers.set_link("C0ALERTS", PagerLink(kind="webhook", sealed=sealed, url=receiver.url))
    worker = await page_once(rig, clock)
    assert [e["type"] for e in receiver.events] == ["trigger"]  # records stored before sealed URLs still page
    with_password = receiver.url.replace("http://", "http://ops:hunter2@")
    await rig.ctx.stores.pagers.set_link("C0ALERTS", PagerLink(kind="webhook", sealed=sealed, url=with_password))
    await rig.ctx.stores.pagers.clear_failure("C0ALERTS")
    box = next(iter(rig.thor.fleet.boxes.values()))
    box.connected = True
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            await poll(worker, clock, rig, 60)
        _, key = await rig.command("pager")
        shown = json.dumps(await rig.reply(key))
    assert [e["type"] for e in receiver.events] == ["trigger"]  # the resolve was refused, not sent
    assert "hunter2" not in shown and "ops:" not in shown and "hunter2" not in caplog.text
    assert "user name or password" in caplog.text


# --- the heartbeat ------------------------------------------------------------------------------------------
@pytest.fixture
async def redirecting() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def ping(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path.startswith("/ping/"):
            raise web.HTTPFound("/inside")
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/{tail:.*}", ping)
    server = await LoopbackServer(app).start()
    try:
        yield server.url + "/ping/5f1c2b7e-secret", hits
    finally:
        await server.stop()


async def test_the_heartbeat_follows_no_redirect(rig: AppRig, clock: Clock,
                                                 redirecting: tuple[str, list[str]]) -> None:
    url, hits = redirecting
    rig.use_clock(clock)
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, heartbeat_url=url)
    await poll(worker, clock, rig, 60)
    assert hits == ["/ping/5f1c2b7e-secret"]


@STRICT
async def test_a_heartbeat_url_that_resolves_inward_is_not_pinged_and_its_path_is_not_logged(
        rig: AppRig, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    rig.use_clock(clock)
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, heartbeat_url="https://metadata.google.internal/ping/5f1c2b7e-secret")
    with caplog.at_level(logging.INFO):
        await poll(worker, clock, rig, 60)
    assert "THORBOT_HEARTBEAT_URL is not pinged: metadata.google.internal resolves to a link-local" in caplog.text
    assert "5f1c2b7e-secret" not in caplog.text


# --- finding 13 (URL part): settings refuse such URLs at start, in one line ---------------------------------
@pytest.mark.parametrize(("env", "said"), [
    ({"THORBOT_PAGERDUTY_EVENTS_URL": "not a url"}, "THORBOT_PAGERDUTY_EVENTS_URL: the URL has a space"),
    ({"THORBOT_PAGERDUTY_EVENTS_URL": "http://events.example.com/v2/enqueue"},
     "THORBOT_PAGERDUTY_EVENTS_URL: the URL must start with https://"),
    ({"THORBOT_PAGERDUTY_EVENTS_URL": "https://10.0.0.5/v2/enqueue"}, "10.0.0.5 is a private network address"),
    ({"THORBOT_HEARTBEAT_URL": "https://169.254.169.254/ping/5f1c2b7e-secret"},
     "THORBOT_HEARTBEAT_URL: 169.254.169.254 is a link-local address"),
    ({"THORBOT_HEARTBEAT_URL": "http://127.0.0.1:9/ping/5f1c2b7e-secret", "THORBOT_ALLOW_LOOPBACK_URLS": "false"},
     "THORBOT_HEARTBEAT_URL: 127.0.0.1 is a loopback address"),
    ({"THORBOT_HEARTBEAT_URL": "http://10.0.0.5/ping/5f1c2b7e-secret", "THORBOT_ALLOW_LOOPBACK_URLS": "true"},
     "10.0.0.5 is a private network address"),  # the opt-in is for this machine only
])
async def test_a_settings_url_thorbot_would_not_send_to_stops_it_at_start_in_one_line(
        env: dict[str, str], said: str) -> None:
    code, out = await doctor(**env)
    assert code == 2 and said in out, out
    assert "Traceback" not in out and "5f1c2b7e-secret" not in out


def test_the_opt_in_lets_the_fakes_on_this_machine_through(rig: AppRig) -> None:
    base: dict[str, Any] = {"pagerduty_events_url": "http://127.0.0.1:9/v2/enqueue",
                            "heartbeat_url": "http://localhost:9/ping"}
    assert rig.settings.with_changes(allow_loopback_urls=True, **base).allow_loopback_urls
    with pytest.raises(ValueError, match="loopback"):
        rig.settings.with_changes(allow_loopback_urls=False, **base)


async def test_a_pagerduty_events_url_is_checked_at_send_too() -> None:
    client = PagerClient("https://metadata.google.internal/v2/enqueue", OutboundPolicy(resolver=FakeDns()))
    try:
        with pytest.raises(PagerRejected, match="metadata.google.internal resolves to a link-local address"):
            await client.pagerduty({"routing_key": ROUTING_KEY, "event_action": "trigger"})
    finally:
        await client.aclose()
