"""The HTTP side of pages: one POST per event, for every pager kind (PagerDuty's Events API v2, a signed webhook).

Each kind's transport (domain/pagers/) says where the event goes, its body and its headers (a
`PagerRequest`); this client sends it, only through the outbound URL policy, and maps the answer.

PagerDuty (events-API-v2 overview): 202 accepted; 400 a malformed event (a bad routing key included);
429 too many (about 120 events a minute per routing key) and 5xx: retry later. A routing key that was
revoked or never existed is refused too (403/404 from some deployments): thorbot treats any other 4xx
as permanent and says so in the channel, once. A webhook is treated the same way (2xx is delivered).
Errors name the host only: a webhook URL's path or query may hold a token.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from thorbot.adapters.outbound import OutboundPolicy
from thorbot.domain.pager import host_of
from thorbot.domain.pagers import Connection, Page, PagerTransport
from thorbot.domain.pagers.pagerduty import PagerDutyTransport
from thorbot.domain.pagers.webhook import WebhookTransport
from thorbot.errors import PagerRejected, PagerRetry, UrlRefused

TIMEOUT = 10.0


class PagerClient:
    """Sends only through the outbound URL policy (adapters/outbound.py): a URL that fails it, at any send, is a
    PagerRejected naming the host only."""

    def __init__(self, events_url: str, outbound: OutboundPolicy, *, timeout: float = TIMEOUT) -> None:
        self.events_url = events_url
        self._http = outbound.client(timeout)

    async def page(self, transport: PagerTransport, page: Page, connection: Connection) -> None:
        """One event of a page, built and framed by the link's transport."""
        await self.send(transport, transport.event(page, connection.secret), connection)

    async def send(self, transport: PagerTransport, event: dict[str, Any], connection: Connection) -> None:
        request = transport.request(event, connection, self.events_url)
        await self._send(request.url, request.body, request.headers)

    # An event built already, to PagerDuty or a webhook (tests and tools): the same transports, the same checks.
    async def pagerduty(self, event: dict[str, Any]) -> None:
        await self.send(PagerDutyTransport(), event, Connection(secret="", url=None))  # the key is in the event

    async def webhook(self, url: str, event: dict[str, Any], secret: str) -> None:
        await self.send(WebhookTransport(), event, Connection(secret=secret, url=url))

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        host = host_of(url)
        try:
            response = await self._http.post(url, content=body, headers={"Content-Type": "application/json",
                                                                         "User-Agent": "thorbot", **headers})
        except UrlRefused as exc:
            raise PagerRejected(f"{host}: {exc}", code="url_refused") from None
        except httpx.TimeoutException:
            raise PagerRetry(f"{host} did not answer in {TIMEOUT:g} s", code="timeout") from None
        except httpx.HTTPError as exc:
            raise PagerRetry(f"cannot reach {host} ({type(exc).__name__})", code="network") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429:
            raise PagerRetry(f"{host} asks to slow down (429)", code="rate_limited", status=status,
                             retry_after=_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise PagerRetry(f"{host} failed ({status})", code="server_error", status=status,
                             retry_after=_retry_after(response.headers.get("Retry-After")))
        if status == 400:
            raise PagerRejected(f"{host} refused the event as malformed (400): check the routing key",
                                code="bad_request", status=status)
        raise PagerRejected(f"{host} refused the key ({status}): it may have been revoked", code="refused",
                            status=status)

    async def aclose(self) -> None:
        await self._http.aclose()


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, or None when absent or unreadable (the outbox's backoff decides, and clamps)."""
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
