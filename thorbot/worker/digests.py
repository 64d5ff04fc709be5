"""Queue each channel's scheduled digest once per period (its sender in worker/senders.py renders and posts it)."""

from __future__ import annotations

import logging
from datetime import datetime

from thorbot.adapters.store import Commit
from thorbot.context import Stores
from thorbot.domain.digest import due_now
from thorbot.domain.notify import digest_job

log = logging.getLogger(__name__)


class Digester:
    def __init__(self, stores: Stores) -> None:
        self.committer = stores.cycle
        self.plans = stores.digests

    async def run(self, now: datetime, token: str) -> int:
        """Queue the digests that are due, recording their periods in the same lease-fenced commit:
        a period is queued exactly once, whichever worker leads, however often it restarts."""
        change = Commit()
        for channel, plan in (await self.plans.plans()).items():
            due = due_now(plan, now)
            if due is None:
                continue
            change.jobs.append(digest_job(channel, due.period, plan.cadence, due.due_at, now))
            change.digests_posted[channel] = due.period
        if not change.jobs:
            return 0
        if not await self.committer.commit(token, change):
            log.warning("lost the lease before queueing %d digest(s); the new leader will", len(change.jobs))
            return 0
        return len(change.jobs)
