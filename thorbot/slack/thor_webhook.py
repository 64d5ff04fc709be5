"""Thor's notifications (start, stop, meter values), received by `thorbot serve`.

Thor signs nothing and its source addresses are not documented (thor-api notes §4), so the path
carries a long random token (THORBOT_THOR_WEBHOOK_TOKEN, compared in constant time) and, if set,
the source must be in THORBOT_THOR_WEBHOOK_ALLOW; anything else is a plain 404. A notification is
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
from thorbot.adapters.store import RedisDown
from thorbot.domain.failed_starts import Attempt
from thorbot.domain.sessions import StartNote, StopNote, is_failed
from thorbot.settings import Settings

log = logging.getLogger(__name__)
MAX_NOTIFICATION = 64 * 1024
MODES = ("local", "remote", "api")


def _int(value: Any, *, low: int = 0) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= low else None


def _text(value: Any, limit: int = 200) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


class ThorWebhook:
    def __init__(self, settings: Settings, store: SessionStore, clock: Callable[[], datetime]) -> None:
        token = settings.thor_webhook_token
        self._token = token.get_secret_value() if token else ""
        self._sources = settings.webhook_sources()
        self._min_wh = settings.failed_session_wh
        self.store = store
        self.clock = clock

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
        except ValueError:
            log.warning("Thor notification ignored: the body is not JSON (%d bytes)", len(body))
            return web.Response(status=200)
        try:
            await self.take(data)
        except RedisDown as exc:
            log.error("Thor notification not stored: Redis unreachable (%s); polling will catch up",
                      type(exc).__name__)
            return web.Response(status=503)
        return web.Response(status=200)

    def _allowed(self, request: web.Request) -> bool:
        if request.method != "POST" or not self._token:
            return False
        if not hmac.compare_digest(request.match_info.get("token", "").encode(), self._token.encode()):
            return False
        if not self._sources:
            return True
        try:
            source = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(source in network for network in self._sources)

    async def take(self, data: Any) -> str:
        """Store one notification; the outcome in a word (for logs and tests)."""
        if not isinstance(data, dict):
            log.warning("Thor notification ignored: not a JSON object")
            return "unreadable"
        kind = data.get("type")
        if kind == "start":
            return await self._start(data)
        if kind == "stop_transaction":
            return await self._stop(data)
        if kind == "meters":
            return "meters"  # energy so far: polling reads it too; nothing to keep
        if data.get("msg") == "rfid":
            log.warning("Thor asked thorbot to authorize an RFID card; thorbot does not decide that: point Thor's "
                        "RFID API fields elsewhere, or leave them empty")
            return "rfid"
        log.warning("Thor notification ignored: unknown type %r", str(kind)[:40])
        return "unknown"

    async def _start(self, data: dict[str, Any]) -> str:
        box, connector = _text(data.get("chargebox")), _int(data.get("connector"), low=1)
        transaction, id_tag, accepted = _int(data.get("transaction_id")), _text(data.get("id")), data.get("accepted")
        # The docs' examples repeat `type` where `mode` is meant; read `mode` (thor-api notes §4).
        mode = data.get("mode") if data.get("mode") in MODES else None
        if box is None or connector is None or transaction is None or id_tag is None or not isinstance(accepted, bool):
            log.warning("Thor start notification ignored: chargebox, connector, transaction_id, id or accepted is "
                        "missing or of the wrong type")
            return "unreadable"
        now = self.clock()
        # A refused start has transaction 0: tell repeats of one refusal from a driver's next try by the minute.
        fingerprint = ("start", box, connector, transaction) if transaction else \
            ("start", box, connector, 0, id_tag, int(now.timestamp() // 60))
        if not await self.store.first_time(fingerprint):
            return "duplicate"
        note = StartNote(box_id=box, connector=connector, transaction=transaction, id_tag=id_tag, mode=mode,
                         accepted=accepted, at=now)
        attempt = None if accepted else Attempt(box_id=box, connector=connector, at=now, ok=False)
        await self.store.save_start(note, attempt)
        return "start" if accepted else "refused start"

    async def _stop(self, data: dict[str, Any]) -> str:
        box, connector = _text(data.get("chargebox")), _int(data.get("connector"), low=1)
        transaction, accepted = _int(data.get("transaction_id")), data.get("accepted")
        if box is None or connector is None or transaction is None or not isinstance(accepted, bool):
            log.warning("Thor stop notification ignored: chargebox, connector, transaction_id or accepted is missing "
                        "or of the wrong type")
            return "unreadable"
        if not await self.store.first_time(("stop_transaction", box, connector, transaction, accepted)):
            return "duplicate"
        now = self.clock()
        energy = _int(data.get("kwh"))  # named kwh, but Wh like every other energy field (thor-api notes §4)
        rejected = data.get("msg") == "stop" and not accepted
        note = StopNote(box_id=box, connector=connector, transaction=transaction, accepted=accepted,
                        energy_wh=energy, rejected_remote_stop=rejected, at=now)
        attempt = None
        if accepted and transaction and not data.get("unlocked"):
            attempt = Attempt(box_id=box, connector=connector, at=now, transaction=transaction, energy_wh=energy,
                              ok=not is_failed(energy, self._min_wh))
        await self.store.save_stop(note, attempt)
        return "stop"
