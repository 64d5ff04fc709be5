"""Queue a page event for an alert message, from the worker (trigger, resolve) or from serve (acknowledge)."""

from __future__ import annotations

from datetime import datetime

from thorbot.adapters.outbox_store import OutboxStore
from thorbot.adapters.pager_store import PagerStore
from thorbot.domain.notify import page_jobs
from thorbot.domain.pager import PageAction


async def enqueue_page(pagers: PagerStore, outbox: OutboxStore, action: PageAction, channel: str, ts: str,
                       now: datetime,
                       by: str | None = None) -> bool:
    """Queue it when the channel has a pager; once (ids are deterministic, and a page sent is not queued again)."""
    link = await pagers.link(channel)
    if link is None:
        return False
    jobs = page_jobs(action, channel, ts, now, delay=link.delay if action == "trigger" else 0.0, by=by)
    if await pagers.sent([j.id for j in jobs]):
        return False
    await outbox.enqueue(jobs)
    return True
