"""Status cards: `/chargebox <id or name>`, the pick list, and the card's Share and Refresh buttons."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncRespond

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.store import RedisDown
from thorbot.adapters.thor import ThorClient
from thorbot.adapters.usage_store import UsageStore
from thorbot.domain import replies
from thorbot.domain.card import is_silent, render_card
from thorbot.domain.failed_starts import connector_key
from thorbot.domain.models import Chargebox
from thorbot.domain.search import looks_like_id
from thorbot.domain.session_messages import SessionView
from thorbot.domain.sessions import Session, started_by, stop_id_tag
from thorbot.domain.text import slack_date
from thorbot.domain.usage import Health, QuietRules, box_health
from thorbot.errors import ThorError
from thorbot.serve.reply import Payload, answer, reply, safe_payload
from thorbot.services.lookup import Lookup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionFacts:
    """What the card shows of charging, from Thor and Redis."""

    sessions: dict[int, SessionView] = field(default_factory=dict)
    rates: dict[int, tuple[int, int]] = field(default_factory=dict)
    health: dict[int, Health] = field(default_factory=dict)


class Cards:
    """Status cards: built from Thor's interactive client (no retries: a person is waiting), the name look-up, the
    stores of sessions, usage and holds, and the clock; the rules and settings values they show by."""

    def __init__(self, thor: ThorClient, lookup: Lookup, sessions: SessionStore, usage: UsageStore,
                 oncall: OnCallStore, clock: Callable[[], datetime], *, stale_after: timedelta, quiet: QuietRules,
                 offer_stop: bool, deadline: float) -> None:
        self.thor, self.lookup, self.sessions, self.usage, self.oncall = thor, lookup, sessions, usage, oncall
        self.clock, self.stale_after, self.quiet = clock, stale_after, quiet
        self.offer_stop, self.deadline = offer_stop, deadline

    async def answer_query(self, query: str, respond: AsyncRespond, channel: str = "") -> None:
        """Resolve the query and answer with a card, a pick list, or a helpful error."""
        await answer(respond, lambda: self.query_payload(query, channel), query,
                     deadline=self.deadline, working=replies.looking_up(query))

    async def answer_card(self, box_id: str, respond: AsyncRespond, *, replace: bool = False,
                          in_channel: bool = False, note: str | None = None) -> None:
        async def build() -> Payload:
            box, running = await asyncio.gather(self.thor.get_chargebox(box_id), self._running(box_id))
            card = self.card_payload(box, note=note, buttons=not in_channel,
                                     facts=await self.session_facts(box, running))
            if in_channel:
                card["response_type"] = "in_channel"
            return card

        payload = await safe_payload(build, box_id, deadline=self.deadline)
        await reply(respond, payload, replace=replace and not in_channel)

    async def share(self, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        """Post in channel: the card for everyone, saying who shared it."""
        user = str((body.get("user") or {}).get("id", ""))
        note = f"Shared by <@{user}>" if re.fullmatch(r"[UW][A-Z0-9]{2,20}", user) else None
        await self.answer_card(str(action.get("value", "")), respond, in_channel=True, note=note)

    async def refresh(self, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        """Refresh, or a pick from the list: the card, in place of the message clicked."""
        box_id = str(action.get("value", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        await self.answer_card(box_id, respond, replace=True, note=await self.hold_note(channel, box_id))

    def card_payload(self, box: Chargebox, *, note: str | None = None, buttons: bool = True,
                     facts: SessionFacts | None = None) -> Payload:
        facts = facts or SessionFacts()
        payload = render_card(box, self.clock(), stale_after=self.stale_after, buttons=buttons, note=note,
                              sessions=facts.sessions, rates=facts.rates, health=facts.health)
        payload["response_type"] = "ephemeral"
        return payload

    async def _running(self, box_id: str) -> list[Session] | None:
        """The box's running charges (one call, `?chargebox=`); None when Thor cannot say right now."""
        try:
            return await self.thor.running_charges(box_id)
        except ThorError as exc:
            log.warning("no session details for the card: Thor %s", exc.code)
            return None

    async def session_facts(self, box: Chargebox, running: list[Session] | None) -> SessionFacts:
        """What the card shows of charging: each running session (who started it, can it be stopped), and the
        connectors' 7-day success rates and health. Redis being down only costs the rates, the health and the
        start modes."""
        store = self.sessions
        sessions = [s for s in running or [] if s.box_id == box.id]
        numbers = [c.number for c in box.connectors]
        health: dict[int, Health] = {}
        try:
            notes = await store.start_notes([s.transaction for s in sessions])
            rates = await store.success_7d(box.id, numbers, self.clock())
            usages = await self.usage.box(box.id)
            records = await store.connector_records([connector_key(box.id, n) for n in numbers])
        except RedisDown:
            notes, rates, usages, records = {}, {}, {}, {}
        if usages:  # the box is watched (or was): its connectors have a baseline to grade them by
            failing = [n for n in numbers if (r := records.get(connector_key(box.id, n))) and r.incident]
            down = box.connected is False or is_silent(box, self.clock(), self.stale_after)
            health = box_health(usages, numbers, self.clock().timestamp(), self.quiet, box_down=down,
                                failing=failing, success_7d=rates)
        offer = self.offer_stop
        views = {s.connector: SessionView(s, started_by(s, notes.get(s.transaction)),
                                          stop_id_tag(s, notes.get(s.transaction)) is not None, offer_stop=offer)
                 for s in sessions}
        return SessionFacts(views, rates, health)

    async def hold_note(self, channel: str, box_id: str) -> str | None:
        """The card says when alerts for this box are held in this channel (mute or snooze)."""
        if not channel:
            return None
        try:
            hold = await self.oncall.held(channel, box_id, self.clock())
        except RedisDown:  # the card comes from Thor: it must not depend on Redis being up
            log.warning("Redis unreachable; showing the card without mute/snooze state")
            return None
        if hold is None:
            return None
        who = f" by <@{hold.by}>" if hold.by else ""
        if hold.kind == "maintenance":
            return (f":wrench: In scheduled maintenance{who} until {slack_date(hold.until)}: its alerts are held in "
                    "every channel, and its outage time is excluded from uptime (up to 72 h a year).")
        icon, what = (":mute:", "Muted") if hold.kind == "mute" else (":zzz:", "Snoozed")
        return f"{icon} {what}{who} in this channel until {slack_date(hold.until)}: alerts are held."

    async def query_payload(self, query: str, channel: str = "") -> Payload:
        # Most queries are ids: ask for the box and its running charges at once, so the card costs one
        # Thor round trip, not two (a name is looked up first, then its charges).
        early = asyncio.ensure_future(self._running(query)) if looks_like_id(query) else None
        try:
            found = await self.lookup.resolve(query)
        except BaseException:
            if early is not None:
                early.cancel()
            raise
        if found.box is not None:
            running = await early if early is not None and found.box.id == query else \
                await self._running(found.box.id)
            if early is not None and not early.done():
                early.cancel()
            facts = await self.session_facts(found.box, running)
            return self.card_payload(found.box, note=await self.hold_note(channel, found.box.id), facts=facts)
        if early is not None:
            early.cancel()
        if found.matches:
            return replies.pick_list(query, list(found.matches), len(found.matches))
        return replies.no_match(query)
