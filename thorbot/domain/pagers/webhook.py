"""A signed webhook: any other pager. Its URL and signing secret are both sealed; each event is signed. Pure.

The body is thorbot's own JSON with a stable event id (receivers drop repeats by it, also sent as
`X-Thorbot-Event-Id`), signed as `X-Thorbot-Signature: v1=<hex HMAC-SHA256 of the body>` (PagerDuty's v3
scheme, domain/pager.signature). The URL is anyone's choice: it passes the outbound URL policy in the form
and at every send, and what the channel hears of a refusal never depends on what its host answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from thorbot.domain.incidents import Incident
from thorbot.domain.pager import PageAction, body_of, details, runbooks, severity, signature, summary
from thorbot.domain.pagers.base import Connection, Page, PagerRequest, PagerTransport
from thorbot.domain.url_policy import url_problem
from thorbot.errors import PagerRejected

KIND = "webhook"
SIGNATURE_HEADER = "X-Thorbot-Signature"
EVENT_HEADER = "X-Thorbot-Event-Id"
# What the channel hears when a webhook refuses: the same words whatever its host answered, so the pager form
# cannot be used to probe hosts and ports by their answers (the details go to the log, naming the host only).
WEBHOOK_REFUSED = "the webhook did not accept thorbot's event (thorbot's log says why)"


class WebhookTransport(PagerTransport):
    kind = KIND
    name = "a signed webhook"
    connected_name = "a webhook pager"
    form_option = "Any other pager: a signed webhook"
    secret_hint = ("Webhook: the secret your receiver checks the X-Thorbot-Signature with (16 characters or "
                   "more).")
    uses_url = True
    refusal_words = WEBHOOK_REFUSED

    def form_problem(self, secret: str, url: str, *, allow_loopback: bool) -> tuple[str, str] | None:
        return webhook_problem(url, secret, allow_loopback=allow_loopback)

    def event(self, page: Page, secret: str) -> dict[str, Any]:
        return webhook_event(page.action, page.event_id, page.key, page.incidents, page.channel, page.now, page.by,
                             runbook=page.runbook)

    def request(self, event: dict[str, Any], connection: Connection, service_url: str) -> PagerRequest:
        if connection.url is None:  # a link stored without its URL: nothing to send to, now or on a retry
            raise PagerRejected("this webhook pager has no URL", code="no_url")
        body = body_of(event)
        return PagerRequest(connection.url, body, {SIGNATURE_HEADER: signature(body, connection.secret),
                                                   EVENT_HEADER: str(event["id"])})


def webhook_problem(url: str, secret: str, *, allow_loopback: bool = False) -> tuple[str, str] | None:
    """(the form's field, why) a webhook URL or signing secret cannot be used, or None. The URL passes the
    outbound URL policy (domain/url_policy.py; its host is resolved and checked too, by the caller)."""
    problem = url_problem(url.strip(), allow_loopback=allow_loopback)
    if problem:
        return "url", problem
    if len(secret.strip()) < 16:
        return "secret", ("the signing secret must be at least 16 characters (your receiver checks the signature "
                          "with it)")
    return None


def webhook_event(action: PageAction, event_id: str, key: str, incidents: list[Incident], channel: str,
                  now: datetime, by: str | None = None, runbook: str | None = None) -> dict[str, Any]:
    """The signed webhook's JSON: a stable event id (receivers drop repeats by it) and the same fields;
    `runbook_url` (THORBOT_RUNBOOK_URL for the first incident) when one is set."""
    event = {"id": event_id, "type": action, "incident_id": key, "occurred_at": now.isoformat(),
             "summary": summary(incidents) if incidents else "", "severity": severity(incidents) if incidents else
             "warning", "channel": channel, "by": by, "incidents": details(incidents), "source": "thorbot"}
    found = runbooks(runbook, incidents)
    if found:
        event["runbook_url"] = found[0]
    return event
