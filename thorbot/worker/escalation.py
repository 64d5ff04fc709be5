"""Escalate unacknowledged alerts: re-notify in the thread and DM the on-call person."""

from __future__ import annotations

import logging
from datetime import datetime

from thorbot.context import Stores
from thorbot.domain.notify import escalation_due, escalation_jobs
from thorbot.domain.rules import Rules
from thorbot.services.alert_state import message_state

log = logging.getLogger(__name__)


class Escalator:
    def __init__(self, stores: Stores, rules: Rules) -> None:
        self.records = stores.records
        self.outbox = stores.outbox
        self.history = stores.history
        self.oncall = stores.oncall
        self.rules = rules
        self.after = rules.escalate_after
        self.max_count = rules.escalate_max

    async def run(self, now: datetime) -> int:
        """Enqueue escalations that are due; forget alerts that no longer need them."""
        queued = 0
        for channel, ts, alerted in await self.oncall.escalation_candidates():
            incidents = await self.records.incidents(await self.records.message_incidents(channel, ts))
            open_incidents = [i for i in incidents if i.resolved is None]
            state = await message_state(self.oncall, self.history, channel, ts, incidents, now)
            count = await self.oncall.escalation_count(channel, ts)
            if not open_incidents or state.ack is not None or count >= self.max_count:
                await self.oncall.drop_escalation(channel, ts)
                continue
            held = state.snoozed_until is not None or state.muted_until is not None
            if not escalation_due(alerted=alerted, now=now, count=count, after=self.after,
                                  max_count=self.max_count, acknowledged=False, resolved=False, held=held):
                continue
            count = await self.oncall.bump_escalation(channel, ts)
            await self.outbox.enqueue(escalation_jobs(channel, ts, count, now))
            queued += 1
            log.info("escalating unacknowledged alert %s in %s (%d/%d)", ts, channel, count, self.max_count,
                     extra={"channel": channel})
        return queued
