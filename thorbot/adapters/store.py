"""Redis adapter: subscriptions, box records, incidents, the outbox and the leader lease.

Every state transition is committed in one MULTI/EXEC fenced by the leader lease (WATCH), so a
worker that lost its lease mid-cycle cannot write, and state and the alerts it implies land
together or not at all.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.exceptions import ResponseError, WatchError

from thorbot.adapters import keys
from thorbot.adapters.digest_store import write_posted
from thorbot.adapters.history_store import HistoryCommit, read_records, write_cycle
from thorbot.adapters.session_store import (
    ATTEMPTS_KEPT,
    StopRequest,
    attempt_entry,
    history_fields,
    stale_history_fields,
)
from thorbot.adapters.usage_store import write_usage
from thorbot.domain.failed_starts import Attempt, ConnectorRecord, connector_key
from thorbot.domain.incidents import BoxRecord, Incident
from thorbot.domain.notify import Job, ThorHealth, Watchers, read_job
from thorbot.domain.sessions import SessionWatch
from thorbot.domain.usage import Usage

log = logging.getLogger(__name__)
_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# Every subscribing channel with its boxes, in one round trip. The per-channel keys are not in KEYS (they are
# not known before the script runs); all share the {thorbot} hash tag, so they live in the same slot.
_SUBSCRIPTIONS = """
local out = {}
for _, channel in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = channel
  out[#out + 1] = redis.call('SMEMBERS', ARGV[1] .. channel)
end
return out
"""
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
_SIGHTED = """
for i = 1, #ARGV - 1, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[#ARGV])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Commit(BaseModel):
    """Everything one poll cycle decided, written atomically."""

    records: dict[str, BoxRecord] = {}
    forget: list[str] = []
    abandon: list[str] = []  # open incidents of forgotten boxes: kept for INCIDENT_TTL, then gone
    incidents: list[Incident] = []
    jobs: list[Job] = []
    thor: ThorHealth | None = None
    sessions: SessionCommit | None = None
    history: HistoryCommit | None = None
    digests_posted: dict[str, str] = {}  # channel → digest period queued in this commit
    sighted_done: list[str] = []  # boxes whose subscribe-time sighting the worker now holds a record for
    handoffs: dict[str, float] = {}  # channel → the change of who is on call announced in this commit
    held_settled: list[str] = []  # keys.HELD_ALERTS members dealt with: posted now, or nothing left to say
    # What `boxes:version` becomes when records change (the poller names it, to know its own write; else fresh).
    records_version: str | None = None


class SessionCommit(BaseModel):
    """The session side of a poll cycle (worker/sessions.py), committed with the rest."""

    watches: dict[int, SessionWatch] = {}
    ended: list[int] = []
    connectors: dict[str, ConnectorRecord] = {}
    forget_connectors: list[str] = []
    attempts: list[Attempt] = []
    inbox_taken: int = 0
    driver_reports_taken: int = 0
    person_actions_taken: int = 0
    finished_read: bool = False  # /charges/finished was read this cycle (at `now`)
    stops_settled: list[str] = []
    stop_updates: dict[str, StopRequest] = {}
    usage: dict[tuple[str, int], Usage] = {}  # connectors' usage that changed (domain/usage.py)
    starts: dict[int, float] = {}  # transactions whose start was counted → when it began
    seeded: dict[str, float] = {}  # boxes whose baseline was seeded from Thor's history → when
    usage_version: str | None = None  # `usage:version` after this commit (set when usage changed)
    usage_reset: list[str] = []  # boxes whose usage starts again (renumbered connectors, a clock jump)
    now: datetime


MAX_BATCHES = 20


def _write_sessions(pipe: Any, change: SessionCommit) -> None:
    write_usage(pipe, change.usage, change.starts, change.seeded, change.usage_version, change.now.timestamp(),
                reset=change.usage_reset)
    if change.watches:
        pipe.hset(keys.WATCHES, mapping={str(t): w.model_dump_json() for t, w in change.watches.items()})
    if change.ended:
        pipe.hdel(keys.WATCHES, *[str(t) for t in change.ended])
    if change.watches or change.ended:
        pipe.incr(keys.WATCHES_VERSION)
    _write_connectors(pipe, change)
    write_attempts(pipe, change.attempts, change.now)
    if change.inbox_taken:
        pipe.ltrim(keys.INBOX, change.inbox_taken, -1)
    if change.driver_reports_taken:
        pipe.ltrim(keys.DRIVER_INBOX, change.driver_reports_taken, -1)
    if change.person_actions_taken:
        pipe.ltrim(keys.DRIVER_ACTIONS, change.person_actions_taken, -1)
    if change.finished_read:
        pipe.set(keys.FINISHED_READ_AT, change.now.isoformat())
    if change.stops_settled:
        pipe.zrem(keys.STOPS_PENDING, *change.stops_settled)
    for stop_id, request in change.stop_updates.items():
        pipe.set(keys.stop_request(stop_id), request.model_dump_json(), ex=keys.INCIDENT_TTL)
        pipe.lpush(keys.STOP_AUDIT, request.model_dump_json())
    if change.stop_updates:
        pipe.ltrim(keys.STOP_AUDIT, 0, 999)


def _write_connectors(pipe: Any, change: SessionCommit) -> None:
    """Connectors' records, and the index of those with an open reported incident (keys.DRIVERS_OPEN)."""
    if change.connectors:
        pipe.hset(keys.CONNECTORS, mapping={k: r.model_dump_json() for k, r in change.connectors.items()})
        reported = [k for k, r in change.connectors.items() if r.reported is not None]
        settled = [k for k, r in change.connectors.items() if r.reported is None]
        if reported:
            pipe.sadd(keys.DRIVERS_OPEN, *reported)
        if settled:
            pipe.srem(keys.DRIVERS_OPEN, *settled)
    if change.forget_connectors:
        pipe.hdel(keys.CONNECTORS, *change.forget_connectors)
        pipe.srem(keys.DRIVERS_OPEN, *change.forget_connectors)


def write_attempts(pipe: Any, attempts: list[Attempt], now: datetime) -> None:
    """The connectors' recent attempts (7-day rate) and each box's daily and monthly session history."""
    if not attempts:
        return
    stale_days, stale_months = stale_history_fields(now)
    for box_id in {a.box_id for a in attempts}:
        pipe.hdel(keys.sessions_daily(box_id), *stale_days)
        pipe.hdel(keys.sessions_monthly(box_id), *stale_months)
    for attempt in attempts:
        recent = keys.attempts(connector_key(attempt.box_id, attempt.connector))
        pipe.lpush(recent, attempt_entry(attempt))
        pipe.ltrim(recent, 0, ATTEMPTS_KEPT - 1)
        pipe.expire(recent, keys.ATTEMPTS_TTL)
        day, month = history_fields(attempt)
        outcome = "ok" if attempt.ok else "failed"
        for key, period, ttl in ((keys.sessions_daily(attempt.box_id), day, keys.SESSIONS_DAILY_TTL),
                                 (keys.sessions_monthly(attempt.box_id), month, keys.SESSIONS_MONTHLY_TTL)):
            pipe.hincrby(key, f"{period}:{outcome}", 1)
            if attempt.energy_wh:
                pipe.hincrby(key, f"{period}:wh", attempt.energy_wh)
            pipe.expire(key, ttl)
        if attempt.transaction:
            pipe.zadd(keys.FINISHED_SEEN, {str(attempt.transaction): attempt.at.timestamp()})
    pipe.zremrangebyscore(keys.FINISHED_SEEN, "-inf", (now - timedelta(days=keys.FINISHED_SEEN_DAYS)).timestamp())


# What an unreachable Redis raises. Callers above the adapters catch this tuple instead of importing redis
# themselves: the entry points (worker loop, reply helper, /healthz) decide what to do. A command Redis
# refuses (ResponseError: a bad value, an overflow) is a bad record, not an outage, and is not in here;
# neither is an OS error that is not about the connection (a full disk, a permission).
RedisDown = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ReadOnlyError,
             ConnectionError, TimeoutError, socket.gaierror)
# Any error Redis raises, an outage or a refused command, for callers above the adapters that must tell a refused
# command (a bad record: catch RedisDown first) from an outage without importing redis (serve/thor_webhook.py).
RedisRefused = redis_errors.RedisError


def new_records_version() -> str:
    """A fresh value for `boxes:version`, named by the committer so it knows its own write. An integer: a worker
    of the previous version, still running during a deploy, INCRs it (a string would refuse the INCR, and
    its commits would leave the version as it was, so the new worker would keep stale records)."""
    return str(secrets.randbits(60))


def _write_records(pipe: Any, change: Commit) -> None:
    if change.records:
        pipe.hset(keys.BOXES, mapping={k: v.model_dump_json() for k, v in change.records.items()})
    if change.forget:
        pipe.hdel(keys.BOXES, *change.forget)
    for incident_id in change.abandon:
        pipe.expire(keys.incident(incident_id), keys.INCIDENT_TTL)
    if change.records or change.forget:
        pipe.set(keys.BOXES_VERSION, change.records_version or new_records_version())


def _ts(when: datetime) -> float:
    return when.astimezone(UTC).timestamp()


@dataclass(frozen=True)
class CycleStart:
    """What a poll cycle starts from (Store.cycle_start)."""

    watchers: Watchers
    sighted: dict[str, BoxRecord]  # boxes `subscribe` saw that the worker has no record of yet
    records_version: str
    thor: ThorHealth


def _read_watchers(pipe: Any) -> None:
    pipe.eval(_SUBSCRIPTIONS, 1, keys.SUB_CHANNELS, keys.subs(""))
    pipe.smembers(keys.SUB_ALL)


def _watchers(subscriptions: list[Any], all_channels: Iterable[str]) -> Watchers:
    by_box: dict[str, set[str]] = {}
    for channel, ids in zip(subscriptions[::2], subscriptions[1::2], strict=True):
        for box_id in ids:
            by_box.setdefault(box_id, set()).add(channel)
    return Watchers.of(by_box, all_channels)


class Store:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._unreadable_jobs = 0

    # --- subscriptions -------------------------------------------------------------------
    async def subscribe(self, channel: str, box_ids: Iterable[str]) -> int:
        ids = list(box_ids)
        if not ids:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.subs(channel), *ids)
            pipe.sadd(keys.SUB_CHANNELS, channel)
            added, _ = await pipe.execute()
        return int(added)

    async def subscribe_all(self, channel: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.SUB_ALL, channel)
            pipe.sadd(keys.SUB_CHANNELS, channel)
            added, _ = await pipe.execute()
        return bool(added)

    async def unsubscribe(self, channel: str, box_ids: Iterable[str]) -> int:
        ids = list(box_ids)
        if not ids:
            return 0
        removed = int(await self.redis.srem(keys.subs(channel), *ids))
        await self._forget_channel_if_empty(channel)
        return removed

    async def unsubscribe_all(self, channel: str) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.scard(keys.subs(channel))
            pipe.srem(keys.SUB_ALL, channel)
            pipe.delete(keys.subs(channel))
            pipe.srem(keys.SUB_CHANNELS, channel)
            count, was_all, _, _ = await pipe.execute()
        return int(count) + int(was_all)

    async def _forget_channel_if_empty(self, channel: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.scard(keys.subs(channel))
            pipe.sismember(keys.SUB_ALL, channel)
            count, is_all = await pipe.execute()
        if not count and not is_all:
            await self.redis.srem(keys.SUB_CHANNELS, channel)

    async def channel_subscriptions(self, channel: str) -> tuple[set[str], bool]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.subs(channel))
            pipe.sismember(keys.SUB_ALL, channel)
            ids, is_all = await pipe.execute()
        return set(ids), bool(is_all)

    async def watchers(self) -> Watchers:
        """Which channels watch which boxes (explicitly, or the whole fleet)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            _read_watchers(pipe)
            subscriptions, all_channels = await pipe.execute()
        return _watchers(subscriptions, all_channels)

    async def cycle_start(self) -> CycleStart:
        """What a poll cycle starts from, in one round trip: `watchers()`, the boxes `subscribe` saw that the
        worker has not, the records' version and Thor's health."""
        async with self.redis.pipeline(transaction=False) as pipe:
            _read_watchers(pipe)
            pipe.hgetall(keys.BOXES_SIGHTED)
            pipe.get(keys.BOXES_VERSION)
            pipe.get(keys.THOR)
            subscriptions, all_channels, sighted, version, thor = await pipe.execute()
        return CycleStart(watchers=_watchers(subscriptions, all_channels),
                          sighted={str(b): BoxRecord.model_validate_json(v) for b, v in sighted.items()},
                          records_version=str(version or "0"),
                          thor=ThorHealth.model_validate_json(thor) if thor else ThorHealth())

    async def record_sightings(self, sighted: dict[str, BoxRecord]) -> None:
        """What `subscribe` saw becomes each box's first sighting, unless the worker already has one: a box
        seen online that drops before the worker's first poll is then a change, and alerted."""
        if not sighted:
            return
        args: list[str | int] = []
        for box_id, record in sighted.items():
            args += [box_id, record.model_dump_json()]
        await self.redis.eval(_SIGHTED, 2, keys.BOXES, keys.BOXES_SIGHTED, *args, keys.SIGHTED_TTL)

    async def is_watching(self, channel: str, box_id: str | None) -> bool:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sismember(keys.SUB_ALL, channel)
            pipe.sismember(keys.subs(channel), box_id or "")
            pipe.sismember(keys.SUB_CHANNELS, channel)
            is_all, is_member, has_any = await pipe.execute()
        return bool(has_any) and (bool(is_all) or (box_id is not None and bool(is_member)))

    # --- box records and incidents -------------------------------------------------------
    async def records(self) -> dict[str, BoxRecord]:
        return await read_records(self.redis)

    async def record_statuses(self, box_ids: list[str]) -> dict[str, BoxRecord]:
        if not box_ids:
            return {}
        values = await self.redis.hmget(keys.BOXES, box_ids)
        return {i: BoxRecord.model_validate_json(v) for i, v in zip(box_ids, values, strict=True) if v}

    async def incident(self, incident_id: str) -> Incident | None:
        raw = await self.redis.get(keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    async def incidents(self, incident_ids: list[str]) -> list[Incident]:
        if not incident_ids:
            return []
        values = await self.redis.mget([keys.incident(i) for i in incident_ids])
        return [Incident.model_validate_json(v) for v in values if v]

    async def recent_incidents(self, limit: int) -> list[Incident]:
        """The newest incidents opened (at most `limit`, newest first, each once; resolved ones too while kept)."""
        recent = [str(i) for i in await self.redis.lrange(keys.RECENT, 0, limit - 1)]
        return await self.incidents(list(dict.fromkeys(recent)))

    async def commit(self, token: str, change: Commit) -> bool:
        """Apply one cycle's decisions if and only if `token` still holds the lease.

        A command Redis refuses (say, a counter that would overflow) is a bad record, not an outage: Redis
        applies the rest of the transaction anyway, so the commit has landed but for that command, which is
        logged. Only connection problems (RedisDown) mean Redis is unreachable.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(keys.LEASE)
            if await pipe.get(keys.LEASE) != token:
                await pipe.reset()  # type: ignore[no-untyped-call]
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            self._write(pipe, change)
            try:
                results = await pipe.execute(raise_on_error=False)
            except WatchError:
                return False
        refused = [r for r in results if isinstance(r, ResponseError)]
        if refused:
            log.error("Redis refused %d of the cycle's %d commands (first: %s); the rest of the cycle is stored",
                      len(refused), len(results), str(refused[0])[:200])
        return True

    def _write(self, pipe: Any, change: Commit) -> None:
        pipe.set(keys.SCHEMA, keys.SCHEMA_VERSION)
        _write_records(pipe, change)
        if change.sighted_done:
            pipe.hdel(keys.BOXES_SIGHTED, *change.sighted_done)
        if change.held_settled:
            pipe.zrem(keys.HELD_ALERTS, *change.held_settled)
        if change.handoffs:
            pipe.hset(keys.ROTATIONS_ANNOUNCED, mapping={c: str(t) for c, t in change.handoffs.items()})
        for inc in change.incidents:
            ttl = keys.INCIDENT_TTL if inc.resolved is not None else None
            pipe.set(keys.incident(inc.id), inc.model_dump_json(), ex=ttl)
            if inc.resolved is None:
                pipe.lpush(keys.RECENT, inc.id)
        if change.incidents:
            pipe.ltrim(keys.RECENT, 0, keys.RECENT_INCIDENTS - 1)
        self._enqueue(pipe, change.jobs)
        if change.thor is not None:
            pipe.set(keys.THOR, change.thor.model_dump_json())
        if change.sessions is not None:
            _write_sessions(pipe, change.sessions)
        if change.history is not None:
            write_cycle(pipe, change.history, change.incidents)
        write_posted(pipe, change.digests_posted)

    # --- outbox --------------------------------------------------------------------------
    @staticmethod
    def _enqueue(pipe: object, jobs: list[Job]) -> None:
        for job in jobs:
            pipe.hsetnx(keys.OUTBOX, job.id, job.model_dump_json())  # type: ignore[attr-defined]
            pipe.zadd(keys.OUTBOX_DUE, {job.id: _ts(job.created)}, nx=True)  # type: ignore[attr-defined]

    async def enqueue(self, jobs: list[Job]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self._enqueue(pipe, jobs)
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
                self._enqueue(pipe, then)
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

    async def alert_ts(self, incident_id: str, channel: str) -> str | None:
        value = await self.redis.get(keys.alert_message(incident_id, channel))
        return str(value) if value else None

    async def message_incidents(self, channel: str, ts: str) -> list[str]:
        raw = await self.redis.get(keys.message(channel, ts))
        return list(json.loads(raw)) if raw else []

    # --- leader lease ----------------------------------------------------------------------
    async def hold_lease(self, token: str, ttl_s: float, *, alive: tuple[str, datetime] | None = None) -> bool:
        """Take the lease if free, or extend it if it is ours; `alive` (worker id, now) also records that this
        worker is running, in the same round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.eval(_HOLD, 1, keys.LEASE, token, int(ttl_s * 1000))
            if alive is not None:
                worker_id, now = alive
                pipe.set(keys.worker(worker_id), now.isoformat(), ex=max(1, int(ttl_s)))
            held, *_ = await pipe.execute()
        return bool(held)

    async def release_lease(self, token: str) -> None:
        await self.redis.eval(_RELEASE, 1, keys.LEASE, token)

