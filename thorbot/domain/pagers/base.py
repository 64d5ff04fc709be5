"""What a pager kind is: the `PagerTransport` every kind subclasses, and the values passed through one. Pure.

A transport owns everything that differs between kinds: the pager form's check of the secret and URL,
the event's JSON for trigger / acknowledge / resolve, the HTTP request that carries it (where, which body,
which headers: the signing included), the events `thorbot doctor` sends as a test, and the words Slack
shows for a link. What is the same for every kind stays outside it: the stored `PagerLink` and its sealing
(adapters/secrets_box.py), the outbox's retries and backoff (worker/pages.py, domain/backoff.py), and the
HTTP call itself with the outbound URL policy at every send (adapters/pager.py posts a `PagerRequest`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from thorbot.domain.incidents import Incident
from thorbot.domain.pager import PageAction, PagerLink
from thorbot.domain.text import escape
from thorbot.domain.url_policy import shown_url


@dataclass(frozen=True)
class Page:
    """One event of one alert message's page, whatever the kind: what an event is built from."""

    action: PageAction
    event_id: str                # stable per event (the outbox job's id): receivers drop repeats by it
    key: str                     # domain/pager.page_key: PagerDuty's dedup_key, the webhook's incident_id
    incidents: list[Incident]
    channel: str
    now: datetime
    by: str | None = None        # who acknowledged it in Slack
    runbook: str | None = None   # THORBOT_RUNBOOK_URL's template


@dataclass(frozen=True)
class Connection:
    """A link's sealed values opened, for one send: never logged (the repr names the host only)."""

    secret: str       # the routing key, or the signing secret
    url: str | None   # where the link sends, when the kind stores a URL (a webhook); None otherwise

    def __repr__(self) -> str:
        return f"Connection(url={shown_url(self.url)!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class PagerRequest:
    """The HTTP POST that carries one event: adapters/pager.py sends it through the outbound URL policy. Its URL
    may hold a token and its body or headers a key: the repr names the host only."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"PagerRequest(url={shown_url(self.url)!r}, {len(self.body)} bytes)"

    __str__ = __repr__


class PagerTransport(ABC):
    """One pager kind. Subclass it in a module of its own and register one instance in domain/pagers/__init__.py
    (docs/architecture.md, "A new pager kind"); nothing else in thorbot names a kind."""

    kind: str             # the stored link's `kind` and the form's option value: never change it once stored
    name: str             # how Slack and `thorbot doctor` name it: "PagerDuty", "a signed webhook"
    connected_name: str   # the audit line's words: "connected a PagerDuty service to this channel"
    form_option: str      # its choice in the form's Pager menu
    secret_hint: str      # its sentence in the hint under the form's secret field
    uses_url = False      # the form's URL field is where it sends: checked, resolved, sealed, shown as its host
    refusal_words: str | None = None  # said in the channel instead of the error when it refuses for good

    @abstractmethod
    def form_problem(self, secret: str, url: str, *, allow_loopback: bool) -> tuple[str, str] | None:
        """(the form's field, why) the secret or URL cannot be used, or None. Pure: a URL it uses is then also
        resolved and checked against the outbound URL policy by the form (and again at every send)."""

    @abstractmethod
    def event(self, page: Page, secret: str) -> dict[str, Any]:
        """The event's JSON for `page`. `secret`: the link's opened secret (PagerDuty's body carries it)."""

    @abstractmethod
    def request(self, event: dict[str, Any], connection: Connection, service_url: str) -> PagerRequest:
        """The POST that carries `event`. `service_url`: THORBOT_PAGERDUTY_EVENTS_URL, for a kind whose service has
        one fixed endpoint; a kind that stores its own URL uses `connection.url`."""

    def test_pages(self, key: str, incidents: list[Incident], channel: str, now: datetime) -> list[Page]:
        """What `thorbot doctor --send-test` sends: a trigger resolved at once (a short, resolved incident)."""
        actions: tuple[PageAction, ...] = ("trigger", "resolve")
        return [Page(action, f"{key}:{action}", key, incidents, channel, now) for action in actions]

    def shown_in_slack(self, link: PagerLink) -> str:
        """The link in Slack's words (mrkdwn, escaped): its name, and the host it sends to when it has a URL."""
        return self.name + (f" ({escape(link.shown or '?')})" if self.uses_url else "")

    def refused_reason(self, error: str) -> str:
        """What the channel is told when this pager refuses a page for good (`error`: the adapter's words)."""
        return self.refusal_words or error
