"""Redis adapter for charging sessions: watches, attempts, per-box history, Thor's notes, remote stops.

The worker writes the session side of a poll cycle through `Commit` (adapters/store.py), fenced by
the lease like everything it decides; `thorbot serve` writes what Thor's notifications say (notes
and the inbox the worker drains) and the remote-stop audit. Key layout: adapters/keys.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.driver_reports import DriverReport, PersonAction
from thorbot.domain.failed_starts import Attempt, ConnectorRecord, connector_key
from thorbot.domain.sessions import SessionWatch, StartNote, StopNote

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

NOTE_TTL = 3 * 24 * 3600
ATTEMPTS_KEPT = 200
DAILY_DAYS = 35
MONTHLY_MONTHS = 14
MAX_INBOX_READ = 1000
INBOX_CAP = 10_000  # attempts waiting for the worker; beyond this the oldest are dropped (and counted)


class StopClaim(BaseModel):
    """Who is asking Thor to stop a charge (at most one at a time per transaction)."""

    by: str
    at: datetime


_CLAIM_STOP = """
local seen = redis.call('GET', KEYS[1])
if seen then return seen end
local held = redis.call('GET', KEYS[2])
if held then return held end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return false
"""
_RELEASE_STOP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
VIEW_CLAIM_TTL = 24 * 3600


class StopRequest(BaseModel):
    """A remote stop someone asked for from Slack, and where its outcome is reported."""

    id: str
    box_id: str
    alias: str | None = None
    connector: int
    transaction: int
    by: str
    at: datetime
    channel: str | None = None
    thread_ts: str | None = None
    thor_answer: str
    energy_wh: int | None = None
    confirmed: bool | None = None
    settled_at: datetime | None = None
    stage: str = "answered"  # "asking": the intent, audited before Thor is called; "answered": Thor's answer
    id_tag_hash: str | None = None  # which id_tag the stop used (hashed): only its stop notification confirms it


@dataclass(frozen=True)
class CycleState:
    watches_version: str
    finished_read_at: datetime | None
    inbox: list[Attempt]
    pending_stops: dict[str, datetime]  # stop id → when "not confirmed" is due
    usage_version: str | None = None  # connectors' usage (worker/usage.py caches it)
    driver_reports: list[DriverReport] = field(default_factory=list)  # from the report page and workflow steps
    person_actions: list[PersonAction] = field(default_factory=list)  # Confirm / Resolve on drivers' reports
    reported_open: frozenset[str] = frozenset()  # connector keys whose reported incident is open


class SessionStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    # --- the worker's watch of running sessions -------------------------------------------
    async def cycle_state(self) -> CycleState:
        """What a poll cycle needs to start, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.WATCHES_VERSION)
            pipe.get(keys.FINISHED_READ_AT)
            pipe.lrange(keys.INBOX, 0, MAX_INBOX_READ - 1)
            pipe.zrange(keys.STOPS_PENDING, 0, -1, withscores=True)
            pipe.get(keys.USAGE_VERSION)
            pipe.lrange(keys.DRIVER_INBOX, 0, MAX_INBOX_READ - 1)
            pipe.lrange(keys.DRIVER_ACTIONS, 0, MAX_INBOX_READ - 1)
            pipe.smembers(keys.DRIVERS_OPEN)
            version, read_at, inbox, pending, usage_version, reports, actions, reported = await pipe.execute()
        return CycleState(
            watches_version=str(version or "0"),
            finished_read_at=datetime.fromisoformat(str(read_at)) if read_at else None,
            inbox=[Attempt.model_validate_json(v) for v in inbox],
            pending_stops={str(m): datetime.fromtimestamp(float(score), tz=UTC) for m, score in pending},
            usage_version=str(usage_version) if usage_version else None,
            driver_reports=_readable(reports, DriverReport),
            person_actions=_readable(actions, PersonAction),
            reported_open=frozenset(str(k) for k in reported),
        )

    async def stop_requests(self, stop_ids: list[str]) -> dict[str, StopRequest]:
        if not stop_ids:
            return {}
        values = await self.redis.mget([keys.stop_request(i) for i in stop_ids])
        return {i: StopRequest.model_validate_json(v) for i, v in zip(stop_ids, values, strict=True) if v}

    async def stop_notes(self, transactions: list[int]) -> dict[int, StopNote]:
        if not transactions:
            return {}
        values = await self.redis.mget([keys.stop_note(t) for t in transactions])
        return {t: StopNote.model_validate_json(v) for t, v in zip(transactions, values, strict=True) if v}

    async def watches(self) -> dict[int, SessionWatch]:
        raw = await self.redis.hgetall(keys.WATCHES)
        return {int(txn): SessionWatch.model_validate_json(value) for txn, value in raw.items()}

    async def connector_records(self, connector_keys: list[str]) -> dict[str, ConnectorRecord]:
        if not connector_keys:
            return {}
        values = await self.redis.hmget(keys.CONNECTORS, connector_keys)
        return {k: ConnectorRecord.model_validate_json(v) for k, v in zip(connector_keys, values, strict=True) if v}

    async def unseen_finished(self, transactions: list[int]) -> set[int]:
        """The finished transactions not counted yet (polling and notifications both report them)."""
        if not transactions:
            return set()
        scores = await self.redis.zmscore(keys.FINISHED_SEEN, [str(t) for t in transactions])
        return {t for t, score in zip(transactions, scores, strict=True) if score is None}

    # --- what the card shows --------------------------------------------------------------
    async def success_7d(self, box_id: str, connectors: list[int], now: datetime) -> dict[int, tuple[int, int]]:
        """Per connector: (successful, all) attempts in the last 7 days."""
        if not connectors:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for connector in connectors:
                pipe.lrange(keys.attempts(connector_key(box_id, connector)), 0, ATTEMPTS_KEPT - 1)
            lists = await pipe.execute()
        since = (now - timedelta(days=7)).timestamp()
        rates: dict[int, tuple[int, int]] = {}
        for connector, entries in zip(connectors, lists, strict=True):
            recent = [e.split(":") for e in entries if float(e.split(":")[0]) >= since]
            if recent:
                rates[connector] = (sum(1 for _, ok in recent if ok == "1"), len(recent))
        return rates

    async def start_notes(self, transactions: list[int]) -> dict[int, StartNote]:
        if not transactions:
            return {}
        values = await self.redis.mget([keys.start_note(t) for t in transactions])
        return {t: StartNote.model_validate_json(v) for t, v in zip(transactions, values, strict=True) if v}

    async def stop_note(self, transaction: int) -> StopNote | None:
        raw = await self.redis.get(keys.stop_note(transaction))
        return StopNote.model_validate_json(raw) if raw else None

    # --- Thor's notifications (written by `thorbot serve`) --------------------------------
    async def first_time(self, fingerprint: tuple[Any, ...]) -> bool:
        """True the first time a notification with this identity arrives (Thor may repeat itself)."""
        digest = hashlib.sha256(json.dumps(fingerprint, default=str).encode()).hexdigest()[:32]
        return bool(await self.redis.set(keys.note_seen(digest), "1", nx=True, ex=NOTE_TTL))

    async def save_note(self, note: StartNote | StopNote, attempt: Attempt | None) -> int:
        """Keep a notification's note and queue its attempt for the worker; return how many of the oldest
        queued attempts were dropped to stay within INBOX_CAP (a burst the worker cannot drain)."""
        key = keys.start_note(note.transaction) if isinstance(note, StartNote) else keys.stop_note(note.transaction)
        async with self.redis.pipeline(transaction=True) as pipe:
            if note.transaction:
                pipe.set(key, note.model_dump_json(), ex=NOTE_TTL)
            if attempt is not None:
                pipe.rpush(keys.INBOX, attempt.model_dump_json())
                pipe.ltrim(keys.INBOX, -INBOX_CAP, -1)
            results = await pipe.execute()
        if attempt is None:
            return 0
        dropped = max(0, int(results[-2]) - INBOX_CAP)
        if dropped:
            await self.redis.incrby(keys.INBOX_DROPPED, dropped)
        return dropped

    async def save_report(self, report: DriverReport) -> int:
        """Queue a driver's report for the worker; how many of the oldest queued were dropped (INBOX_CAP)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.DRIVER_INBOX, report.model_dump_json())
            pipe.ltrim(keys.DRIVER_INBOX, -INBOX_CAP, -1)
            length, _ = await pipe.execute()
        dropped = max(0, int(length) - INBOX_CAP)
        if dropped:
            await self.redis.incrby(keys.DRIVER_INBOX_DROPPED, dropped)
        return dropped

    async def save_action(self, action: PersonAction) -> None:
        """A person's Confirm or Resolve, for the worker (the one writer of connectors' records)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.DRIVER_ACTIONS, action.model_dump_json())
            pipe.ltrim(keys.DRIVER_ACTIONS, -INBOX_CAP, -1)
            await pipe.execute()

    async def connector_record(self, box_id: str, connector: int) -> ConnectorRecord | None:
        """One connector's record (its open reported incident, when it was last fixed): the report page reads it."""
        return (await self.connector_records([connector_key(box_id, connector)])).get(connector_key(box_id, connector))

    async def is_watched(self, box_id: str) -> bool:
        """Whether any channel watches this box: the worker keeps a record of exactly those."""
        return bool(await self.redis.hexists(keys.BOXES, box_id)) or \
            bool(await self.redis.hexists(keys.BOXES_SIGHTED, box_id))

    # --- remote stops ----------------------------------------------------------------------
    async def claim_stop(self, view_id: str, transaction: int, claim: StopClaim, ttl_s: float) -> StopClaim | None:
        """Take the right to ask Thor to stop `transaction`; None when taken, else who holds it.

        A replayed confirmation (same view) or a second operator finds the first one's claim.
        """
        held = await self.redis.eval(_CLAIM_STOP, 2, keys.stop_view(view_id), keys.stop_claim(transaction),
                                     claim.model_dump_json(), max(1, int(ttl_s)), VIEW_CLAIM_TTL)
        return StopClaim.model_validate_json(held) if held else None

    async def release_stop(self, transaction: int, claim: StopClaim) -> None:
        """Thor refused or failed: another operator may try again (a replay of this view still may not)."""
        await self.redis.eval(_RELEASE_STOP, 1, keys.stop_claim(transaction), claim.model_dump_json())

    async def audit_intent(self, request: StopRequest) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.STOP_AUDIT, request.model_dump_json())
            pipe.ltrim(keys.STOP_AUDIT, 0, 999)
            await pipe.execute()

    async def record_stop(self, request: StopRequest, confirm_by: datetime) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.stop_request(request.id), request.model_dump_json(), ex=keys.INCIDENT_TTL)
            pipe.lpush(keys.STOP_AUDIT, request.model_dump_json())
            pipe.ltrim(keys.STOP_AUDIT, 0, 999)
            if request.confirmed is None:
                pipe.zadd(keys.STOPS_PENDING, {request.id: confirm_by.astimezone(UTC).timestamp()})
            await pipe.execute()

    async def audit(self, limit: int = 50) -> list[StopRequest]:
        return [StopRequest.model_validate_json(v) for v in await self.redis.lrange(keys.STOP_AUDIT, 0, limit - 1)]


def attempt_entry(attempt: Attempt) -> str:
    return f"{attempt.at.timestamp():.0f}:{1 if attempt.ok else 0}"


def history_fields(attempt: Attempt) -> tuple[str, str]:
    """The day (YYYYMMDD, UTC) and month (YYYYMM) an attempt counts in."""
    day = attempt.at.astimezone(UTC).strftime("%Y%m%d")
    return day, day[:6]


def stale_history_fields(now: datetime) -> tuple[list[str], list[str]]:
    """Daily and monthly fields just past what is kept, deleted whenever new ones are written.

    A box that charges at least once every 35 days prunes every old field this way; one that does
    not lets the whole key expire (keys.SESSIONS_DAILY_TTL, keys.SESSIONS_MONTHLY_TTL).
    """
    days = [(now - timedelta(days=DAILY_DAYS + i)).astimezone(UTC).strftime("%Y%m%d") for i in range(1, 36)]
    months: list[str] = []
    month = now.astimezone(UTC).replace(day=1)
    for i in range(MONTHLY_MONTHS + 14):
        month = (month - timedelta(days=1)).replace(day=1)
        if i >= MONTHLY_MONTHS:
            months.append(month.strftime("%Y%m"))
    return ([f"{d}:{k}" for d in days for k in ("ok", "failed", "wh")],
            [f"{m}:{k}" for m in months for k in ("ok", "failed", "wh")])


def _readable(raw: list[str], model: type[M]) -> list[M]:
    """An entry this version cannot read (a newer thorbot wrote it, during a deploy's overlap) is skipped."""
    out = []
    for value in raw:
        try:
            out.append(model.model_validate_json(value))
        except ValueError:
            log.warning("skipped a queued %s this version cannot read", model.__name__)
    return out
