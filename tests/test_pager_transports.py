"""Pagers are transports (domain/pagers/): a kind registered from outside thorbot's code — here an ntfy-like one,
defined in this file — is offered and checked by the form, paged by the worker and listed and test-sent by
`thorbot doctor`, with no line of thorbot changed; a kind nobody registered is refused wherever it turns up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import AppRig, served
from tests.test_layering import violations
from tests.test_pagers import HOOK_SECRET, connect, form
from tests.worker_rig import Clock, alerts, box_drops, poll
from thorbot.adapters import keys
from thorbot.cli.doctor import CHECK_TIMEOUT, pager_checks
from thorbot.domain.pager import PagerLink, body_of, summary
from thorbot.domain.pagers import Connection, Page, PagerRequest, PagerTransport, register, transport_of, unregister
from thorbot.domain.url_policy import url_problem
from thorbot.runtime import doctor_parts

RIG_DEFAULTS = {"admins": "U0ALICE"}  # connecting a pager needs a named admin: the rig's user is one
TOKEN = "tk_0123456789abcdef"
PAGERS = Path(__file__).resolve().parents[1] / "thorbot" / "domain" / "pagers"


class NtfyTransport(PagerTransport):
    """A topic URL and its access token: JSON POSTed to the topic with `Authorization: Bearer <token>`."""

    kind = "ntfy"
    name = "ntfy"
    connected_name = "an ntfy topic"
    form_option = "ntfy (a topic URL)"
    secret_hint = "ntfy: the topic's access token (8 characters or more)."
    uses_url = True

    def form_problem(self, secret: str, url: str, *, allow_loopback: bool) -> tuple[str, str] | None:
        problem = url_problem(url.strip(), allow_loopback=allow_loopback)
        if problem:
            return "url", problem
        return ("secret", "the access token must be at least 8 characters") if len(secret.strip()) < 8 else None

    def event(self, page: Page, secret: str) -> dict[str, Any]:
        return {"id": page.event_id, "tags": [page.action], "click": page.key,
                "message": summary(page.incidents) if page.incidents else "", "priority": 5}

    def request(self, event: dict[str, Any], connection: Connection, service_url: str) -> PagerRequest:
        assert connection.url is not None
        return PagerRequest(connection.url, body_of(event), {"Authorization": f"Bearer {connection.secret}"})


class FakeNtfy:
    """An ntfy-like topic on loopback: keeps each message whose token is right, refuses the others."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refused = 0
        self.base_url = ""

    @property
    def url(self) -> str:
        return self.base_url + "/alerts-topic"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/alerts-topic", self.publish)
        return app

    async def publish(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.refused += 1
            return web.json_response({"error": "unauthorized"}, status=401)
        self.messages.append(json.loads(await request.read()))
        return web.json_response({"id": str(len(self.messages))})


@pytest.fixture
def ntfy_kind() -> Iterator[NtfyTransport]:
    """The extra kind, registered for one test and taken away after it (whatever the test did)."""
    transport = NtfyTransport()
    register(transport)
    try:
        yield transport
    finally:
        unregister(transport.kind)
    assert transport_of("ntfy") is None


@pytest.fixture
async def ntfy() -> AsyncIterator[FakeNtfy]:
    async with served(FakeNtfy()) as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def calm_fleet(rig: AppRig) -> None:
    rig.thor.fleet.incident_rate = 0.0


async def test_a_registered_kind_is_offered_and_checked_by_the_form(rig: AppRig, ntfy_kind: NtfyTransport,
                                                                    ntfy: FakeNtfy) -> None:
    _, key = await rig.command("pager")
    await rig.reply(key)  # the form opens before the answer: not yet when the acknowledgement comes back
    [menu] = [b for b in rig.slack.modals[-1]["blocks"] if b.get("block_id") == "kind"]
    assert [o["value"] for o in menu["element"]["options"]] == ["pagerduty", "webhook", "ntfy"]
    assert menu["element"]["initial_option"]["value"] == "pagerduty"  # the first registered stays the default
    assert ntfy_kind.secret_hint in json.dumps(rig.slack.modals[-1])
    response = await rig.submit(form("ntfy", "short", url=ntfy.url))
    assert response.json()["errors"] == {"secret": "The access token must be at least 8 characters."}
    response = await rig.submit(form("ntfy", TOKEN, url="ftp://example.com/topic"))
    assert "https://" in response.json()["errors"]["url"]
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0
    await connect(rig, kind="ntfy", secret=TOKEN, url=ntfy.url)
    link = await rig.ctx.stores.pagers.link("C0ALERTS")
    assert link is not None and link.kind == "ntfy" and link.opened_url(rig.ctx.secrets.open) == ntfy.url
    stored = json.dumps({str(k): str(v) for k, v in (await rig.ctx.redis.hgetall(keys.PAGERS)).items()})
    assert TOKEN not in stored and "alerts-topic" not in stored  # the token and the URL's path sealed
    _, key = await rig.command("pager")
    assert f"page ntfy ({ntfy.base_url})" in json.dumps(await rig.reply(key))


async def test_the_worker_pages_through_a_registered_kind(rig: AppRig, clock: Clock, ntfy_kind: NtfyTransport,
                                                          ntfy: FakeNtfy) -> None:
    await connect(rig, kind="ntfy", secret=TOKEN, url=ntfy.url)
    worker, box = await box_drops(rig, clock)
    await poll(worker, clock, rig, 150)
    [alert] = alerts(rig)
    await worker.tick(poll=False)
    box.connected = True
    for _ in range(3):
        await poll(worker, clock, rig, 60)
    assert [m["tags"] for m in ntfy.messages] == [["trigger"], ["resolve"]] and ntfy.refused == 0
    assert {m["click"] for m in ntfy.messages} == {f"thorbot:C0ALERTS:{alert.ts}"}
    assert box.id in ntfy.messages[0]["message"]


async def test_doctor_lists_a_registered_kind_and_sends_it_a_test(rig: AppRig, ntfy_kind: NtfyTransport,
                                                                  ntfy: FakeNtfy) -> None:
    await connect(rig, kind="ntfy", secret=TOKEN, url=ntfy.url)
    now = datetime.now(tz=UTC)
    [check] = await pager_checks(doctor_parts(rig.settings, timeout=CHECK_TIMEOUT), False, now)
    assert (check.verdict, check.what) == ("ok", f"Pager of C0ALERTS (ntfy, {ntfy.base_url})"), check
    assert ntfy.messages == []
    [check] = await pager_checks(doctor_parts(rig.settings, timeout=CHECK_TIMEOUT), True, now)
    assert check.verdict == "ok" and check.detail == "a test event was triggered and resolved", check
    assert [m["tags"] for m in ntfy.messages] == [["trigger"], ["resolve"]]


async def test_a_kind_nobody_registered_is_refused_never_stored_as_another(rig: AppRig, clock: Clock) -> None:
    response = await rig.submit(form("ntfy", HOOK_SECRET, url="https://example.com/topic"))
    assert response.json()["errors"] == {"kind": "Choose PagerDuty or a webhook."}
    assert await rig.ctx.redis.hlen(keys.PAGERS) == 0
    # A link stored by a thorbot that had the kind: doctor fails it, the status names it, the worker says why.
    link = PagerLink(kind="ntfy", sealed=rig.ctx.secrets.seal(TOKEN), sealed_url=rig.ctx.secrets.seal(
        "https://example.com/topic"), host="https://example.com")
    await rig.ctx.stores.pagers.set_link("C0ALERTS", link)
    [check] = await pager_checks(doctor_parts(rig.settings, timeout=CHECK_TIMEOUT), True, datetime.now(tz=UTC))
    assert (check.verdict, check.detail) == ("fail", "thorbot knows no pager of that kind"), check
    _, key = await rig.command("pager")
    assert "a pager of kind `ntfy`" in json.dumps(await rig.reply(key))
    worker, _ = await box_drops(rig, clock)
    await poll(worker, clock, rig, 150)
    for _ in range(2):
        await worker.tick(poll=False)
    said = json.dumps([m.blocks for m in rig.slack.posts("C0ALERTS")])
    assert "refused thorbot's page: this thorbot knows no pager of kind 'ntfy'. Alerts still post here." in said
    assert await rig.ctx.stores.pagers.failure("C0ALERTS") == "this thorbot knows no pager of kind 'ntfy'"


@pytest.mark.parametrize("path", sorted(PAGERS.glob("*.py")), ids=lambda p: p.name)
def test_every_pager_kind_module_is_pure(path: Path) -> None:
    """domain/pagers/ is domain: tests/test_layering.py's rule, which looks at domain/*.py only, applied here."""
    module = "thorbot.domain.pagers" + ("" if path.stem == "__init__" else f".{path.stem}")
    assert violations(path.read_text(), module) == []
