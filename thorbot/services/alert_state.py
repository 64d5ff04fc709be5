"""Render an alert message from what the stores know now (incidents, ack, snooze, mute, cause)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.slack import SlackApi
from thorbot.domain.alerts import MessageState, render_alert
from thorbot.domain.causes import ASKS_A_CAUSE, CauseRecord, incident_cause_key
from thorbot.domain.incidents import Incident
from thorbot.errors import SlackError

Payload = dict[str, Any]
log = logging.getLogger(__name__)


async def message_state(oncall: OnCallStore, history: HistoryStore, channel: str, ts: str | None,
                        incidents: list[Incident],
                        now: datetime) -> MessageState:
    ack = await oncall.ack(channel, ts) if ts else None
    boxes = {i.box_id for i in incidents}
    holds = [h for h in await oncall.holds(channel, now) if h.box_id in boxes or h.box_id == "*"]
    snoozes = [h for h in holds if h.kind == "snooze"]
    mutes = [h for h in holds if h.kind == "mute"]
    snooze = max(snoozes, key=lambda h: h.until) if snoozes else None
    return MessageState(ack=ack, snoozed_until=snooze.until if snooze else None,
                        snoozed_by=snooze.by if snooze else None,
                        muted_until=max(h.until for h in mutes) if mutes else None,
                        cause=await message_cause(history, incidents))


async def message_cause(history: HistoryStore, incidents: list[Incident]) -> CauseRecord | None:
    """The cause given to the message's outages (they share one: it is set for all of them at once)."""
    asking = [i for i in incidents if i.kind in ASKS_A_CAUSE and i.resolved is not None]
    if not asking:
        return None
    first = asking[0]
    return await history.cause(first.box_id, incident_cause_key(first.kind, first.started))


async def current_alert(store: RecordStore, oncall: OnCallStore, history: HistoryStore, channel: str, ts: str,
                        now: datetime,
                        runbook: str | None = None) -> tuple[list[Incident], Payload] | None:
    incidents = await store.incidents(await store.message_incidents(channel, ts))
    if not incidents:
        return None
    state = await message_state(oncall, history, channel, ts, incidents, now)
    return incidents, render_alert(incidents, now, state=state, runbook=runbook)


async def redraw_alert(store: RecordStore, oncall: OnCallStore, history: HistoryStore, slack: SlackApi, channel: str,
                       ts: str,
                       now: datetime, runbook: str | None = None) -> None:
    """Update an alert message to show what is true now (resolved, acknowledged, snoozed); best effort.
    `runbook`: THORBOT_RUNBOOK_URL, so the redrawn alert keeps its Runbook link."""
    current = await current_alert(store, oncall, history, channel, ts, now, runbook)
    if current is None:
        return
    try:
        await slack.update_message(channel, ts, current[1])
    except SlackError as exc:
        log.warning("could not update the alert in %s: %s", channel, exc.error)
