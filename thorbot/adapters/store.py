"""Redis adapter: the poll cycle's commit, which writes several aggregates (box records and incidents, the outbox,
sessions, history, digests…) in one MULTI/EXEC fenced by the leader lease (WATCH), so a worker that lost its lease
mid-cycle cannot write, and state and the alerts it implies land together or not at all. Each aggregate's own
reads and writes are in its store (subscription_store, record_store, outbox_store, lease_store)."""

from __future__ import annotations

import logging
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.exceptions import ResponseError, WatchError

from thorbot.adapters import keys
from thorbot.adapters.digest_store import write_posted
from thorbot.adapters.history_store import HistoryCommit, write_cycle
from thorbot.adapters.outbox_store import enqueue_jobs
from thorbot.adapters.session_store import (
    ATTEMPTS_KEPT,
    StopRequest,
    attempt_entry,
    history_fields,
    stale_history_fields,
)
from thorbot.adapters.subscription_store import read_watchers, watchers_of
from thorbot.adapters.usage_store import write_usage
from thorbot.domain.failed_starts import Attempt, ConnectorRecord, connector_key
from thorbot.domain.incidents import BoxRecord, Incident
from thorbot.domain.notify import Job, ThorHealth, Watchers
from thorbot.domain.sessions import SessionWatch
from thorbot.domain.usage import Usage

log = logging.getLogger(__name__)



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




@dataclass(frozen=True)
class CycleStart:
    """What a poll cycle starts from (CycleCommitter.cycle_start)."""

    watchers: Watchers
    sighted: dict[str, BoxRecord]  # boxes `subscribe` saw that the worker has no record of yet
    records_version: str
    thor: ThorHealth



class CycleCommitter:
    """A poll cycle's start (one read of what it starts from) and its commit (one fenced transaction)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def cycle_start(self) -> CycleStart:
        """What a poll cycle starts from, in one round trip: `watchers()`, the boxes `subscribe` saw that the
        worker has not, the records' version and Thor's health."""
        async with self.redis.pipeline(transaction=False) as pipe:
            read_watchers(pipe)
            pipe.hgetall(keys.BOXES_SIGHTED)
            pipe.get(keys.BOXES_VERSION)
            pipe.get(keys.THOR)
            subscriptions, all_channels, sighted, version, thor = await pipe.execute()
        return CycleStart(watchers=watchers_of(subscriptions, all_channels),
                          sighted={str(b): BoxRecord.model_validate_json(v) for b, v in sighted.items()},
                          records_version=str(version or "0"),
                          thor=ThorHealth.model_validate_json(thor) if thor else ThorHealth())


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
        enqueue_jobs(pipe, change.jobs)
        if change.thor is not None:
            pipe.set(keys.THOR, change.thor.model_dump_json())
        if change.sessions is not None:
            _write_sessions(pipe, change.sessions)
        if change.history is not None:
            write_cycle(pipe, change.history, change.incidents)
        write_posted(pipe, change.digests_posted)

