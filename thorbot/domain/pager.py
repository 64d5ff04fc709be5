"""Pages: what every pager kind shares (the stored link, the page's key, its summary and details). Pure.

Each kind's own parts (its form check, its event's JSON, its request, its name) are its transport in
domain/pagers/ (one module per kind, registered in domain/pagers/__init__.py); nothing here switches on a
kind. PagerDuty's v3 webhook (an incident acknowledged or resolved there) is read here too.

One page per alert *message*: a storm Slack gets as one grouped message is one page, not a thousand.
Its key (PagerDuty's `dedup_key`, the webhook's `incident_id`) is `thorbot:<channel>:<message ts>`, so a
retried trigger lands on the same PagerDuty alert, and PagerDuty's own webhook names the Slack message
back. Trigger when the alert is posted (after the channel's delay, if still unacknowledged then);
acknowledge when someone acknowledges it in Slack; resolve when every incident in it has resolved.
A trigger skipped (acknowledged or resolved within the delay) skips its resolve too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from thorbot.domain.alerts import impact, runbook_url, what_plain
from thorbot.domain.blocks import message, section
from thorbot.domain.incidents import Incident
from thorbot.domain.text import escape, truncate
from thorbot.domain.url_policy import shown_url

PageAction = Literal["trigger", "acknowledge", "resolve"]
MAX_DELAY = 3600
KEY_PREFIX = "thorbot:"
MAX_SUMMARY = 1024  # PagerDuty's limit on payload.summary
MAX_DETAILS = 50    # incidents listed in one page's details
MAX_RUNBOOKS = 5    # runbook links in one PagerDuty event
SEVERITY = {"offline": "critical", "silent": "critical", "gone": "critical", "failed_starts": "error",
            "quiet": "error", "inactive": "warning"}
SEVERITY_ORDER = ("critical", "error", "warning", "info")


class PagerLink(BaseModel):
    """A channel's pager. `sealed` is the routing key or the webhook's signing secret, encrypted (never shown).
    The JSON stored in Redis (adapters/pager_store.py): its fields are the same for every kind."""

    model_config = ConfigDict(frozen=True)

    kind: str                # a registered transport's name (domain/pagers/): "pagerduty", "webhook"
    sealed: str
    url: str | None = None   # a webhook's URL in clear: only in records older than sealed_url (still read)
    sealed_url: str | None = None  # the webhook's URL, encrypted like the secret (its path may hold a token)
    host: str | None = None  # the webhook URL's scheme and host, what is shown (PagerDuty's: the settings')
    delay: int = 0           # seconds after the alert before paging, if still unacknowledged then
    by: str | None = None
    at: datetime | None = None

    def __repr__(self) -> str:  # the sealed secret stays out of logs and tracebacks
        return f"PagerLink(kind={self.kind!r}, url={self.shown!r}, delay={self.delay})"

    __str__ = __repr__

    @property
    def shown(self) -> str | None:
        """The webhook's scheme and host, for the channel and the log; None for PagerDuty."""
        return self.host or _host(self.url)

    def opened_url(self, open_sealed: Callable[[str], str]) -> str | None:
        """The URL it sends to (a webhook's), opened with the secrets box (or as an older record stored it); None
        for a kind that stores none."""
        return open_sealed(self.sealed_url) if self.sealed_url else self.url


def page_key(channel: str, ts: str) -> str:
    return f"{KEY_PREFIX}{channel}:{ts}"


def connection_id(kind: str, secret: str) -> str:
    """Which pager connection took a page: the kind and a one-way digest of its routing key (or webhook secret),
    so PagerDuty's webhook can be checked against the pager the channel has now. The digest is salted by purpose
    and cut short: it names the connection and cannot be turned back into the key."""
    digest = hashlib.sha256(b"thorbot pager connection\0" + secret.encode()).hexdigest()[:20]
    return f"{kind}:{digest}"


def parse_page_key(key: str) -> tuple[str, str] | None:
    """(channel, ts) from a page's key, or None when it is not one of thorbot's."""
    if not key.startswith(KEY_PREFIX):
        return None
    channel, _, ts = key[len(KEY_PREFIX):].partition(":")
    if not re.fullmatch(r"[CGD][A-Z0-9]{2,30}", channel) or not re.fullmatch(r"\d{1,12}\.\d{1,9}", ts):
        return None
    return channel, ts


def summary(incidents: list[Incident]) -> str:
    if len(incidents) == 1:
        incident = incidents[0]
        return f"{incident.name} ({incident.box_id}): {what_plain(incident)}"[:MAX_SUMMARY]
    kinds: dict[str, int] = {}
    for incident in incidents:
        kinds[what_plain(incident)] = kinds.get(what_plain(incident), 0) + 1
    parts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return f"{len(incidents)} chargeboxes: {parts}"[:MAX_SUMMARY]


def severity(incidents: list[Incident]) -> str:
    found = {SEVERITY.get(i.kind, "warning") for i in incidents}
    return next((s for s in SEVERITY_ORDER if s in found), "warning")


def details(incidents: list[Incident]) -> list[dict[str, Any]]:
    """What the pager shows of each incident (ids and words only: no Thor data beyond them)."""
    return [{"box_id": i.box_id, "name": i.name, "what": what_plain(i), "connector": i.connector,
             "impact": impact(i).replace(":busts_in_silhouette: ", ""), "since": i.started.isoformat(),
             "resolved": i.resolved.isoformat() if i.resolved else None, "card": f"/chargebox {i.box_id}"}
            for i in incidents[:MAX_DETAILS]]


def runbooks(template: str | None, incidents: list[Incident]) -> list[str]:
    """THORBOT_RUNBOOK_URL for each incident of a page, each URL once (a few at most)."""
    found: list[str] = []
    for incident in incidents:
        url = runbook_url(template, incident)
        if url and url not in found:
            found.append(url)
    return found[:MAX_RUNBOOKS]


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def signature(body: bytes, secret: str) -> str:
    """`v1=<hex HMAC-SHA256 of the body>`: the webhook's `X-Thorbot-Signature` (PagerDuty's v3 scheme)."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str, secret: str) -> bool:
    """Any of the comma-separated `v1=` signatures matches (a secret being rotated sends two)."""
    expected = signature(body, secret)
    return any(hmac.compare_digest(expected, s.strip()) for s in header.split(",") if s.strip())


class PagerDutyNews(BaseModel):
    """What PagerDuty's v3 webhook says about one of thorbot's pages."""

    action: Literal["acknowledged", "resolved"]
    channel: str
    ts: str
    by: str


def read_pagerduty_webhook(payload: Any) -> PagerDutyNews | None:
    """An `incident.acknowledged` / `incident.resolved` event about a thorbot page, or None (anything else)."""
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict) or event.get("event_type") not in ("incident.acknowledged", "incident.resolved"):
        return None
    data = event.get("data")
    key = data.get("incident_key") if isinstance(data, dict) else None
    where = parse_page_key(key) if isinstance(key, str) else None
    if where is None:
        return None
    agent = event.get("agent")
    name = agent.get("summary") if isinstance(agent, dict) else None
    by = name.strip()[:80] if isinstance(name, str) and name.strip() else "someone"
    action: Literal["acknowledged", "resolved"] = ("acknowledged" if event["event_type"] == "incident.acknowledged"
                                                   else "resolved")
    return PagerDutyNews(action=action, channel=where[0], ts=where[1], by=by)


def _host(url: str | None) -> str | None:
    """A URL's scheme and host only: its credentials, path or query may hold a token."""
    return shown_url(url)


def host_of(url: str | None) -> str:
    return _host(url) or "?"


def render_pager_notice(reason: str) -> dict[str, Any]:
    """Once, in the channel: its pager refused a page for good."""
    text = (f":pager: The pager connected to this channel refused thorbot's page: {escape(truncate(reason, 300))}. "
            "Alerts still post here. An admin can reconnect it with `/chargebox pager`.")
    return message("The pager refused thorbot's page", [section(text)])

