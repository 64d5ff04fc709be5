"""Escalate unacknowledged alerts: re-notify in the thread and DM the on-call person."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.store import Store
from thorbot.domain.notify import escalation_due, escalation_jobs
from thorbot.services.alert_state import message_state

log = logging.getLogger(__name__)


class Escalator:
    def __init__(self, store: Store, *, after: timedelta, max_count: int) -> None:
        self.store = store
        self.oncall = OnCallStore(store.redis)
        self.after = after
        self.max_count = max_count

    async def run(self, now: datetime) -> int:
        """Enqueue escalations that are due; forget alerts that no longer need them."""
        queued = 0
        for channel, ts, alerted in await self.oncall.escalation_candidates():
            incidents = await self.store.incidents(await self.store.message_incidents(channel, ts))
            open_incidents = [i for i in incidents if i.resolved is None]
            state = await message_state(self.oncall, channel, ts, incidents, now)
            count = await self.oncall.escalation_count(channel, ts)
            if not open_incidents or state.ack is not None or count >= self.max_count:
                await self.oncall.drop_escalation(channel, ts)
                continue
            held = state.snoozed_until is not None or state.muted_until is not None
            if not escalation_due(alerted=alerted, now=now, count=count, after=self.after,
                                  max_count=self.max_count, acknowledged=False, resolved=False, held=held):
                continue
            count = await self.oncall.bump_escalation(channel, ts)
            await self.store.enqueue(escalation_jobs(channel, ts, count, now))
            queued += 1
            log.info("escalating unacknowledged alert %s in %s (%d/%d)", ts, channel, count, self.max_count)
        return queued
