"""Redis adapter: the outbox, the jobs (alerts, digests, pages…) waiting to be sent, and what their sending left."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.notify import Job, read_job

log = logging.getLogger(__name__)
_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[3])
for i = 5, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""

MAX_BATCHES = 20


def _ts(when: datetime) -> float:
    return when.astimezone(UTC).timestamp()


def enqueue_jobs(pipe: object, jobs: list[Job]) -> None:
    """Queue `jobs` on a pipeline (a job already queued is left as it is): the cycle's commit queues through this."""
    for job in jobs:
        pipe.hsetnx(keys.OUTBOX, job.id, job.model_dump_json())  # type: ignore[attr-defined]
        pipe.zadd(keys.OUTBOX_DUE, {job.id: _ts(job.created)}, nx=True)  # type: ignore[attr-defined]


class OutboxStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._unreadable_jobs = 0

    async def enqueue(self, jobs: list[Job]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            enqueue_jobs(pipe, jobs)
            await pipe.execute()

    async def anything_due(self, now: datetime) -> bool:
        """One round trip: is any job due (the usual answer, on a quiet cycle, is no)?"""
        return bool(await self.redis.zrangebyscore(keys.OUTBOX_DUE, "-inf", _ts(now), start=0, num=1))

    async def pending_jobs(self) -> list[tuple[Job, datetime]]:
        """Every job in the outbox with the time it is due (the outbox is small except in storms)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.OUTBOX)
            pipe.zrange(keys.OUTBOX_DUE, 0, -1, withscores=True)
            stored, scheduled = await pipe.execute()
        due = {str(job_id): float(score) for job_id, score in scheduled}
        orphans = [job_id for job_id in due if job_id not in stored]
        if orphans:
            await self.redis.zrem(keys.OUTBOX_DUE, *orphans)
        jobs: list[tuple[Job, datetime]] = []
        unreadable = 0
        for job_id, raw in stored.items():
            try:
                job = read_job(raw)
            except ValueError:  # a kind from a newer thorbot (a deploy's overlap): left for it to send
                unreadable += 1
                continue
            jobs.append((job, datetime.fromtimestamp(due.get(str(job_id), 0.0), tz=UTC)))
        if unreadable and unreadable != self._unreadable_jobs:  # once per change, not every delivery tick
            log.warning("%d outbox job(s) this version cannot read (written by a newer thorbot?); left for it",
                        unreadable)
        self._unreadable_jobs = unreadable
        return jobs

    async def pending_count(self) -> int:
        return int(await self.redis.hlen(keys.OUTBOX))

    async def claim_for_post(self, token: str, ttl_s: float, jobs: list[Job], batch: str,
                             incident_ids: list[str] | None) -> bool:
        """Record a post attempt, iff `token` still holds the lease (renewed here); False otherwise.

        A retry then looks for the post in Slack first. Fenced: a paused ex-leader cannot post what the new
        leader delivers, and jobs another worker settled meanwhile are not brought back.
        """
        marked = [j.model_copy(update={"attempted": True, "attempts": j.attempts + 1,
                                       "batches": [*j.batches, batch][-MAX_BATCHES:]}) for j in jobs]
        args: list[str | int] = [token, int(ttl_s * 1000), keys.BATCH_TTL,
                                 json.dumps({"jobs": [j.id for j in jobs], "incidents": incident_ids or []})]
        for job in marked:
            args += [job.id, job.model_dump_json()]
        claimed = await self.redis.eval(_CLAIM, 3, keys.LEASE, keys.OUTBOX, keys.batch(batch), *args)
        return bool(claimed)

    async def batch_incidents(self, batch: str) -> list[str] | None:
        """The incidents a post (by its batch id) names, or None when thorbot no longer knows."""
        raw = await self.redis.get(keys.batch(batch))
        return list(json.loads(raw).get("incidents", [])) if raw else None

    async def delivered(self, jobs: list[Job], channel: str, ts: str | None, incident_ids: list[str], *,
                        then: list[Job] | None = None) -> None:
        """Record where the alert landed, remove the jobs and queue what follows from them, in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if then:
                enqueue_jobs(pipe, then)
            if ts is not None:
                for incident_id in incident_ids:
                    pipe.set(keys.alert_message(incident_id, channel), ts, ex=keys.INCIDENT_TTL)
                if incident_ids:
                    pipe.set(keys.message(channel, ts), json.dumps(incident_ids), ex=keys.INCIDENT_TTL)
            ids = [j.id for j in jobs]
            if ids:
                pipe.hdel(keys.OUTBOX, *ids)
                pipe.zrem(keys.OUTBOX_DUE, *ids)
            await pipe.execute()

    async def record_delivery_error(self, channel: str, error: str, at: datetime) -> None:
        await self.redis.hset(keys.DELIVERY_ERRORS, channel, json.dumps({"error": error, "at": at.isoformat()}))

    async def clear_delivery_error(self, channel: str) -> None:
        await self.redis.hdel(keys.DELIVERY_ERRORS, channel)

    async def delivery_error(self, channel: str) -> tuple[str, datetime] | None:
        raw = await self.redis.hget(keys.DELIVERY_ERRORS, channel)
        if not raw:
            return None
        data = json.loads(raw)
        return str(data["error"]), datetime.fromisoformat(data["at"])

    async def reschedule(self, jobs: list[Job], due: datetime) -> None:
        if jobs:
            await self.redis.zadd(keys.OUTBOX_DUE, {j.id: _ts(due) for j in jobs})

