"""Deliver the Redis outbox to Slack: grouped per channel, paced, retried, never posted twice, never lost.

- A burst of alerts for one channel becomes one grouped message.
- Posts to one channel are at least `min_gap` seconds apart (Slack: ~1 message/s/channel).
- 429 waits for Retry-After; 5xx, network errors and unreadable answers back off; the jobs stay in
  the outbox meanwhile.
- Every post attempt gets a batch id, recorded on its jobs before the post and carried in the
  message's metadata. A job that was attempted before (a crash, or a 5xx whose post did land) is
  first looked up in the channel: jobs found in an earlier message are settled with *that* message,
  and exactly the jobs found nowhere are posted. Each incident is linked to the message that names it.
- If the channel's history cannot be read at all (the bot is not a member), the retry posts: a
  possible duplicate is better than a lost alert.
- Permanent Slack errors (bot not in channel, archived…) drop the job with an error log, and the
  channel's `/chargebox list` says so.

Who hears of what (fan-out, holds, recovery only if alerted, escalation, order, dead letters) is
decided by the rules in domain/notify.py; this module gathers the facts they need and sends.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from thorbot.adapters.oncall_store import ALL
from thorbot.adapters.slack import SlackApi
from thorbot.context import Stores
from thorbot.domain.alerts import render_alert, render_escalation, render_recovery, render_thor_down, render_thor_up
from thorbot.domain.digest import digest_period, lateness, latest_due
from thorbot.domain.incidents import BoxRecord
from thorbot.domain.notify import Job, JobKind, Skip, ready_to_send, skip_reason
from thorbot.domain.report_view import render_digest
from thorbot.domain.session_messages import SessionView, render_stop_outcome, render_stuck
from thorbot.domain.sessions import started_by, stop_id_tag
from thorbot.domain.text import escape, slack_date, truncate
from thorbot.errors import SlackError, SlackPermanent, SlackRateLimited
from thorbot.services.alert_state import redraw_alert
from thorbot.services.reports import ReportBuilds, gather_report
from thorbot.worker.lease import Lease, LostLease

log = logging.getLogger(__name__)
EVENT_TYPE = "thorbot_delivery"
HISTORY_PAGES = 10  # how far back (x 100 messages) a retry looks for its earlier post
Payload = dict[str, Any]
Step = Callable[[str, list[Job]], Awaitable[None]]


class RetryLater(Exception):
    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.0f}s")
        self.delay = delay


@dataclass(frozen=True)
class Posted:
    """An earlier post that already carries a job: its ts and the incidents it names."""

    ts: str
    incidents: tuple[str, ...]
    jobs: tuple[str, ...] = ()


class Deliverer:
    """Sends the outbox. Who is told what is decided by domain/notify.py; this gathers the facts it needs."""

    def __init__(self, stores: Stores, slack: SlackApi, clock: Callable[[], datetime],
                 lease: Lease, *, reports: ReportBuilds, min_gap: float = 1.0, concurrency: int = 8,
                 escalate_max: int = 3, offer_stop: bool = False) -> None:
        self.store = stores.boxes
        self.oncall = stores.oncall
        self.digests = stores.digests
        self.reports = reports
        self.escalate_max = escalate_max
        self.offer_stop = offer_stop  # a Stop button only when someone may press it
        self.slack = slack
        self.clock = clock
        self.lease = lease  # the leader lease of the worker this deliverer belongs to
        self.min_gap = min_gap
        self._gate = asyncio.Semaphore(concurrency)
        self._last_post: dict[str, float] = {}
        self.posts = 0
        # How each kind of message is sent; alerts of one moment go out together as one grouped message.
        self._senders: dict[JobKind, Step] = {
            JobKind.ALERT: self._alerts, JobKind.RECOVERY: self._recovery, JobKind.THOR_DOWN: self._thor_notice,
            JobKind.THOR_UP: self._thor_notice, JobKind.ESCALATE: self._escalation,
            JobKind.ESCALATE_DM: self._escalation, JobKind.SESSION_STUCK: self._stuck,
            JobKind.STOP_OUTCOME: self._stop_outcome, JobKind.DIGEST: self._digest,
        }
        self.sessions = stores.sessions

    async def deliver_due(self) -> int:
        """Deliver every job that is due, in order per channel; return how many jobs were settled."""
        now = self.clock()
        if not await self.store.anything_due(now):
            return 0
        ready = ready_to_send(await self.store.pending_jobs(), now)
        results = await asyncio.gather(*(self._channel(c, js) for c, js in ready.items()))
        return sum(results)

    async def _channel(self, channel: str, jobs: list[Job]) -> int:
        async with self._gate:
            settled = 0
            for step_jobs in _steps(jobs):
                try:
                    await self._senders[step_jobs[0].kind](channel, step_jobs)
                    settled += len(step_jobs)
                except RetryLater as wait:
                    await self.store.reschedule(step_jobs, self.clock() + timedelta(seconds=wait.delay))
                    break  # keep this channel's order: later messages wait too
            return settled

    async def _skip(self, channel: str, jobs: list[Job], why: Skip) -> None:
        if why is Skip.DEAD:
            log.error("dropping %d %s message(s) for %s: %s", len(jobs), jobs[0].kind.value, channel, why.value)
        await self.store.delivered(jobs, channel, None, [])

    async def _alerts(self, channel: str, jobs: list[Job]) -> None:
        earlier = await self._settle_already_posted(channel, jobs, None)
        for message in earlier.values():
            await self._after_alert(channel, message.ts, list(message.incidents))
        settled = {job_id for message in earlier.values() for job_id in message.jobs}
        now = self.clock()
        incidents = {i.id: i for i in await self.store.incidents([j.incident_id for j in jobs if j.incident_id])}
        shown: list[Job] = []
        for job in (j for j in jobs if j.id not in settled):
            incident = incidents.get(job.incident_id or "")
            if incident is None:
                await self._skip(channel, [job], Skip.FORGOTTEN)
                continue
            held = await self.oncall.held(channel, incident.box_id, now) is not None
            why = skip_reason(job, now=now, watching=await self.store.is_watching(channel, job.box_id), held=held)
            if why is None:
                shown.append(job)
            else:
                await self._skip(channel, [job], why)
        if not shown:
            return
        target = await self.oncall.oncall(channel)
        shown_incidents = [incidents[j.incident_id or ""] for j in shown]
        payload = render_alert(shown_incidents, now, mention=target.mention if target else None)
        ids = [i.id for i in shown_incidents]
        ts = await self._post(channel, shown, payload, incident_ids=ids)
        await self.store.delivered(shown, channel, ts, ids)
        if ts:
            await self._after_alert(channel, ts, ids)

    async def _after_alert(self, channel: str, ts: str, incident_ids: list[str]) -> None:
        if self.escalate_max <= 0 or await self.oncall.oncall(channel) is None:
            return
        if any(i.resolved is None for i in await self.store.incidents(incident_ids)):
            await self.oncall.schedule_escalation(channel, ts, self.clock())

    async def _recovery(self, channel: str, jobs: list[Job]) -> None:
        """Into the alert's thread: every alert posted gets exactly one, even one that went out late."""
        job = jobs[0]
        incident = await self.store.incident(job.incident_id or "")
        alert_ts = await self.store.alert_ts(job.incident_id or "", channel)
        why = skip_reason(job, now=self.clock(), watching=await self.store.is_watching(channel, job.box_id),
                          alert_posted=incident is not None and alert_ts is not None)
        if why is not None or incident is None or alert_ts is None:
            await self._skip(channel, jobs, why or Skip.NEVER_ALERTED)
            return
        if await self._settle_already_posted(channel, jobs, alert_ts):
            return
        ts = await self._post(channel, jobs, render_recovery(incident), thread_ts=alert_ts)
        await self.store.delivered(jobs, channel, ts, [])
        await redraw_alert(self.store, self.oncall, self.slack, channel, alert_ts, self.clock())

    async def _thor_notice(self, channel: str, jobs: list[Job]) -> None:
        job = jobs[0]
        why = skip_reason(job, now=self.clock())
        if why is not None:
            await self._skip(channel, jobs, why)
            return
        if await self._settle_already_posted(channel, jobs, None):
            return
        since = job.since or job.created
        if job.kind is JobKind.THOR_DOWN:
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
        needed = bool(incidents) and await self.oncall.ack(channel, ts) is None
        why = skip_reason(job, now=self.clock(), still_needed=needed,
                          target_is_person=target is not None and target.kind == "user")
        if why is not None or target is None and job.kind is JobKind.ESCALATE_DM:
            await self._skip(channel, jobs, why or Skip.GROUP_TARGET)
            return
        if job.kind is JobKind.ESCALATE:
            if await self._settle_already_posted(channel, jobs, ts):
                return
            payload = render_escalation(incidents, job.cycles, self.escalate_max, target.mention if target else None)
            posted = await self._post(channel, jobs, payload, thread_ts=ts)
        else:
            assert target is not None
            payload = render_escalation(incidents, job.cycles, self.escalate_max, None, channel=channel)
            posted = await self._post_dm(target.id, jobs, payload)
        await self.store.delivered(jobs, channel, posted, [])

    async def _stuck(self, channel: str, jobs: list[Job]) -> None:
        """A low-severity notice for a charge that stalled or ran for a day: no mention, a Stop button."""
        job = jobs[0]
        session = job.session
        now = self.clock()
        held = session is not None and await self.oncall.held(channel, session.box_id, now) is not None
        why = skip_reason(job, now=now, watching=await self.store.is_watching(channel, job.box_id), held=held)
        if why is not None or session is None:
            await self._skip(channel, jobs, why or Skip.FORGOTTEN)
            return
        if await self._settle_already_posted(channel, jobs, None):
            return
        note = (await self.sessions.start_notes([session.transaction])).get(session.transaction)
        record = (await self.store.record_statuses([session.box_id])).get(session.box_id)
        view = SessionView(session, started_by(session, note), stop_id_tag(session, note) is not None,
                           offer_stop=self.offer_stop)
        payload = render_stuck(view, name=(record.alias if record and record.alias else session.box_id),
                               reason=job.reason or "stalled", flat_since=job.since or session.started, now=now)
        ts = await self._post(channel, jobs, payload)
        await self.store.delivered(jobs, channel, ts, [])

    async def _digest(self, channel: str, jobs: list[Job]) -> None:
        """A channel's scheduled digest, rendered now from Redis; late when it was queued late."""
        job = jobs[0]
        plan = await self.digests.plan(channel)
        now = self.clock()
        why = skip_reason(job, now=now)
        if why is not None or plan is None or job.since is None:
            await self._skip(channel, jobs, why or Skip.FORGOTTEN)
            return
        if await self._settle_already_posted(channel, jobs, None):
            return
        due = latest_due(plan, job.since)
        boxes, whole_fleet = await self.store.channel_subscriptions(channel)
        scope = None if whole_fleet else sorted(boxes)
        records = await self.store.records()
        report = await gather_report(self.store.redis, digest_period(plan, due), now, scope, records)
        in_scope = records if scope is None else {b: r for b, r in records.items() if b in boxes}
        down = [f"{escape(truncate(r.alias or b, 60))} ({r.incident.kind})" for b, r in sorted(in_scope.items())
                if r.incident is not None and r.incident.resolved is None]
        holds = [f"{escape(truncate(_hold_name(h.box_id, records), 60))} ({h.kind} until {slack_date(h.until)})"
                 for h in await self.oncall.holds(channel, now)]
        payload = render_digest(report, cadence=plan.cadence, down_now=down, holds=holds,
                                late_by=lateness(job.since, job.created), now=now)
        ts = await self._post(channel, jobs, payload)
        await self.store.delivered(jobs, channel, ts, [])

    async def _stop_outcome(self, channel: str, jobs: list[Job]) -> None:
        """In the thread of a remote stop's audit message: confirmed, or not."""
        job = jobs[0]
        request = (await self.sessions.stop_requests([job.stop_id or ""])).get(job.stop_id or "")
        if request is None or job.message_ts is None:
            await self._skip(channel, jobs, Skip.FORGOTTEN)
            return
        if await self._settle_already_posted(channel, jobs, job.message_ts):
            return
        payload = render_stop_outcome(name=request.alias or request.box_id, connector=request.connector,
                                      confirmed=job.reason == "confirmed", energy_wh=request.energy_wh,
                                      waited=(request.settled_at or job.created) - request.at)
        ts = await self._post(channel, jobs, payload, thread_ts=job.message_ts)
        await self.store.delivered(jobs, channel, ts, [])

    async def _post_dm(self, user: str, jobs: list[Job], payload: Payload) -> str | None:
        try:
            dm = await self.slack.open_dm(user)
        except SlackPermanent as exc:
            log.error("cannot open a DM with %s (%s); the escalation stays in the alert's thread", user, exc.error)
            return None
        except SlackError as exc:
            raise self._retry(exc, jobs) from exc
        return await self._post(dm, jobs, payload)

    async def _post(self, channel: str, jobs: list[Job], payload: Payload, thread_ts: str | None = None,
                    *, incident_ids: list[str] | None = None) -> str | None:
        """Post once, recording the attempt first; None when Slack refused for good (the jobs are dropped)."""
        batch = uuid.uuid4().hex[:16]
        await self._pace(channel)
        # Fenced by the leader lease (and renewing it): a worker that lost the lease while paused or cut off
        # must not post what the new leader is about to post. Redis saying yes is not enough: the yes must
        # come back while the lease still holds by this worker's clock, checked right before the post.
        sent = self.lease.sending()
        if not await self.store.claim_for_post(self.lease.token, self.lease.timing.ttl, jobs, batch, incident_ids):
            self.lease.lost()
            raise LostLease()
        self.lease.renewed(sent)
        self.lease.check()
        try:
            ts = await self.slack.post_message(channel, payload, thread_ts=thread_ts,
                                               metadata={"event_type": EVENT_TYPE, "event_payload": {"batch": batch}})
        except SlackPermanent as exc:
            log.error("cannot post in %s (%s); dropping %d message(s). Is the bot in that channel?", channel,
                      exc.error, len(jobs))
            # The message is dropped, but the channel's `list` says so (nobody else would).
            await self.store.record_delivery_error(channel, exc.error, self.clock())
            return None
        except SlackError as exc:
            raise self._retry(exc, jobs) from exc
        self.posts += 1
        await self.store.clear_delivery_error(channel)
        return ts

    def _retry(self, exc: SlackError, jobs: list[Job]) -> RetryLater:
        if isinstance(exc, SlackRateLimited):
            return RetryLater(max(exc.retry_after, 0.5))
        log.warning("Slack failed (%s); will retry %d job(s)", exc.error, len(jobs))
        return RetryLater(_backoff(jobs))

    async def _settle_already_posted(self, channel: str, jobs: list[Job], thread_ts: str | None
                                     ) -> dict[str, Posted]:
        """Settle the jobs an earlier attempt already posted, each with the message that carries it.

        Returns {ts: the message} for what was found; jobs not in it are still to be posted.
        """
        found = await self._find_posted(channel, jobs, thread_ts)
        by_ts: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            if job.id in found:
                by_ts[found[job.id].ts].append(job)
        messages: dict[str, Posted] = {}
        for ts, group in by_ts.items():
            named = tuple(dict.fromkeys(i for j in group for i in found[j.id].incidents))
            messages[ts] = Posted(ts, named, tuple(j.id for j in group))
            log.info("found an earlier post of %d job(s) in %s; not posting them again", len(group), channel)
            await self.store.delivered(group, channel, ts, list(named))
        return messages

    async def _find_posted(self, channel: str, jobs: list[Job], thread_ts: str | None) -> dict[str, Posted]:
        """job id → the earlier message that carries it, looked up by the batch ids in message metadata."""
        wanted = {b for j in jobs for b in j.batches}
        legacy = {j.id for j in jobs if j.attempted}  # posts made before batch ids listed their job ids
        if not wanted and not legacy:
            return {}
        messages: dict[str, str] = {}  # batch or legacy job id → ts
        cursor: str | None = None
        try:
            for _ in range(HISTORY_PAGES):
                page, cursor = await self.slack.messages(channel, thread_ts=thread_ts, cursor=cursor)
                for message in page:
                    for key in _delivery_keys(message):
                        messages.setdefault(key, str(message.get("ts", "")))
                if cursor is None or all(any(b in messages for b in j.batches) or j.id in messages for j in jobs):
                    break
        except SlackPermanent as exc:
            log.warning("cannot read %s to check for an earlier post (%s); posting again rather than losing it",
                        channel, exc.error)
            return {}
        except SlackError as exc:
            raise RetryLater(5) from exc  # cannot tell whether it was posted: do not risk a duplicate yet
        found: dict[str, Posted] = {}
        for job in jobs:
            batch = next((b for b in reversed(job.batches) if b in messages), None)
            if batch is not None:
                named = await self.store.batch_incidents(batch)
                found[job.id] = Posted(messages[batch], tuple(named if named is not None else _own(job)))
            elif job.id in messages:
                found[job.id] = Posted(messages[job.id], tuple(_own(job)))
        return found

    async def _pace(self, channel: str) -> None:
        last = self._last_post.get(channel)
        if last is not None:
            wait = self.min_gap - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_post[channel] = time.monotonic()


def _steps(jobs: list[Job]) -> list[list[Job]]:
    """The channel's ready jobs as send steps: the alerts together (one grouped message), the rest one by one."""
    alerts = [j for j in jobs if j.kind is JobKind.ALERT]
    steps = [alerts] if alerts else []
    return steps + [[j] for j in jobs if j.kind is not JobKind.ALERT]


def _delivery_keys(message: dict[str, Any]) -> list[str]:
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != EVENT_TYPE:
        return []
    payload = meta.get("event_payload")
    if not isinstance(payload, dict):
        return []
    keys = [str(payload["batch"])] if payload.get("batch") else []
    legacy = payload.get("jobs")
    return keys + ([str(j) for j in legacy] if isinstance(legacy, list) else [])


def _own(job: Job) -> list[str]:
    return [job.incident_id] if job.kind == "alert" and job.incident_id else []


def _backoff(jobs: list[Job]) -> float:
    attempts = max((j.attempts for j in jobs), default=0)
    return float(min(300, 2 ** min(attempts, 8)))


def _hold_name(box_id: str, records: dict[str, BoxRecord]) -> str:
    if box_id == ALL:
        return "every box watched here"
    record = records.get(box_id)
    return record.alias if record is not None and record.alias else box_id
