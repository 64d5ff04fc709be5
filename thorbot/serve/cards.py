"""Status cards: `/chargebox <id or name>`, the pick list, and the card's Share and Refresh buttons."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncRespond

from thorbot.adapters.store import RedisDown
from thorbot.context import AppContext
from thorbot.domain import replies
from thorbot.domain.card import is_silent, render_card
from thorbot.domain.failed_starts import connector_key
from thorbot.domain.models import Chargebox
from thorbot.domain.search import looks_like_id
from thorbot.domain.session_messages import SessionView
from thorbot.domain.sessions import Session, started_by, stop_id_tag
from thorbot.domain.text import slack_date
from thorbot.domain.usage import Health, box_health
from thorbot.errors import ThorError
from thorbot.serve.reply import Payload, answer, reply, safe_payload

log = logging.getLogger(__name__)


async def answer_query(ctx: AppContext, query: str, respond: AsyncRespond, channel: str = "") -> None:
    """Resolve the query and answer with a card, a pick list, or a helpful error."""
    await answer(respond, lambda: query_payload(ctx, query, channel), query,
                 deadline=ctx.settings.interactive_deadline, working=replies.looking_up(query))


async def answer_card(ctx: AppContext, box_id: str, respond: AsyncRespond, *, replace: bool = False,
                      in_channel: bool = False, note: str | None = None) -> None:
    async def build() -> Payload:
        box, running = await asyncio.gather(ctx.thor_interactive.get_chargebox(box_id), _running(ctx, box_id))
        card = card_payload(ctx, box, note=note, buttons=not in_channel, facts=await session_facts(ctx, box, running))
        if in_channel:
            card["response_type"] = "in_channel"
        return card

    payload = await safe_payload(build, box_id, deadline=ctx.settings.interactive_deadline)
    await reply(respond, payload, replace=replace and not in_channel)


async def share(ctx: AppContext, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
    """Post in channel: the card for everyone, saying who shared it."""
    user = str((body.get("user") or {}).get("id", ""))
    note = f"Shared by <@{user}>" if re.fullmatch(r"[UW][A-Z0-9]{2,20}", user) else None
    await answer_card(ctx, str(action.get("value", "")), respond, in_channel=True, note=note)


async def refresh(ctx: AppContext, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
    """Refresh, or a pick from the list: the card, in place of the message clicked."""
    box_id = str(action.get("value", ""))
    channel = str((body.get("channel") or {}).get("id", ""))
    await answer_card(ctx, box_id, respond, replace=True, note=await hold_note(ctx, channel, box_id))


def card_payload(ctx: AppContext, box: Chargebox, *, note: str | None = None, buttons: bool = True,
                 facts: SessionFacts | None = None) -> Payload:
    stale = ctx.rules.incidents.stale_after
    facts = facts or SessionFacts()
    payload = render_card(box, ctx.clock(), stale_after=stale, buttons=buttons, note=note, sessions=facts.sessions,
                          rates=facts.rates, health=facts.health)
    payload["response_type"] = "ephemeral"
    return payload


@dataclass(frozen=True)
class SessionFacts:
    """What the card shows of charging, from Thor and Redis."""

    sessions: dict[int, SessionView] = field(default_factory=dict)
    rates: dict[int, tuple[int, int]] = field(default_factory=dict)
    health: dict[int, Health] = field(default_factory=dict)


async def _running(ctx: AppContext, box_id: str) -> list[Session] | None:
    """The box's running charges (one call, `?chargebox=`); None when Thor cannot say right now."""
    try:
        return await ctx.thor_interactive.running_charges(box_id)
    except ThorError as exc:
        log.warning("no session details for the card: Thor %s", exc.code)
        return None


async def session_facts(ctx: AppContext, box: Chargebox, running: list[Session] | None) -> SessionFacts:
    """What the card shows of charging: each running session (who started it, can it be stopped), and the
    connectors' 7-day success rates and health. Redis being down only costs the rates, the health and the
    start modes."""
    store = ctx.stores.sessions
    sessions = [s for s in running or [] if s.box_id == box.id]
    numbers = [c.number for c in box.connectors]
    health: dict[int, Health] = {}
    try:
        notes = await store.start_notes([s.transaction for s in sessions])
        rates = await store.success_7d(box.id, numbers, ctx.clock())
        usages = await ctx.stores.usage.box(box.id)
        records = await store.connector_records([connector_key(box.id, n) for n in numbers])
    except RedisDown:
        notes, rates, usages, records = {}, {}, {}, {}
    if usages:  # the box is watched (or was): its connectors have a baseline to grade them by
        failing = [n for n in numbers if (r := records.get(connector_key(box.id, n))) and r.incident]
        down = box.connected is False or is_silent(box, ctx.clock(), ctx.rules.incidents.stale_after)
        health = box_health(usages, numbers, ctx.clock().timestamp(), ctx.rules.usage.quiet, box_down=down,
                            failing=failing, success_7d=rates)
    offer = ctx.settings.stops_enabled()
    views = {s.connector: SessionView(s, started_by(s, notes.get(s.transaction)),
                                      stop_id_tag(s, notes.get(s.transaction)) is not None, offer_stop=offer)
             for s in sessions}
    return SessionFacts(views, rates, health)


async def hold_note(ctx: AppContext, channel: str, box_id: str) -> str | None:
    """The card says when alerts for this box are held in this channel (mute or snooze)."""
    if not channel:
        return None
    try:
        hold = await ctx.stores.oncall.held(channel, box_id, ctx.clock())
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


async def query_payload(ctx: AppContext, query: str, channel: str = "") -> Payload:
    # Most queries are ids: ask for the box and its running charges at once, so the card costs one
    # Thor round trip, not two (a name is looked up first, then its charges).
    early = asyncio.ensure_future(_running(ctx, query)) if looks_like_id(query) else None
    try:
        found = await ctx.lookup.resolve(query)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    if found.box is not None:
        running = await early if early is not None and found.box.id == query else await _running(ctx, found.box.id)
        if early is not None and not early.done():
            early.cancel()
        facts = await session_facts(ctx, found.box, running)
        return card_payload(ctx, found.box, note=await hold_note(ctx, channel, found.box.id), facts=facts)
    if early is not None:
        early.cancel()
    if found.matches:
        return replies.pick_list(query, list(found.matches), len(found.matches))
    return replies.no_match(query)
