"""Render an alert message from what Redis knows now (incidents, ack, snooze, mute)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.store import Store
from thorbot.domain.alerts import MessageState, render_alert
from thorbot.domain.incidents import Incident

Payload = dict[str, Any]


async def message_state(oncall: OnCallStore, channel: str, ts: str | None, incidents: list[Incident],
                        now: datetime) -> MessageState:
    ack = await oncall.ack(channel, ts) if ts else None
    boxes = {i.box_id for i in incidents}
    holds = [h for h in await oncall.holds(channel, now) if h.box_id in boxes or h.box_id == "*"]
    snoozes = [h for h in holds if h.kind == "snooze"]
    mutes = [h for h in holds if h.kind == "mute"]
    snooze = max(snoozes, key=lambda h: h.until) if snoozes else None
    return MessageState(ack=ack, snoozed_until=snooze.until if snooze else None,
                        snoozed_by=snooze.by if snooze else None,
                        muted_until=max(h.until for h in mutes) if mutes else None)


async def current_alert(store: Store, oncall: OnCallStore, channel: str, ts: str,
                        now: datetime) -> tuple[list[Incident], Payload] | None:
    incidents = await store.incidents(await store.message_incidents(channel, ts))
    if not incidents:
        return None
    state = await message_state(oncall, channel, ts, incidents, now)
    return incidents, render_alert(incidents, now, state=state)
