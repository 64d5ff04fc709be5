"""PagerDuty, through its Events API v2: the routing key is the secret, and the event carries it. Pure.

The events go to THORBOT_PAGERDUTY_EVENTS_URL (one endpoint for every service: the key says which). The
`dedup_key` is the page's key, so a retried trigger lands on the alert it opened; acknowledge and resolve
carry only the key (PagerDuty's documented form). PagerDuty's own v3 webhook, telling thorbot an incident
was acknowledged or resolved there, is read in domain/pager.py and answered in serve/pager.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from thorbot.domain.incidents import Incident
from thorbot.domain.pager import PageAction, body_of, details, runbooks, severity, summary
from thorbot.domain.pagers.base import Connection, Page, PagerRequest, PagerTransport

KIND = "pagerduty"  # its stored links' kind (and what PagerDuty's webhook checks a channel's pager is)
_ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{32}$")


class PagerDutyTransport(PagerTransport):
    kind = KIND
    name = "PagerDuty"
    connected_name = "a PagerDuty service"
    form_option = "PagerDuty (Events API v2)"
    secret_hint = "PagerDuty: the service's Events API v2 integration key (32 characters)."

    def form_problem(self, secret: str, url: str, *, allow_loopback: bool) -> tuple[str, str] | None:
        problem = routing_key_problem(secret)
        return ("secret", problem) if problem else None

    def event(self, page: Page, secret: str) -> dict[str, Any]:
        return pagerduty_event(page.action, secret, page.key, page.incidents, page.channel, page.now, page.by,
                               runbook=page.runbook)

    def request(self, event: dict[str, Any], connection: Connection, service_url: str) -> PagerRequest:
        return PagerRequest(service_url, body_of(event))


def routing_key_problem(key: str) -> str | None:
    """Why a pasted Events API v2 routing key cannot be one (it is 32 letters and digits), or None."""
    if not _ROUTING_KEY.match(key.strip()):
        return ("that is not an Events API v2 integration key: it is 32 letters and digits, from the service's "
                "Integrations tab in PagerDuty")
    return None


def pagerduty_event(action: PageAction, routing_key: str, key: str, incidents: list[Incident], channel: str,
                    now: datetime, by: str | None = None, runbook: str | None = None) -> dict[str, Any]:
    """An Events API v2 event. Acknowledge and resolve carry only the key (PagerDuty's documented form).
    `runbook`: THORBOT_RUNBOOK_URL, a "Runbook" entry in the event's `links`."""
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": key}
    if action != "trigger":
        return event
    event.update({
        "payload": {"summary": summary(incidents), "source": incidents[0].box_id if len(incidents) == 1 else
                    "thorbot fleet", "severity": severity(incidents), "timestamp": now.isoformat(),
                    "component": "chargebox", "group": channel, "class": incidents[0].kind,
                    "custom_details": {"incidents": details(incidents), "slack_channel": channel}},
        "client": "thorbot", "links": [{"href": f"https://slack.com/app_redirect?channel={channel}",
                                        "text": "The alert in Slack"},
                                       *({"href": url, "text": "Runbook"} for url in runbooks(runbook, incidents))],
    })
    return event
