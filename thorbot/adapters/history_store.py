"""Redis adapter for the reliability history: incidents, maintenance windows, what thorbot observed.

Thor keeps no history, so thorbot keeps its own, bounded to 400 days (keys.HISTORY_DAYS):

- every resolved incident, per box, in a sorted set scored by its end (`history:<box>`), one short
  member `kind|connector|start|end` (epoch seconds): ~60 bytes per incident in a listpack;
- every mute (maintenance) window, in one sorted set (`history:mutes`);
- which minutes thorbot observed the fleet (a successful poll), one 1,440-bit bitmap per UTC day
  (`observed:<YYYYMMDD>`, 180 bytes): minutes without a bit are *unknown*;
- when each box was first seen (`history:first_seen`) and its name then (`history:names`).

The writes for a poll cycle go into the cycle's own transaction (`write_cycle`), fenced by the
leader lease like the rest of the commit.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.causes import KIND_CODES, CauseRecord, cause_code, pack_cause, unpack_cause
from thorbot.domain.hours import ALWAYS, PostedHours
from thorbot.domain.incidents import BoxRecord, Incident
from thorbot.domain.models import Chargebox
from thorbot.domain.uptime import (
    OUTAGE_KINDS,
    BoxHistory,
    BoxInput,
    Seconds,
    Sessions,
    Span,
    box_history,
)
from thorbot.domain.uptime_columns import ChunkColumns, cause_rows, history_rows, rows_of

CONNECTIVITY_CODES = frozenset(KIND_CODES[k] for k in OUTAGE_KINDS)
# A port's own incidents: that port is down, not its box. A driver's report counts only once confirmed.
PORT_KINDS = frozenset({"failed_starts", "quiet", "reported"})
PORT_CODES = frozenset(KIND_CODES[k] for k in PORT_KINDS)
MINUTES_PER_DAY = 1440


class HistoryCommit(BaseModel):
    """The history side of one poll cycle."""

    observed_from: datetime | None = None  # the minutes [observed_from, now] were observed (None: only now)
    now: datetime
    first_seen: dict[str, str] = {}  # box id → its name, for boxes seen for the first time
    ports: dict[str, int] = {}  # box id → how many connectors Thor lists, when it changed


def _epoch(when: datetime) -> int:
    return int(when.astimezone(UTC).timestamp())


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def incident_member(incident: Incident) -> str | None:
    if incident.resolved is None or (incident.kind == "reported" and incident.confirmed is None):
        return None  # an unconfirmed driver report is shown apart and counted nowhere
    return (f"{KIND_CODES.get(incident.kind, 'o')}|{incident.connector or ''}|{_epoch(incident.started)}|"
            f"{_epoch(incident.resolved)}")


def unconfirmed_member(incident: Incident) -> str:
    """A resolved, unconfirmed driver report: kept apart from the history (reports show it, no figure counts it)."""
    return (f"{incident.box_id}|{incident.connector or ''}|{_epoch(incident.started)}|"
            f"{_epoch(incident.resolved or incident.started)}|{incident.reports}")


def observed_minutes(start: datetime, end: datetime) -> list[tuple[str, int]]:
    """(day key, minute of the UTC day) for every minute from `start` to `end` inclusive."""
    minute = start.astimezone(UTC).replace(second=0, microsecond=0)
    out = []
    while minute <= end:
        out.append((keys.observed(minute.strftime("%Y%m%d")), minute.hour * 60 + minute.minute))
        minute += timedelta(minutes=1)
    return out


# HSETNX for many fields in one command: a worker's first cycle over 50,000 boxes queued 50,000 commands
# (tens of MB of the worker's peak memory, packed and answered one by one).
_FIRST_SEEN = """
for i = 2, #ARGV do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1])
end
return 0
"""


# One command for a chunk's thousand keys: the same read as a pipeline of one command per key, without redis-py's
# per-command cost (packing, a timeout, parsing), which was a third of a twelve-month report's time.
_EACH = """
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call(ARGV[1], KEYS[i], unpack(ARGV, 2))
end
return out
"""


# Each box's history members as one string, a line each: a chunk's half million members as a few hundred strings
# (parsed by uptime_columns.history_rows in a few passes), not as that many small ones, each split in four (most
# of a twelve-month report's memory churn and a third of its time).
_JOINED = """
local out = {}
for i = 1, #KEYS do
  local members = redis.call('ZRANGEBYSCORE', KEYS[i], ARGV[1], '+inf')
  out[i] = #members > 0 and (table.concat(members, '\\n') .. '\\n') or ''
end
return out
"""


# Each box's causes as one string, a line `kind|start|cause` per cause (the value's first field: who and the note are
# not read), parsed as columns by uptime_columns.cause_rows: a year of a big fleet gives a quarter million.
_CAUSE_LINES = """
local out = {}
for i = 1, #KEYS do
  local flat = redis.call('HGETALL', KEYS[i])
  local lines = {}
  for j = 1, #flat, 2 do
    lines[#lines + 1] = flat[j] .. '|' .. string.match(flat[j + 1], '^[^|]*') .. '\\n'
  end
  out[i] = table.concat(lines)
end
return out
"""


SCRIPT_KEYS = 50  # keys per script call: a script holds every other client of Redis (serve's acks) while it runs


def _scripts(pipe: Any, script: str, names: list[str], *args: Any) -> int:
    """`script` over `names` in calls of SCRIPT_KEYS keys each, queued on `pipe`; how many calls."""
    calls = 0
    for first in range(0, len(names), SCRIPT_KEYS):
        batch = names[first:first + SCRIPT_KEYS]
        pipe.eval(script, len(batch), *batch, *args)
        calls += 1
    return calls


def _pairs(flat: list[Any]) -> dict[str, str]:
    """A hash as a script returns it (field, value, field, value, …)."""
    return {str(f): str(v) for f, v in zip(flat[0::2], flat[1::2], strict=True)}


def write_cycle(pipe: Any, change: HistoryCommit, incidents: Iterable[Incident]) -> None:
    """Add one cycle's history to a transaction (store.commit calls this)."""
    cutoff = _epoch(change.now - timedelta(days=keys.HISTORY_DAYS))
    touched: set[str] = set()
    unconfirmed: dict[str, int] = {}
    for incident in incidents:
        member = incident_member(incident)
        if member is not None:
            pipe.zadd(keys.history(incident.box_id), {member: _epoch(incident.resolved or change.now)})
            touched.add(incident.box_id)
        elif incident.kind == "reported" and incident.resolved is not None:
            unconfirmed[unconfirmed_member(incident)] = _epoch(incident.resolved)
    for box_id in touched:
        pipe.zremrangebyscore(keys.history(box_id), "-inf", cutoff)
    if unconfirmed:
        pipe.zadd(keys.UNCONFIRMED_REPORTS, unconfirmed)
        pipe.zremrangebyscore(keys.UNCONFIRMED_REPORTS, "-inf", cutoff)
    if change.ports:
        pipe.hset(keys.HISTORY_PORTS, mapping={b: str(n) for b, n in change.ports.items()})
    if change.first_seen:
        pipe.eval(_FIRST_SEEN, 1, keys.HISTORY_FIRST_SEEN, _epoch(change.now), *change.first_seen)
        pipe.hset(keys.HISTORY_NAMES, mapping=change.first_seen)
    days: set[str] = set()
    for key, minute in observed_minutes(change.observed_from or change.now, change.now):
        pipe.setbit(key, minute, 1)
        days.add(key)
    for key in days:
        pipe.expire(key, (keys.HISTORY_DAYS + 1) * 86400)


def _parse_members(box_id: str, members: list[str]) -> list[tuple[str, int | None, float, float]]:
    """(kind code, connector, start, end) of each history member; members that are not thorbot's are skipped
    rather than failing the report. Parsed straight to epoch seconds: a year of a big fleet is half a million."""
    out = []
    for member in members:
        parts = member.split("|")
        if len(parts) != 4:
            continue
        try:
            out.append((parts[0], int(parts[1]) if parts[1] else None, float(parts[2]), float(parts[3])))
        except ValueError:
            continue
    return out


@functools.lru_cache(maxsize=16)
def _periods(first: date, last: date, monthly: bool) -> frozenset[str]:
    """The UTC days (or months) from `first` to `last` as session counters name them (a report asks once a chunk)."""
    fmt = "%Y%m" if monthly else "%Y%m%d"
    return frozenset((first + timedelta(days=d)).strftime(fmt) for d in range((last - first).days + 1))


def _closed_as_posted(raw: str, start: float, end: float, seen: dict[str, list[Seconds]]) -> list[Seconds] | None:
    """The closed spans of a stored posting (`seen` keeps those already worked out); None when it cannot be read
    (then the fleet's hours apply)."""
    if raw not in seen:
        try:
            seen[raw] = PostedHours.model_validate_json(raw).closed(start, end)
        except (ValueError, KeyError):  # (ZoneInfoNotFoundError is a KeyError)
            return None
    return seen[raw]


class MaintenanceWindow(BaseModel):
    """A box's scheduled maintenance (`/chargebox maintenance`): its alerts are held in every channel, and its
    outage time is excluded up to the yearly cap."""

    id: str
    box_id: str
    start: datetime
    end: datetime
    note: str | None = None
    by: str | None = None


def _window_span(member: str) -> tuple[str, Seconds]:
    """A stored window's box and [start, end) as `MaintenanceWindow` reads them, without building one: a report
    reads every window of the fleet (a model each held 60 MB at 40,000 windows). Anything unusual goes through
    the model."""
    with contextlib.suppress(ValueError, TypeError, KeyError):
        data = orjson.loads(member)
        start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
        if isinstance(data["id"], str) and isinstance(data["box_id"], str) and start.tzinfo and end.tzinfo \
                and isinstance(data["start"], str) and isinstance(data["end"], str):
            return data["box_id"], (start.timestamp(), end.timestamp())
    window = MaintenanceWindow.model_validate_json(member)
    return window.box_id, (window.start.timestamp(), window.end.timestamp())


class MuteWindow(BaseModel):
    box_id: str
    channel: str
    start: datetime
    end: datetime


def year_start(window: Span) -> float:
    """Where a report's history is read from: the first calendar year's start (the caps are per year)."""
    return _epoch(datetime(window.start.astimezone(UTC).year, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class BoxFacts:
    """What a report reads of each box besides its history, as stored (raw strings): when it was first seen, its
    name then, how many ports it has, its own posted hours. Read whole once for a big report: asking for ten
    thousand fields by name cost more (packing each name) than being sent them all."""

    first_seen: dict[str, str]
    names: dict[str, str]
    ports: dict[str, str]
    hours: dict[str, str]


class HistoryStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    # --- maintenance windows -------------------------------------------------------------------
    async def record_mute(self, channel: str, box_ids: list[str], start: datetime, end: datetime) -> None:
        members = {json.dumps({"b": b, "c": channel, "s": _epoch(start), "e": _epoch(end)}): _epoch(end)
                   for b in box_ids}
        if members:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(keys.HISTORY_MUTES, members)
                pipe.zremrangebyscore(keys.HISTORY_MUTES, "-inf",
                                      _epoch(start - timedelta(days=keys.HISTORY_DAYS)))
                await pipe.execute()

    async def end_mutes(self, channel: str, box_ids: list[str], now: datetime) -> None:
        """An unmute ends the windows still running for these boxes in this channel, now."""
        running = await self.redis.zrangebyscore(keys.HISTORY_MUTES, _epoch(now), "+inf")
        wanted = set(box_ids)
        async with self.redis.pipeline(transaction=True) as pipe:
            for member in running:
                data = json.loads(str(member))
                if data["c"] == channel and data["b"] in wanted and data["s"] <= _epoch(now):
                    pipe.zrem(keys.HISTORY_MUTES, str(member))
                    pipe.zadd(keys.HISTORY_MUTES, {json.dumps({**data, "e": _epoch(now)}): _epoch(now)})
            await pipe.execute()

    async def mutes(self, since: datetime) -> list[MuteWindow]:
        raw = await self.redis.zrangebyscore(keys.HISTORY_MUTES, _epoch(since), "+inf")
        out = []
        for member in raw:
            data = json.loads(str(member))
            out.append(MuteWindow(box_id=str(data["b"]), channel=str(data["c"]), start=_when(data["s"]),
                                  end=_when(data["e"])))
        return out

    async def maintenance(self, since: datetime) -> dict[str, list[Seconds]]:
        """Box id → its scheduled maintenance windows (`/chargebox maintenance`) ending after `since`. Mutes are
        a channel's choice not to be told: they no longer count."""
        out: dict[str, list[Seconds]] = {}
        for member in await self.redis.zrangebyscore(keys.MAINTENANCE, _epoch(since), "+inf"):
            box_id, span = _window_span(str(member))
            out.setdefault(box_id, []).append(span)
        return out

    async def windows(self, since: datetime) -> dict[str, list[MaintenanceWindow]]:
        out: dict[str, list[MaintenanceWindow]] = {}
        for member in await self.redis.zrangebyscore(keys.MAINTENANCE, _epoch(since), "+inf"):
            window = MaintenanceWindow.model_validate_json(str(member))
            out.setdefault(window.box_id, []).append(window)
        return out

    async def add_window(self, window: MaintenanceWindow, now: datetime) -> None:
        """Store a window, and forget those that ended more than the history's 400 days before `now`. The
        cutoff is from now, never from the new window: one planned far ahead must not erase what reports
        still read (the daily sweep uses the same cutoff)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.MAINTENANCE, {window.model_dump_json(): _epoch(window.end)})
            pipe.zremrangebyscore(keys.MAINTENANCE, "-inf", _epoch(now - timedelta(days=keys.HISTORY_DAYS)))
            await pipe.execute()

    async def cancel_window(self, window_id: str, now: datetime) -> MaintenanceWindow | None:
        """Cancel a window: one not started yet is removed; a running one ends now."""
        for member in await self.redis.zrangebyscore(keys.MAINTENANCE, _epoch(now), "+inf"):
            window = MaintenanceWindow.model_validate_json(str(member))
            if window.id != window_id:
                continue
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(keys.MAINTENANCE, str(member))
                if window.start < now:
                    ended = window.model_copy(update={"end": now})
                    pipe.zadd(keys.MAINTENANCE, {ended.model_dump_json(): _epoch(now)})
                await pipe.execute()
            return window
        return None

    async def in_maintenance(self, box_id: str, now: datetime) -> MaintenanceWindow | None:
        for window in (await self.windows(now)).get(box_id, []):
            if window.start <= now < window.end:
                return window
        return None

    # --- causes and ports ------------------------------------------------------------------------
    async def set_causes(self, box_id: str, records: dict[str, CauseRecord]) -> None:
        """Causes of `box_id`'s outages, by `cause_key`; a cause given again replaces the old one."""
        if records:
            await self.redis.hset(keys.causes(box_id), mapping={k: pack_cause(v) for k, v in records.items()})

    async def cause(self, box_id: str, field: str) -> CauseRecord | None:
        raw = await self.redis.hget(keys.causes(box_id), field)
        return unpack_cause(str(raw)) if raw else None

    async def outages(self, box_id: str, since: datetime) -> list[tuple[str, int | None, float, float]]:
        """The box's resolved incidents that ended after `since`: (kind code, connector, start, end), oldest first."""
        members = await self.redis.zrangebyscore(keys.history(box_id), _epoch(since), "+inf")
        return sorted(_parse_members(box_id, [str(m) for m in members]), key=lambda o: o[2])

    async def unconfirmed_reports(self, window: Span, box_ids: set[str]) -> tuple[int, int]:
        """Drivers' reports resolved unconfirmed that overlap `window`, on `box_ids`: (incidents, reports in them)."""
        members = await self.redis.zrangebyscore(keys.UNCONFIRMED_REPORTS, _epoch(window.start), "+inf")
        incidents = reports = 0
        for member in members:
            parts = str(member).rsplit("|", 4)
            if len(parts) != 5 or parts[0] not in box_ids or not parts[2].isdigit() or not parts[4].isdigit():
                continue
            if float(parts[2]) < window.end.timestamp():
                incidents += 1
                reports += int(parts[4])
        return incidents, reports

    async def port_count(self, box_id: str) -> int:
        """How many ports the box has, as the worker last read them (0: not known yet)."""
        raw = await self.redis.hget(keys.HISTORY_PORTS, box_id)
        return int(raw) if raw and str(raw).isdigit() else 0

    async def cause_codes(self, box_ids: list[str]) -> list[dict[str, str]]:
        """Each box's causes as `cause_key` → cause code: all a report needs (bounded: 400 days of them)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for box_id in box_ids:
                pipe.hgetall(keys.causes(box_id))
            answers = await pipe.execute()
        return [{str(f): cause_code(str(v)) for f, v in answer.items()} for answer in answers]

    # --- reading ---------------------------------------------------------------------------------
    async def unknown(self, window: Span, now: datetime) -> list[Span]:
        """The stretches of `window` (up to now) in which thorbot observed nothing."""
        end = min(window.end, now)
        if end <= window.start:
            return []
        first_day = window.start.astimezone(UTC).date()
        last_day = end.astimezone(UTC).date()
        days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for day in days:  # raw bytes: a bitmap is not text
                pipe.execute_command("GET", keys.observed(day.strftime("%Y%m%d")), NEVER_DECODE=True)
            bitmaps = await pipe.execute()
        spans: list[Span] = []
        gap_start: datetime | None = None
        for day, raw in zip(days, bitmaps, strict=True):
            bits: bytes = raw or b""
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            lo = max(0, int((window.start - midnight).total_seconds() // 60))
            hi = min(MINUTES_PER_DAY, int(-(-(end - midnight).total_seconds() // 60)))
            if not bits and lo < hi:  # a day without a single good poll (or before thorbot ran): one gap
                gap_start = gap_start or midnight + timedelta(minutes=lo)
                continue
            minute = lo
            while minute < hi:
                byte = minute // 8
                if gap_start is None and minute % 8 == 0 and minute + 8 <= hi and byte < len(bits) \
                        and bits[byte] == 0xFF:
                    minute += 8  # the usual case: eight observed minutes at once
                    continue
                at = midnight + timedelta(minutes=minute)
                minute += 1
                seen = byte < len(bits) and bits[byte] >> (7 - (minute - 1) % 8) & 1
                if not seen and gap_start is None:
                    gap_start = at
                elif seen and gap_start is not None:
                    spans.append(Span(gap_start, at))
                    gap_start = None
        if gap_start is not None:
            spans.append(Span(gap_start, end))
        return [Span(max(s.start, window.start), min(s.end, end)) for s in spans]

    async def known_boxes(self) -> list[Chargebox]:
        """Every box thorbot watches or has history for, with its name (`known_boxes`)."""
        return await known_boxes(self.redis)

    async def names(self) -> dict[str, str]:
        """Every box thorbot has history for → its name when first seen."""
        return {str(b): str(n) for b, n in (await self.redis.hgetall(keys.HISTORY_NAMES)).items()}

    async def box_ids(self) -> list[str]:
        return sorted(str(b) for b in await self.redis.hkeys(keys.HISTORY_FIRST_SEEN))

    async def histories(self, box_ids: list[str], window: Span, open_incidents: dict[str, list[Incident]],
                        names: dict[str, str], *, hours: PostedHours = ALWAYS,
                        maintenance: dict[str, list[Seconds]] | None = None) -> list[BoxHistory]:
        """Each box's history (`inputs`, measured one box at a time by `box_history`)."""
        return [box_history(*box) for box in await self.inputs(box_ids, window, open_incidents, names, hours=hours,
                                                               maintenance=maintenance)]

    async def inputs(self, box_ids: list[str], window: Span, open_incidents: dict[str, list[Incident]],
                     names: dict[str, str], *, hours: PostedHours = ALWAYS,
                     maintenance: dict[str, list[Seconds]] | None = None) -> list[BoxInput]:
        """`columns`, box by box (what the plain path measures)."""
        return (await self.columns(box_ids, window, open_incidents, names, hours=hours,
                                   maintenance=maintenance)).boxes()

    async def box_facts(self) -> BoxFacts:
        """Every box's `BoxFacts` (for a caller reading most of the fleet in chunks)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in (keys.HISTORY_FIRST_SEEN, keys.HISTORY_NAMES, keys.HISTORY_PORTS, keys.HOURS):
                pipe.hgetall(key)
            answers = await pipe.execute()
        return BoxFacts(*({str(k): str(v) for k, v in answer.items()} for answer in answers))

    async def columns(self, box_ids: list[str], window: Span, open_incidents: dict[str, list[Incident]],
                      names: dict[str, str], *, hours: PostedHours = ALWAYS,
                      maintenance: dict[str, list[Seconds]] | None = None,
                      facts: BoxFacts | None = None) -> ChunkColumns:
        """Each box's incidents overlapping `window` (resolved from history, open ones as given) with their
        causes, its ports' own incidents, its maintenance windows, closed hours and first sighting. History is
        read from the start of the window's first calendar year: the maintenance cap counts from there. A caller
        reading many chunks passes `maintenance` (every box's windows since `year_start(window)`) and `facts`
        (`box_facts`) read once.
        The outages come as columns (a chunk's half million members are parsed at once, not one by one)."""
        start = year_start(window)
        async with self.redis.pipeline(transaction=False) as pipe:
            asked = 0
            if facts is None and box_ids:
                for key in (keys.HISTORY_FIRST_SEEN, keys.HISTORY_NAMES, keys.HISTORY_PORTS, keys.HOURS):
                    pipe.hmget(key, box_ids)
                asked = 4
            batches = _scripts(pipe, _JOINED, [keys.history(b) for b in box_ids], start)
            _scripts(pipe, _CAUSE_LINES, [keys.causes(b) for b in box_ids])
            answers = await pipe.execute()
        firsts: list[str | None]
        stored_names: list[str | None]
        port_counts: list[str | None]
        own_hours: list[str | None]
        if facts is not None:
            firsts, stored_names, port_counts, own_hours = ([f.get(b) for b in box_ids] for f in (
                facts.first_seen, facts.names, facts.ports, facts.hours))
        else:
            firsts, stored_names, port_counts, own_hours = answers[:4] if asked else ([], [], [], [])
        joined: list[str] = [x for batch in answers[asked:asked + batches] for x in batch]
        cause_lines: list[str] = [x for batch in answers[asked + batches:] for x in batch]  # `kind|start|cause`
        if maintenance is None:
            maintenance = await self.maintenance(_when(start))
        rows = history_rows(joined, CONNECTIVITY_CODES, PORT_CODES)
        if rows is None:  # a member that is not thorbot's: parsed one by one, skipping those
            async with self.redis.pipeline(transaction=False) as pipe:
                _scripts(pipe, _EACH, [keys.history(b) for b in box_ids], "ZRANGEBYSCORE", start, "+inf")
                ranges = [members for batch in await pipe.execute() for members in batch]
            rows = rows_of([[(c, n, a, b) for c, n, a, b in _parse_members(box_id, [str(m) for m in members])
                             if c in CONNECTIVITY_CODES or (c in PORT_CODES and n)]
                            for box_id, members in zip(box_ids, ranges, strict=True)], CONNECTIVITY_CODES)
        fleet_closed = hours.closed(start, _epoch(window.end))  # (a box with hours of its own: see below)
        closed_by_posting: dict[str, list[Seconds]] = {}  # a box's own hours: few distinct postings in a fleet
        given = cause_rows(cause_lines, CONNECTIVITY_CODES)
        chunk = ChunkColumns([], [], [], [], [], [], [], [], *rows, given=given, cause_lines=cause_lines,
                             cause_connectivity=CONNECTIVITY_CODES)
        opened: list[tuple[int, int, float]] = []  # (box, port, start) of each open incident
        for i, box_id in enumerate(box_ids):
            posted = own_hours[i] if i < len(own_hours) else None
            closed = _closed_as_posted(posted, start, _epoch(window.end), closed_by_posting) if posted else None
            for incident in open_incidents.get(box_id, []):
                if incident.kind in OUTAGE_KINDS:
                    opened.append((i, 0, incident.started.timestamp()))
                elif incident.kind in PORT_KINDS and incident.connector:
                    opened.append((i, incident.connector, incident.started.timestamp()))
            chunk.box_ids.append(box_id)
            chunk.names.append(str(names.get(box_id) or (stored_names[i] if i < len(stored_names) and stored_names[i]
                                                         else box_id)))
            first, ports = firsts[i] if i < len(firsts) else None, port_counts[i] if i < len(port_counts) else None
            chunk.first_seen.append(float(first) if first else None)
            chunk.ports.append(int(ports) if ports else 0)
            chunk.maintenance.append(maintenance.get(box_id, []))
            chunk.closed.append(fleet_closed if closed is None else closed)
        return chunk.with_open(opened)

    async def set_hours(self, box_id: str, hours: PostedHours | None) -> None:
        """A box's own posted hours; None: the fleet's again (THORBOT_HOURS_OF_OPERATION)."""
        if hours is None:
            await self.redis.hdel(keys.HOURS, box_id)
        else:
            await self.redis.hset(keys.HOURS, box_id, hours.model_dump_json())

    async def posted_hours(self) -> dict[str, PostedHours]:
        """Every box with hours of its own."""
        out = {}
        for box_id, raw in (await self.redis.hgetall(keys.HOURS)).items():
            with contextlib.suppress(ValueError):
                out[str(box_id)] = PostedHours.model_validate_json(raw)
        return out

    async def sessions(self, box_ids: list[str], window: Span, *, monthly: bool) -> dict[str, Sessions]:
        """Finished-charge counts per box over the window's UTC days (or months)."""
        last = (window.end - timedelta(seconds=1)).astimezone(UTC).date()
        periods = _periods(window.start.astimezone(UTC).date(), last, monthly)
        if not box_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            _scripts(pipe, _EACH, [keys.sessions_monthly(b) if monthly else keys.sessions_daily(b) for b in box_ids],
                     "HGETALL")
            answers = [_pairs(flat) for batch in await pipe.execute() for flat in batch]
        out: dict[str, Sessions] = {}
        for box_id, counters in zip(box_ids, answers, strict=True):
            ok = failed = wh = 0
            for field, value in (counters or {}).items():
                period, _, what = str(field).partition(":")
                if period not in periods:
                    continue
                if what == "ok":
                    ok += int(value)
                elif what == "failed":
                    failed += int(value)
                elif what == "wh":
                    wh += int(value)
            out[box_id] = Sessions(ok, failed, wh)
        return out


async def read_records(redis: Redis) -> dict[str, BoxRecord]:
    """Every box's last seen state (RecordStore.records and ReportSource.records read through this too)."""
    return {str(b): BoxRecord.model_validate_json(v) for b, v in (await redis.hgetall(keys.BOXES)).items()}


async def known_boxes(redis: Redis) -> list[Chargebox]:
    """Every box thorbot watches or has history for, with its name: matchable without asking Thor."""
    records = await read_records(redis)
    names = await HistoryStore(redis).names()
    return [Chargebox(id=box_id, alias=(records[box_id].alias if box_id in records else None) or names.get(box_id))
            for box_id in sorted(set(records) | set(names))]
