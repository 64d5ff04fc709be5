"""Buttons on alert messages: Acknowledge, Snooze, Refresh."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.outbox_store import OutboxStore
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.thor import ThorClient
from thorbot.domain.alerts import ACTION_CAUSE, ACTION_CONFIRM, ACTION_RESOLVE
from thorbot.domain.card import render_card
from thorbot.domain.causes import ASKS_A_CAUSE, CAUSES, CauseRecord, cause_line, incident_cause_key
from thorbot.domain.driver_reports import PersonAction
from thorbot.domain.incidents import Incident
from thorbot.domain.oncall import SNOOZE_LABELS, Ack, Hold, snooze_until
from thorbot.domain.text import escape, slack_date
from thorbot.errors import SlackError, ThorError
from thorbot.serve.dispatch import Audit
from thorbot.serve.registry import interaction_way
from thorbot.serve.reply import tell
from thorbot.services.alert_state import redraw_alert
from thorbot.services.pages import enqueue_page

log = logging.getLogger(__name__)
MAX_REFRESH_CARDS = 5
REFRESH_EVERY = 60  # seconds: repeated clicks on one alert reuse the last card


def _where(body: dict[str, Any]) -> tuple[str, str, str]:
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    ts = str(container.get("message_ts") or (body.get("message") or {}).get("ts") or "")
    return channel, ts, str((body.get("user") or {}).get("id", ""))


class AlertActions:
    """Acknowledge, Snooze, Refresh, Cause…, Confirm and Resolve… on an alert message (serve/app.py registers them): the
    record store (the message's incidents), the outbox (pages), the on-call store (acks, holds), the pager store (the
    page is acknowledged too), the history store (causes), the session store (a person's action on a driver's report),
    Thor's interactive client (the live card), Slack, the audit, the clock, how old a heartbeat may be, and the runbook
    link the alert is redrawn with."""

    def __init__(self, records: RecordStore, outbox: OutboxStore, oncall: OnCallStore, pagers: PagerStore,
                 history: HistoryStore,
                 sessions: SessionStore, thor: ThorClient, slack: SlackApi, audit: Audit,
                 clock: Callable[[], datetime], *, stale_after: timedelta, runbook_url: str | None) -> None:
        self.records, self.outbox, self.oncall, self.pagers = records, outbox, oncall, pagers
        self.history, self.sessions = history, sessions
        self.thor, self.slack, self.audit, self.clock = thor, slack, audit, clock
        self.stale_after, self.runbook_url = stale_after, runbook_url

    async def open_incidents(self, channel: str, ts: str, respond: AsyncRespond) -> list[Incident] | None:
        incidents = await self.records.incidents(await self.records.message_incidents(channel, ts))
        if not incidents:
            await tell(respond, "thorbot no longer tracks this alert (it is older than 30 days).")
            return None
        still_open = [i for i in incidents if i.resolved is None]
        if not still_open:
            resolved = max(i.resolved for i in incidents if i.resolved is not None)
            await tell(respond, f":white_check_mark: This already resolved {slack_date(resolved)}; nothing to do.")
            return None
        return still_open

    async def redraw(self, channel: str, ts: str) -> None:
        await redraw_alert(self.records, self.oncall, self.history, self.slack, channel, ts, self.clock(),
                           self.runbook_url)

    async def acknowledge(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel, ts, user = _where(body)
        if await self.open_incidents(channel, ts, respond) is None:
            return
        if not await self.oncall.set_ack(channel, ts, Ack(user=user, at=self.clock())):
            taken = await self.oncall.ack(channel, ts)
            await tell(respond, f":eyes: Already acknowledged by {escape(taken.who) if taken else '?'}.")
            return
        await self.redraw(channel, ts)
        paged = await enqueue_page(self.pagers, self.outbox, "acknowledge", channel, ts, self.clock(),
                                   by=user)
        await tell(respond, ":eyes: You acknowledged this alert; escalation has stopped" +
                   (" and the page is acknowledged too." if paged else "."))

    async def snooze(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
                     ) -> None:
        await ack()
        channel, ts, user = _where(body)
        choice = str((action.get("selected_option") or {}).get("value", ""))
        incidents = await self.open_incidents(channel, ts, respond)
        if incidents is None:
            return
        now = self.clock()
        until = snooze_until(choice, now, incidents[0].timezone)
        if until is None or until - now > timedelta(days=2):
            await tell(respond, "That snooze option is not known; choose 1 hour, 4 hours or until tomorrow.")
            return
        for incident in incidents:
            await self.oncall.hold(channel, Hold(kind="snooze", box_id=incident.box_id, until=until, by=user))
        await self.redraw(channel, ts)
        what = "this box" if len(incidents) == 1 else "these boxes"
        await tell(respond, f":zzz: Snoozed ({SNOOZE_LABELS[choice]}): alerts for {what} are held here until "
                             f"{slack_date(until)}.")

    async def cause(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
                    ) -> None:
        """Cause… on a resolved alert: why its outages happened (decides whether they count against uptime)."""
        await ack()
        channel, ts, user = _where(body)
        choice = str((action.get("selected_option") or {}).get("value", ""))
        if choice not in CAUSES:
            await tell(respond, "That cause is not one thorbot knows; choose one from the menu.")
            return
        incidents = await self.records.incidents(await self.records.message_incidents(channel, ts))
        asking = [i for i in incidents if i.kind in ASKS_A_CAUSE]
        if not asking:
            await tell(respond, "thorbot no longer tracks this alert (it is older than 30 days).")
            return
        if any(i.resolved is None for i in asking):
            await tell(respond, "This outage is still going on: choose its cause once it is over.")
            return
        record = CauseRecord(cause=choice, by=user, at=self.clock())
        for box_id in sorted({i.box_id for i in asking}):
            await self.history.set_causes(box_id, {incident_cause_key(i.kind, i.started): record
                                                              for i in asking if i.box_id == box_id})
        await self.redraw(channel, ts)
        what = "this outage" if len(asking) == 1 else f"these {len(asking)} outages"
        await self.audit.record(interaction_way(ACTION_CAUSE), user, channel,
                                f"set the cause of {what} to {cause_line(record)} (Cause… on the alert)", thread_ts=ts)
        await tell(respond, f":label: Recorded for {what}: {cause_line(record)}. Choose again to change it.")

    async def _reported(self, body: dict[str, Any], respond: AsyncRespond) -> tuple[str, str, str, Incident] | None:
        channel, ts, user = _where(body)
        incidents = await self.records.incidents(await self.records.message_incidents(channel, ts))
        reported = [i for i in incidents if i.kind == "reported" and i.connector is not None]
        if not reported:
            await tell(respond, "thorbot no longer tracks this report (it is older than 30 days).")
            return None
        if reported[0].resolved is not None:
            await tell(respond, f":white_check_mark: This report was resolved {slack_date(reported[0].resolved)}.")
            return None
        return channel, ts, user, reported[0]

    async def confirm(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
                      ) -> None:
        """Confirm on a driver's report: it is real, so it counts as that port's outage from its first report."""
        found = await self._reported(body, respond)
        if found is None:
            return
        channel, ts, user, incident = found
        assert incident.connector is not None
        await self.sessions.save_action(PersonAction(
            incident_id=incident.id, box_id=incident.box_id, connector=incident.connector, action="confirm", by=user,
            at=self.clock()))
        await self.audit.record(interaction_way(ACTION_CONFIRM), user, channel,
                                f"confirmed the drivers' report on connector #{incident.connector}: it counts as "
                                f"that port's outage from {slack_date(incident.started)}.", thread_ts=ts)
        await tell(respond, ":heavy_check_mark: Confirmed: it counts as an outage of that port from its first report "
                            "(thorbot applies it within a poll).")

    async def resolve(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
                      ) -> None:
        """Resolve… on a driver's report, with its cause (decides whether it counts against uptime)."""
        choice = str((action.get("selected_option") or {}).get("value", ""))
        if choice not in CAUSES:
            await tell(respond, "That cause is not one thorbot knows; choose one from the menu.")
            return
        found = await self._reported(body, respond)
        if found is None:
            return
        channel, ts, user, incident = found
        assert incident.connector is not None
        now = self.clock()
        record = CauseRecord(cause=choice, by=user, at=now)
        await self.history.set_causes(incident.box_id, {incident_cause_key(incident.kind, incident.started):
                                                                   record})
        await self.sessions.save_action(PersonAction(
            incident_id=incident.id, box_id=incident.box_id, connector=incident.connector, action="resolve", by=user,
            at=now))
        await self.audit.record(interaction_way(ACTION_RESOLVE), user, channel,
                                f"resolved the drivers' report on connector #{incident.connector}: "
                                f"{cause_line(record)}.", thread_ts=ts)
        await tell(respond, f":white_check_mark: Resolved ({cause_line(record)}); the recovery follows in the thread "
                            "within a poll.")

    async def refresh(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel, ts, _ = _where(body)
        if not await self.oncall.claim_refresh(channel, ts, REFRESH_EVERY):
            await tell(respond, "The live status was posted in this alert's thread less than a minute ago; "
                                 "look there (or refresh again in a minute).")
            return
        incidents = await self.records.incidents(await self.records.message_incidents(channel, ts))
        stale = self.stale_after
        for incident in incidents[:MAX_REFRESH_CARDS]:
            try:
                box = await self.thor.get_chargebox(incident.box_id)
            except ThorError as exc:
                await tell(respond, f"Could not refresh {escape(incident.name)}: Thor {exc.code}.")
                continue
            card = render_card(box, self.clock(), stale_after=stale, buttons=False)
            try:
                await self.slack.post_message(channel, card, thread_ts=ts)
            except SlackError as exc:
                await tell(respond, f"Could not post the live status here ({escape(exc.error)}).")
                return
        await self.redraw(channel, ts)
