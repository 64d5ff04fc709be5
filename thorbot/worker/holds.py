"""Alerts held back by a mute, a snooze or maintenance, let go when the hold ends.

The alert sender records every alert it holds (adapters/oncall_store.remember_held). A box still down
when its maintenance window ends, or when a channel's mute runs out, must not stay silent: every
CHECK_EVERY the leader looks at what is held and, per `domain.notify.after_hold`, posts the alert
(through the outbox, like any other), keeps waiting, or forgets it. Holds can end early (unmute, a
window cancelled), so each is looked up afresh rather than trusted to its recorded end.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from thorbot.adapters.oncall_store import held_member
from thorbot.adapters.store import Commit
from thorbot.context import Stores
from thorbot.domain.incidents import Status
from thorbot.domain.notify import AfterHold, Job, after_hold, released_alert

log = logging.getLogger(__name__)
CHECK_EVERY = timedelta(seconds=15)  # a hold ends on a minute; its alert may follow within this


class HeldAlerts:
    def __init__(self, stores: Stores) -> None:
        self.subscriptions = stores.subscriptions
        self.records = stores.records
        self.committer = stores.cycle
        self.oncall = stores.oncall
        self._next_check: datetime | None = None

    async def run(self, now: datetime, token: str) -> int:
        """Post the held alerts whose hold is over; return how many were queued."""
        if self._next_check is not None and now < self._next_check:
            return 0
        self._next_check = now + CHECK_EVERY
        held = await self.oncall.held_alerts()
        if not held:
            return 0
        incidents = {i.id: i for i in await self.records.incidents(sorted({incident for _, incident, _ in held}))}
        records = await self.records.record_statuses(sorted({box for _, _, box in held}))
        jobs: list[Job] = []
        settled: list[str] = []
        for channel, incident_id, box_id in held:
            incident = incidents.get(incident_id)
            record = records.get(box_id)
            recovering = record is not None and record.status is Status.RECOVERING and record.incident is not None \
                and record.incident.id == incident_id
            hold = await self.oncall.held(channel, box_id, now)
            verdict = after_hold(incident_open=incident is not None and incident.resolved is None,
                                 watching=await self.subscriptions.is_watching(channel, box_id), held=hold is not None,
                                 recovering=recovering)
            if verdict is AfterHold.KEEP:
                continue
            settled.append(held_member(channel, incident_id, box_id))
            if verdict is AfterHold.POST:
                jobs.append(released_alert(channel, incident_id, box_id, now))
                log.info("the hold on %s in %s is over and it is still down: alerting now", box_id[:80], channel,
                         extra={"incident_id": incident_id, "box_id": box_id[:80], "channel": channel})
        if settled and not await self.committer.commit(token, Commit(jobs=jobs, held_settled=settled)):
            self._next_check = None  # not the leader any more: whoever is will look
            return 0
        return len(jobs)
