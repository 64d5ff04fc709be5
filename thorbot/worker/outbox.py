"""The outbox, one mechanism: deliver what is due, grouped per channel, paced, fenced, never twice, never lost.

- A burst of alerts for one channel becomes one grouped message; everything else goes one by one,
  oldest first per channel (a recovery never overtakes its alert; one waiting for a retry holds back
  those after it).
- Posts to one channel are at least `min_gap` seconds apart (Slack: ~1 message/s/channel).
- 429 waits for Retry-After; 5xx, network errors and unreadable answers back off, with jitter (one
  policy for every retry: domain/backoff.py); the jobs stay in the outbox meanwhile.
- Every post attempt is claimed first, under the leader lease: the claim records a batch id on its
  jobs, carried in the message's metadata, and the post is made only while this worker still holds
  the lease by its own clock (worker/lease.py).
- A job attempted before (a crash, or a 5xx whose post did land) is first looked up in the channel:
  jobs found in an earlier message are settled with *that* message, and exactly the jobs found
  nowhere are posted. If the channel's history cannot be read at all (the bot is not a member), the
  retry posts: a possible duplicate is better than a lost alert.
- Permanent Slack errors (bot not in channel, archived…) drop the jobs with an error log, and the
  channel's `/chargebox list` says so.

What each kind of message says, to whom and when it is skipped is its sender's (worker/senders.py); which
sender sends which kind is declared once, in worker/kinds.py. A sender is typed by the job model it sends
(`SenderFor[AlertJob]`); the outbox holds them all, so its table erases that to `SenderFor[Any]`: the `kind`
discriminator already guarantees each sender gets only jobs of its own model.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from thorbot.adapters.outbox_store import OutboxStore
from thorbot.adapters.slack import SlackApi
from thorbot.domain.backoff import Random
from thorbot.domain.notify import AlertJob, Job, JobKind, Skip, ready_to_send
from thorbot.errors import SlackError, SlackPermanent, SlackRateLimited
from thorbot.worker.lease import Lease, LostLease

log = logging.getLogger(__name__)
EVENT_TYPE = "thorbot_delivery"
HISTORY_PAGES = 10  # how far back (x 100 messages) a retry looks for its earlier post
Payload = dict[str, Any]
J = TypeVar("J", bound=Job)  # the job model(s) a sender sends


class RetryLater(Exception):
    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.0f}s")
        self.delay = delay


@dataclass(frozen=True)
class Where:
    """Where a step's message goes: the channel (or a thread in it), or a person's DMs."""

    thread_ts: str | None = None
    dm_to: str | None = None  # a user: DMs cannot be read back, so an earlier post is never looked for


@dataclass(frozen=True)
class MessageFor(Generic[J]):
    """What a sender wants posted for the jobs it did not skip."""

    jobs: list[J]
    render: Callable[[list[J]], Payload]  # pure: the payload for those of `jobs` still to post
    names: Callable[[list[J]], list[str]] = field(default=lambda jobs: [])  # incidents it shows (alerts)
    # Jobs that follow from the post (its page), queued in the same transaction that settles it: a crash right
    # after the post cannot lose them. Given the posted message's ts.
    then: Callable[[str], list[Job]] = field(default=lambda ts: [])


@dataclass(frozen=True)
class PlanFor(Generic[J]):
    skip: list[tuple[J, Skip]] = field(default_factory=list)
    message: MessageFor[J] | None = None


class SenderFor(Protocol[J]):
    """One kind of message: where it goes, what it says, when it is skipped; I/O only to gather facts."""

    async def where(self, channel: str, jobs: list[J]) -> Where:
        """Where the message goes (a thread is also where an earlier attempt is looked for)."""
        ...

    async def plan(self, channel: str, jobs: list[J], now: datetime) -> PlanFor[J]:
        """Which jobs to skip (and why), and the message for the rest."""
        ...

    async def landed(self, channel: str, ts: str, incident_ids: list[str], where: Where, *,
                     earlier: bool = False) -> None:
        """After the message is in Slack (posted now, or `earlier`: found from an earlier attempt, whose jobs were
        not settled, nor what follows from them queued)."""
        ...


@runtime_checkable
class DirectSender(SenderFor[J], Protocol[J]):
    """A kind delivered somewhere other than Slack (a pager): `deliver` sends it, raising RetryLater to keep it
    for later; claimed and fenced by the lease like a post. Its receiver must take a repeat harmlessly (a
    crash after it took the event and before the outbox settled it sends it again)."""

    direct: bool

    async def deliver(self, channel: str, jobs: list[J], now: datetime) -> None:
        ...


@dataclass(frozen=True)
class Posted:
    """An earlier post that already carries a job: its ts and the incidents it names."""

    ts: str
    incidents: tuple[str, ...]
    jobs: tuple[str, ...] = ()


class Outbox:
    def __init__(self, store: OutboxStore, slack: SlackApi, clock: Callable[[], datetime], lease: Lease,
                 senders: Mapping[JobKind, SenderFor[Any]], *, min_gap: float = 1.0, concurrency: int = 8,
                 rand: Random = random.random) -> None:
        self.store = store
        self.rand = rand
        self.slack = slack
        self.clock = clock
        self.lease = lease
        self.senders = senders
        self.min_gap = min_gap
        self._gate = asyncio.Semaphore(concurrency)
        self._last_post: dict[str, float] = {}
        self.posts = 0

    async def deliver_due(self) -> int:
        """Deliver every job that is due, in order per channel; return how many jobs were settled."""
        now = self.clock()
        if not await self.store.anything_due(now):
            return 0
        ready = ready_to_send(await self.store.pending_jobs(), now)
        tasks = [asyncio.ensure_future(self._channel(c, js)) for c, js in ready.items()]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            # One channel failed (the lease lost, Redis gone): stop the others before going on. Left running,
            # they would still be posting when the next tick delivers the same jobs again: a duplicate. A post
            # cut short is no worse than a crash: its claim is recorded, and the next attempt looks for it.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return sum(results)

    async def _channel(self, channel: str, jobs: list[Job]) -> int:
        async with self._gate:
            settled = 0
            for step in _steps(jobs):
                try:
                    await self._step(channel, step)
                    settled += len(step)
                except RetryLater as wait:
                    await self.store.reschedule(step, self.clock() + timedelta(seconds=wait.delay))
                    break  # keep this channel's order: later messages wait too
            return settled

    async def _step(self, channel: str, jobs: list[Job]) -> None:
        sender = self.senders[jobs[0].kind]
        if isinstance(sender, DirectSender) and sender.direct:
            await self._direct(channel, jobs, sender)
            return
        where = await sender.where(channel, jobs)
        if where.dm_to is None:  # an earlier attempt may have landed: settle what it carried first
            for earlier in (await self._already_posted(channel, jobs, where.thread_ts)).values():
                # What follows from the post (its page) is queued before the jobs are settled: a crash between
                # the two finds the post again next time and queues it again (idempotently), rather than never.
                await sender.landed(channel, earlier.ts, list(earlier.incidents), where, earlier=True)
                settled = [j for j in jobs if j.id in earlier.jobs]
                await self.store.delivered(settled, channel, earlier.ts, list(earlier.incidents))
                jobs = [j for j in jobs if j.id not in earlier.jobs]
            if not jobs:
                return
        plan = await sender.plan(channel, jobs, self.clock())
        for job, why in plan.skip:
            if why is Skip.DEAD:
                log.error("dropping a %s message for %s: %s", job.kind.value, channel, why.value,
                          extra={"channel": channel})
            await self.store.delivered([job], channel, None, [])
        message = plan.message
        if message is None or not message.jobs:
            return
        ids = message.names(message.jobs)
        ts = await self._post(channel, message.jobs, message.render(message.jobs), where, incident_ids=ids)
        await self.store.delivered(message.jobs, channel, ts, ids, then=message.then(ts) if ts is not None else [])
        if ts is not None:
            await sender.landed(channel, ts, ids, where)

    async def _direct(self, channel: str, jobs: list[Job], sender: DirectSender[Any]) -> None:
        plan = await sender.plan(channel, jobs, self.clock())
        for job, why in plan.skip:
            log.info("not sending %s: %s", job.id[:120], why.value)
            await self.store.delivered([job], channel, None, [])
        if plan.message is None or not plan.message.jobs:
            return
        jobs = plan.message.jobs
        await self._claim(jobs, uuid.uuid4().hex[:16], None)
        await sender.deliver(channel, jobs, self.clock())
        await self.store.delivered(jobs, channel, None, [])

    async def _claim(self, jobs: list[Job], batch: str, incident_ids: list[str] | None) -> None:
        """Claim the attempt under the lease, and check the lease still holds by this worker's clock: a worker
        that lost it while paused or cut off must not send what the new leader is about to send."""
        sent = self.lease.sending()
        if not await self.store.claim_for_post(self.lease.token, self.lease.timing.ttl, jobs, batch, incident_ids):
            self.lease.lost()
            raise LostLease()
        self.lease.renewed(sent)
        self.lease.check()

    async def _post(self, channel: str, jobs: list[Job], payload: Payload, where: Where, *,
                    incident_ids: list[str]) -> str | None:
        """Post once, claiming the attempt first; None when Slack refused for good (the jobs are dropped)."""
        target = channel
        if where.dm_to is not None:
            try:
                target = await self.slack.open_dm(where.dm_to)
            except SlackPermanent as exc:
                log.error("cannot open a DM with %s (%s); the escalation stays in the alert's thread", where.dm_to,
                          exc.error)
                return None
            except SlackError as exc:
                raise self._retry(exc, jobs) from exc
        batch = uuid.uuid4().hex[:16]
        await self._pace(target)
        # Fenced by the leader lease (and renewing it). Redis saying yes is not enough: the yes must come back
        # while the lease still holds by this worker's clock, checked right before the post.
        await self._claim(jobs, batch, incident_ids or None)
        try:
            ts = await self.slack.post_message(target, payload, thread_ts=where.thread_ts,
                                               metadata={"event_type": EVENT_TYPE, "event_payload": {"batch": batch}})
        except SlackPermanent as exc:
            log.error("cannot post in %s (%s); dropping %d message(s). Is the bot in that channel?", target,
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
        """The wait before the next try, by the retry policy the kind declares (domain/notify.py `Delivery`; every
        kind posted to Slack declares domain/backoff.py's SLACK). A step's jobs are all of one kind."""
        tries = max((j.attempts for j in jobs), default=0)
        policy = jobs[0].delivery.retry
        if isinstance(exc, SlackRateLimited):
            return RetryLater(policy.delay(tries, self.rand, exc.retry_after))
        log.warning("Slack failed (%s); will retry %d job(s)", exc.error, len(jobs))
        return RetryLater(policy.delay(tries, self.rand))

    async def _already_posted(self, channel: str, jobs: list[Job], thread_ts: str | None) -> dict[str, Posted]:
        """The jobs an earlier attempt already posted, by the message that carries them: {ts: the message}; jobs
        not in any are still to be posted."""
        found = await self._find_posted(channel, jobs, thread_ts)
        by_ts: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            if job.id in found:
                by_ts[found[job.id].ts].append(job)
        messages: dict[str, Posted] = {}
        for ts, group in by_ts.items():
            named = tuple(dict.fromkeys(i for j in group for i in found[j.id].incidents))
            messages[ts] = Posted(ts, named, tuple(j.id for j in group))
            log.info("found an earlier post of %d job(s) in %s; not posting them again", len(group), channel,
                     extra={"channel": channel})
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
            raise self._retry(exc, jobs) from exc  # cannot tell whether it was posted: do not risk a duplicate yet
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
    alerts: list[Job] = [j for j in jobs if j.kind is JobKind.ALERT]
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
    return [job.incident_id] if isinstance(job, AlertJob) else []
