"""Deliver the Redis outbox to Slack: grouped per channel, paced, retried, never posted twice.

- A burst of alerts for one channel becomes one grouped message.
- Posts to one channel are at least `min_gap` seconds apart (Slack: ~1 message/s/channel).
- 429 waits for Retry-After; 5xx and network errors back off; both keep the job in the outbox.
- Before a post the job is marked `attempted`; a job that was attempted before (a crash or an
  ambiguous 5xx) is first looked up in the channel by its message metadata, so a retry never
  posts a second copy.
- Permanent Slack errors (bot not in channel, archived…) drop the job with an error log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.store import Job, Store
from thorbot.alert_messages import current_alert
from thorbot.domain.alerts import render_alert, render_escalation, render_recovery, render_thor_down, render_thor_up

log = logging.getLogger(__name__)
EVENT_TYPE = "thorbot_delivery"
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive",
             "msg_too_long", "invalid_blocks", "no_permission", "restricted_action", "token_revoked",
             "missing_scope", "not_authed", "invalid_arguments", "user_not_found", "user_disabled",
             "cannot_dm_bot"}
DEAD_AFTER = timedelta(hours=24)
Payload = dict[str, Any]


class RetryLater(Exception):
    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.0f}s")
        self.delay = delay


class Deliverer:
    def __init__(self, store: Store, client: AsyncWebClient, clock: Callable[[], datetime], *,
                 min_gap: float = 1.0, concurrency: int = 8, escalate_max: int = 3) -> None:
        self.store = store
        self.oncall = OnCallStore(store.r)
        self.escalate_max = escalate_max
        self.client = client
        self.clock = clock
        self.min_gap = min_gap
        self._gate = asyncio.Semaphore(concurrency)
        self._last_post: dict[str, float] = {}
        self.posts = 0

    async def deliver_due(self) -> int:
        """Deliver every job that is due; return how many jobs were settled."""
        jobs = await self.store.due_jobs(self.clock())
        by_channel: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_channel[job.channel].append(job)
        results = await asyncio.gather(*(self._channel(c, js) for c, js in by_channel.items()))
        return sum(results)

    async def _channel(self, channel: str, jobs: list[Job]) -> int:
        async with self._gate:
            settled = 0
            now = self.clock()
            live: list[Job] = []
            for job in jobs:
                if now - job.created > DEAD_AFTER:
                    log.error("dropping %s for %s after 24 h of failed delivery", job.kind, channel)
                    await self.store.delivered([job], channel, None, [])
                    settled += 1
                elif job.kind in ("alert", "recovery") and not await self.store.is_watching(channel, job.box_id):
                    await self.store.delivered([job], channel, None, [])  # unsubscribed: silence
                    settled += 1
                else:
                    live.append(job)
            alerts = [j for j in live if j.kind == "alert"]
            steps: list[tuple[list[Job], Any]] = []
            if alerts:
                steps.append((alerts, self._alerts))
            alerted = {j.incident_id for j in alerts}
            for job in live:
                if job.kind == "recovery":
                    steps.append(([job], self._recovery_after(alerted)))
                elif job.kind in ("thor_down", "thor_up"):
                    steps.append(([job], self._thor_notice))
                elif job.kind in ("escalate", "escalate_dm"):
                    steps.append(([job], self._escalation))
            for step_jobs, handler in steps:
                try:
                    await handler(channel, step_jobs)
                    settled += len(step_jobs)
                except RetryLater as wait:
                    await self.store.reschedule(step_jobs, self.clock() + timedelta(seconds=wait.delay))
                    break  # keep this channel's order: later messages wait too
            return settled

    async def _alerts(self, channel: str, jobs: list[Job]) -> None:
        now = self.clock()
        incidents = []
        for incident in await self.store.incidents([j.incident_id for j in jobs if j.incident_id]):
            if await self.oncall.held(channel, incident.box_id, now) is None:
                incidents.append(incident)  # muted or snoozed boxes: recorded, not posted
        if not incidents:
            await self.store.delivered(jobs, channel, None, [])
            return
        target = await self.oncall.oncall(channel)
        payload = render_alert(incidents, now, mention=target.mention if target else None)
        ts = await self._post(channel, jobs, payload)
        await self.store.delivered(jobs, channel, ts, [i.id for i in incidents])
        if ts and target and self.escalate_max > 0 and any(i.resolved is None for i in incidents):
            await self.oncall.schedule_escalation(channel, ts, now)

    def _recovery_after(self, alerted_now: set[str | None]) -> Any:
        async def deliver(channel: str, jobs: list[Job]) -> None:
            job = jobs[0]
            incident = await self.store.incident(job.incident_id or "")
            alert_ts = await self.store.alert_ts(job.incident_id or "", channel)
            if incident is None or alert_ts is None or job.incident_id in alerted_now:
                # Never alerted here, or the alert just went out already showing it resolved.
                await self.store.delivered(jobs, channel, None, [])
                return
            ts = await self._post(channel, jobs, render_recovery(incident), thread_ts=alert_ts)
            await self.store.delivered(jobs, channel, ts, [])
            await self._refresh_alert(channel, alert_ts)
        return deliver

    async def _refresh_alert(self, channel: str, ts: str) -> None:
        current = await current_alert(self.store, self.oncall, channel, ts, self.clock())
        if current is None:
            return
        _, payload = current
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=payload["text"], blocks=payload["blocks"])
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not mark the alert in %s resolved: %s", channel, _reason(exc))

    async def _thor_notice(self, channel: str, jobs: list[Job]) -> None:
        job = jobs[0]
        since = job.since or job.created
        if job.kind == "thor_down":
            payload = render_thor_down(job.code or "unknown", since, job.cycles)
        else:
            payload = render_thor_up(since, self.clock())
        ts = await self._post(channel, jobs, payload)
        await self.store.delivered(jobs, channel, ts, [])

    async def _escalation(self, channel: str, jobs: list[Job]) -> None:
        job = jobs[0]
        ts = job.message_ts or ""
        incidents = [i for i in await self.store.incidents(await self.store.message_incidents(channel, ts))
                     if i.resolved is None]
        target = await self.oncall.oncall(channel)
        if not incidents or await self.oncall.ack(channel, ts) is not None:
            await self.store.delivered(jobs, channel, None, [])  # resolved or taken meanwhile
            return
        mention = target.mention if target else None
        if job.kind == "escalate":
            payload = render_escalation(incidents, job.cycles, self.escalate_max, mention)
            posted = await self._post(channel, jobs, payload, thread_ts=ts)
        elif target is not None and target.kind == "user":
            payload = render_escalation(incidents, job.cycles, self.escalate_max, None, channel=channel)
            posted = await self._post_dm(target.id, jobs, payload)
        else:
            posted = None
        await self.store.delivered(jobs, channel, posted, [])

    async def _post_dm(self, user: str, jobs: list[Job], payload: Payload) -> str | None:
        """DMs are at-most-once: without im:history a crashed attempt cannot be checked, so skip it."""
        if any(j.attempted for j in jobs):
            return None
        try:
            opened = await self.client.conversations_open(users=user)
        except SlackApiError as exc:
            self._api_error(exc, user, jobs)
            return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(_backoff(jobs)) from exc
        return await self._post(str(opened["channel"]["id"]), jobs, payload, check_first=False)

    async def _post(self, channel: str, jobs: list[Job], payload: Payload, thread_ts: str | None = None,
                    *, check_first: bool = True) -> str | None:
        job_ids = [j.id for j in jobs]
        if check_first and any(j.attempted for j in jobs):
            found = await self._find_posted(channel, job_ids, thread_ts)
            if found:
                log.info("found an earlier post of %d job(s) in %s; not posting again", len(jobs), channel)
                return found
        await self.store.mark_attempted(jobs)
        await self._pace(channel)
        try:
            response = await self.client.chat_postMessage(
                channel=channel, text=payload["text"], blocks=payload["blocks"], thread_ts=thread_ts,
                unfurl_links=False, unfurl_media=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"jobs": job_ids}},
            )
        except SlackApiError as exc:
            self._api_error(exc, channel, jobs)
            # Permanent: the message is dropped, but the channel's `list` says so (nobody else would).
            await self.store.record_delivery_error(channel, str(exc.response.get("error", "")), self.clock())
            return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(_backoff(jobs)) from exc
        self.posts += 1
        await self.store.clear_delivery_error(channel)
        return str(response["ts"])

    def _api_error(self, exc: SlackApiError, channel: str, jobs: list[Job]) -> None:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if exc.response.data else ""
        if status == 429:
            raise RetryLater(float(exc.response.headers.get("Retry-After", 1) or 1)) from exc
        if status >= 500 or error not in PERMANENT:
            log.warning("Slack answered %s %s for %s; will retry", status, error, channel)
            raise RetryLater(_backoff(jobs)) from exc
        log.error("cannot post in %s (%s); dropping %d message(s). Is the bot in that channel?", channel, error,
                  len(jobs))

    async def _find_posted(self, channel: str, job_ids: list[str], thread_ts: str | None) -> str | None:
        try:
            if thread_ts:
                response = await self.client.conversations_replies(channel=channel, ts=thread_ts, limit=100,
                                                                   include_all_metadata=True)
            else:
                response = await self.client.conversations_history(channel=channel, limit=100,
                                                                   include_all_metadata=True)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(5) from exc  # cannot tell whether it was posted: do not risk a duplicate
        wanted = set(job_ids)
        messages: list[dict[str, Any]] = response.get("messages", [])
        for message in messages:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == EVENT_TYPE and wanted & set(meta.get("event_payload", {}).get("jobs", [])):
                return str(message["ts"])
        return None

    async def _pace(self, channel: str) -> None:
        last = self._last_post.get(channel)
        if last is not None:
            wait = self.min_gap - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_post[channel] = time.monotonic()


def _backoff(jobs: list[Job]) -> float:
    attempts = max((j.attempts for j in jobs), default=0)
    return float(min(300, 2 ** min(attempts, 8)))


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", exc.response.status_code))
    return type(exc).__name__
