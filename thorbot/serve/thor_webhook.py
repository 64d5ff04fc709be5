"""Thor's notifications (start, stop, meter values), received by `thorbot serve`.

Thor signs nothing and its source addresses are not documented (thor-api notes §4), so the path
carries a long random token (THORBOT_THOR_WEBHOOK_TOKEN, compared in constant time) and, if set,
the source must be in THORBOT_THOR_WEBHOOK_ALLOW (behind THORBOT_TRUSTED_PROXY_HOPS proxies of your
own, the source is read from X-Forwarded-For); anything else is a plain 404. Notifications for boxes
no channel watches are dropped on arrival, and the worker's inbox is capped. A notification is
answered at once: it is read, de-duplicated on (type, chargebox, connector, transaction), stored
(start notes keep the id_tag a remote stop needs; refused starts and finished charges go to the
worker's inbox) and acknowledged with 200. Whatever cannot be read is logged in one line and
answered 200 too, with nothing stored: Thor must not retry it forever. Polling `/charges/*` stays
the source of truth; notifications make thorbot faster and let it stop API-started charges.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.store import RedisDown, RedisRefused
from thorbot.domain.notifications import read_notification
from thorbot.settings import Settings

log = logging.getLogger(__name__)
MAX_NOTIFICATION = 64 * 1024


class ThorWebhook:
    def __init__(self, settings: Settings, store: SessionStore, clock: Callable[[], datetime]) -> None:
        token = settings.thor_webhook_token
        self._token = token.get_secret_value() if token else ""
        self._sources = settings.webhook_sources()
        self._proxy_hops = settings.trusted_proxy_hops
        self._min_wh = settings.failed_session_wh
        self.store = store
        self.clock = clock
        self.ignored = 0  # notifications for boxes no channel watches, dropped on arrival

    def route(self, app: web.Application) -> None:
        app.router.add_route("*", "/thor/notifications/{token}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if not self._allowed(request):
            return web.Response(status=404, text="Not Found")
        body = await request.read()
        if len(body) > MAX_NOTIFICATION:
            log.warning("Thor notification refused: %d bytes is too big to be one", len(body))
            return web.Response(status=200)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than any notification is
            log.warning("Thor notification ignored: the body is not JSON thorbot can read (%d bytes)", len(body))
            return web.Response(status=200)
        try:
            await self.take(data)
        except RedisDown as exc:
            log.error("Thor notification not stored: Redis unreachable (%s); polling will catch up",
                      type(exc).__name__)
            return web.Response(status=503)
        except RedisRefused as exc:  # a command Redis refused: a bad record, not an outage (Thor must not retry)
            log.error("Thor notification not stored: Redis refused it (%s)", str(exc)[:120])
        return web.Response(status=200)

    def _allowed(self, request: web.Request) -> bool:
        if request.method != "POST" or not self._token:
            return False
        if not hmac.compare_digest(request.match_info.get("token", "").encode(), self._token.encode()):
            return False
        if not self._sources:
            return True
        try:
            source = ipaddress.ip_address(client_address(request.remote, request.headers.getall(
                "X-Forwarded-For", []), self._proxy_hops))
        except ValueError:
            return False
        return any(source in network for network in self._sources)

    async def take(self, data: Any) -> str:
        """Store one notification; the outcome in a word (for logs and tests)."""
        note = read_notification(data, self.clock(), min_wh=self._min_wh)
        if note.kind in ("unreadable", "unknown"):
            log.warning("Thor notification ignored: %s", note.why)
            return note.kind
        if note.kind == "rfid":
            log.warning("Thor asked thorbot to authorize an RFID card; thorbot does not decide that: point Thor's "
                        "RFID API fields elsewhere, or leave them empty")
            return note.kind
        saved = note.start or note.stop
        if saved is None or note.box_id is None or note.fingerprint is None:
            return note.kind  # meters: polling reads energy too; nothing to keep
        # Only boxes some channel watches: a forged or stray notification for any other box creates no key.
        if not await self.store.is_watched(note.box_id):
            self.ignored += 1
            log.debug("Thor notification for a box no channel watches; dropped")
            return "unwatched"
        if not await self.store.first_time(note.fingerprint):
            return "duplicate"
        dropped = await self.store.save_note(saved, note.attempt)
        if dropped:
            log.warning("the notification inbox is full: dropped the %d oldest attempt(s) the worker had not read",
                        dropped)
        return note.kind


def client_address(remote: str | None, forwarded_for: list[str], trusted_hops: int) -> str:
    """The address a request came from. Behind `trusted_hops` proxies of our own, it is the entry that many
    hops from the right of X-Forwarded-For (each proxy appends the address it saw); without trusted proxies
    the header is ignored: anyone can send it."""
    if trusted_hops <= 0:
        return remote or ""
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    return hops[-trusted_hops] if len(hops) >= trusted_hops else (remote or "")
