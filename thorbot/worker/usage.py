"""Connectors that fail drivers while their box looks fine: the worker's half of domain/usage.py.

Each poll cycle it counts the charges that started (running ones, finished ones, refused starts from
Thor's notifications: once per transaction), resolves a quiet connector at its next start, and every
`JUDGE_EVERY` judges each connector of every online, watched box: "not charging anyone" (an incident,
alerted like any other), "occupied without a charge" and "charging slowly" (quiet notices). No Thor
call is added to the cycle: it reads what the cycle already fetched.

A box's baseline is seeded from Thor's finished charges of the past 28 days when the worker first
watches it (and after an upgrade), one 7-day chunk per worker tick, after the cycle (`seed_step`).

Only the leader writes usage, so the cache is reloaded only when this worker becomes the leader.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from thorbot.adapters.store import SessionCommit
from thorbot.adapters.thor import ThorClient
from thorbot.adapters.usage_store import UsageStore
from thorbot.domain.failed_starts import Attempt
from thorbot.domain.incidents import BoxRecord, Incident, Opened, Resolved, Status
from thorbot.domain.models import ConnectorSpec
from thorbot.domain.notify import Job, JobKind, Watchers, connector_notice_jobs, incident_jobs
from thorbot.domain.rules import UsageRules
from thorbot.domain.sessions import Session, day_of
from thorbot.domain.usage import (
    MONDAY,
    ConnectorNow,
    Context,
    FleetPace,
    Notice,
    Rates,
    Usage,
    average_power,
    hour_at,
    judge_connector,
    on_charge,
    on_start,
    sibling_context,
    week_of,
)
from thorbot.errors import ThorError

log = logging.getLogger(__name__)
JUDGE_EVERY = timedelta(minutes=10)
SEED_DAYS = 28
SEED_CHUNK_DAYS = 7
FLEET_SEED = 20  # more unseeded boxes than this: seed from the fleet's history, not box by box
SEED_RETRY = timedelta(minutes=1)
MAX_CLOCK_AHEAD = 3600.0  # a start dated more than this after now is a box clock gone wrong
MAX_START_AGE = 35 * 86400.0  # …and one older than the baseline's window says nothing new
MAX_LOGGED = 10_000


@dataclass
class UsageOutcome:
    usage: dict[tuple[str, int], Usage] = field(default_factory=dict)
    starts: dict[int, float] = field(default_factory=dict)
    seeded: dict[str, float] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    version: str | None = None  # what `usage:version` becomes when this commits (None: usage unchanged)
    reset: list[str] = field(default_factory=list)  # boxes whose baseline starts again (renumbered connectors)

    def add_to(self, change: SessionCommit) -> None:
        change.usage, change.starts, change.seeded = self.usage, self.starts, self.seeded
        change.usage_version, change.usage_reset = self.version, self.reset


@dataclass(frozen=True)
class PollView:
    """What the poll cycle saw of the fleet's connectors: occupied ones, and each box's connector specs."""

    occupied: Mapping[str, frozenset[int]] = field(default_factory=dict)
    specs: Mapping[str, tuple[ConnectorSpec, ...]] = field(default_factory=dict)


@dataclass
class _Seeding:
    boxes: list[str]
    whole_fleet: bool  # many boxes: read the fleet's history at once rather than box by box
    start: datetime
    until: datetime
    chunk: int = 0


class UsageWatcher:
    def __init__(self, store: UsageStore, thor: ThorClient, rules: UsageRules) -> None:
        self.store = store
        self.thor = thor
        self.rules = rules
        self._usage: dict[tuple[str, int], Usage] | None = None
        self._version: str | None = None  # the `usage:version` the cache matches
        self._seeded: dict[str, float] = {}
        self._rates: dict[tuple[str, int], tuple[tuple[int, float | None, float], Rates]] = {}
        self._next_judge: datetime | None = None
        self._pace = FleetPace()
        self._hour_starts: Counter[int] = Counter()
        self._paced_hour: int | None = None
        self._seeding: _Seeding | None = None
        self._seed_after: datetime | None = None
        self._notices: list[tuple[str, int, Notice]] = []  # slow charges found between two judgings
        self._logged: set[str] = set()
        self._counting_since: float | None = None  # this worker has counted every start since (the fleet's pace)

    def invalidate(self) -> None:
        """Usage in Redis may differ from the cache (this worker's commit was refused)."""
        self._usage = self._version = self._seeding = self._counting_since = None

    async def _cache(self, box_ids: Iterable[str], version: str | None) -> dict[tuple[str, int], Usage]:
        """The cached usage, re-read when someone else wrote it since (another leader, before a failover)."""
        if self._usage is None or (version is not None and version != self._version):
            self._usage = await self.store.load(sorted(box_ids))
            self._seeded = await self.store.seeded()
            self._version = version
            self._seeding = self._counting_since = None  # another worker counted meanwhile
        return self._usage

    async def cycle(self, now: datetime, watchers: Watchers, records: dict[str, BoxRecord],
                    running: dict[int, Session] | None, attempts: list[Attempt], view: PollView,
                    version: str | None = None, reported: frozenset[tuple[str, int]] = frozenset()) -> UsageOutcome:
        """Count the cycle's starts; judge every connector when due. `version`: `usage:version` as read.
        `reported`: connectors a driver reported in this cycle, judged now (and more readily: domain/usage.py)."""
        out = UsageOutcome()
        usage = await self._cache(records, version)
        await self._count_starts(now, watchers, running, attempts, usage, out, view)
        for attempt in attempts:
            self._count_charge(attempt, view, usage, out)
        # Without Thor's running charges a free connector cannot be told from one charging: judge next cycle.
        if running is not None and (self._next_judge is None or now >= self._next_judge):
            self._next_judge = now + JUDGE_EVERY
            self._record_pace(now, usage)
            self._judge(now, watchers, records, running, view, usage, out, reported=reported)
        elif running is not None and reported:
            self._judge(now, watchers, records, running, view, usage, out, reported=reported, only=True)
        return self._versioned(out)

    def _versioned(self, out: UsageOutcome) -> UsageOutcome:
        if out.usage or out.seeded or out.reset:
            out.version = uuid.uuid4().hex
        return out

    def committed(self, out: UsageOutcome, ok: bool) -> None:
        if not ok:
            self.invalidate()
        elif out.version is not None:
            self._version = out.version

    async def _count_starts(self, now: datetime, watchers: Watchers, running: dict[int, Session] | None,
                            attempts: list[Attempt], usage: dict[tuple[str, int], Usage], out: UsageOutcome,
                            view: PollView) -> None:
        starts: dict[int, tuple[str, int, float]] = {}
        tried: list[tuple[str, int, float]] = []  # refused starts: a driver came (no transaction to key them on)
        for session in (running or {}).values():
            starts[session.transaction] = (session.box_id, session.connector, session.started.timestamp())
        for attempt in attempts:
            if attempt.transaction:
                at = (attempt.started or attempt.at).timestamp()
                starts.setdefault(attempt.transaction, (attempt.box_id, attempt.connector, at))
            else:
                tried.append((attempt.box_id, attempt.connector, attempt.at.timestamp()))
        watched = {t: s for t, s in starts.items() if watchers.watches(s[0])}
        fresh = await self.store.unseen_starts(sorted(watched))
        for transaction in sorted(fresh, key=lambda t: watched[t][2]):
            box_id, connector, at = watched[transaction]
            self._start(box_id, connector, at, now, watchers, usage, out, view)
            out.starts[transaction] = at
        for box_id, connector, at in tried:
            if watchers.watches(box_id):
                self._start(box_id, connector, at, now, watchers, usage, out, view)

    def _start(self, box_id: str, connector: int, at: float, now: datetime, watchers: Watchers,
               usage: dict[tuple[str, int], Usage], out: UsageOutcome, view: PollView) -> None:
        key = (box_id, connector)
        if not _listed(view, box_id, connector):
            self._bad_data(box_id, f"a charge on connector #{connector}, which Thor does not list")
            return
        if not now.timestamp() - MAX_START_AGE <= at <= now.timestamp() + MAX_CLOCK_AHEAD:
            self._bad_data(box_id, f"a charge start dated {datetime.fromtimestamp(at, tz=now.tzinfo):%Y-%m-%d %H:%M} "
                                   f"on connector #{connector} (a box clock off?)")
            return
        counted, events = on_start(usage.get(key), min(at, now.timestamp()))
        usage[key] = out.usage[key] = counted
        self._hour_starts[hour_at(at)] += 1
        for event in events:  # a quiet connector charges again
            out.incidents.append(event.incident)
            out.jobs += incident_jobs(JobKind.RECOVERY, event.incident.id, box_id, watchers.channels(box_id), now)

    def _bad_data(self, box_id: str, what: str) -> None:
        """One log line per box (until the worker restarts), however many bad values it sends."""
        if box_id in self._logged or len(self._logged) >= MAX_LOGGED:
            return
        self._logged.add(box_id)
        log.warning("chargebox %s: skipped %s; its connectors' baselines are not changed by it", box_id[:80], what)

    def _renumbered(self, box_id: str, connectors: list[int], view: PollView, now: float,
                    usage: dict[tuple[str, int], Usage], out: UsageOutcome) -> bool:
        """Thor lists fewer connectors than the baseline knows, or a start is dated after now: the box's
        connectors were renumbered or its clock jumped. Only that box's baseline starts again (reseeded)."""
        specs = view.specs.get(box_id)
        ahead = any((usage[(box_id, c)].last or 0.0) > now + MAX_CLOCK_AHEAD for c in connectors)
        if not ahead and (not specs or max(connectors) <= len(specs)):
            return False
        for connector in connectors:
            old = usage.pop((box_id, connector))
            out.usage.pop((box_id, connector), None)
            if old.quiet is not None:  # nobody can tell any more: let it expire like a resolved one
                out.incidents.append(old.quiet.model_copy(update={"resolved": datetime.fromtimestamp(now, tz=UTC)}))
        out.reset.append(box_id)
        self._seeded.pop(box_id, None)
        log.warning("chargebox %s: %s; its connectors' usage is counted afresh", box_id[:80],
                    "a charge start is dated in the future (its clock jumped)" if ahead else
                    f"Thor lists {len(specs or ())} connectors where thorbot counted #{max(connectors)}")
        return True

    def _count_charge(self, attempt: Attempt, view: PollView, usage: dict[tuple[str, int], Usage],
                      out: UsageOutcome) -> None:
        """A finished charge on a DC connector: its average power, for "charging slowly"."""
        spec = _spec(view, attempt.box_id, attempt.connector)
        key = (attempt.box_id, attempt.connector)
        if spec is None or not spec.dc or attempt.started is None or key not in usage:
            return
        minutes = (attempt.at - attempt.started).total_seconds() / 60
        power = average_power(attempt.energy_wh, minutes)
        if power is None or minutes < self.rules.slow.min_minutes:
            return
        updated, notices = on_charge(usage[key], power, spec.rated_w, self.rules.slow)
        usage[key] = out.usage[key] = updated
        self._notices.extend((attempt.box_id, attempt.connector, n) for n in notices)

    def _record_pace(self, now: datetime, usage: dict[tuple[str, int], Usage]) -> None:
        """Once an hour: the fleet's starts in the hour that ended, against its usual starts then."""
        hour = hour_at(now.timestamp()) - 1
        begin = MONDAY + hour * 3600.0
        if self._counting_since is None:
            self._counting_since = now.timestamp()
        if self._paced_hour == hour or begin < self._counting_since:  # an hour only partly counted says nothing
            return
        self._paced_hour = hour
        usual = sum(self._rates_of(k, u, now.timestamp()).expected(begin, begin + 3600) for k, u in usage.items())
        self._pace.record(hour, float(self._hour_starts.pop(hour, 0)), usual)
        for old in [h for h in self._hour_starts if h < hour]:
            del self._hour_starts[old]

    def _rates_of(self, key: tuple[str, int], usage: Usage, now: float) -> Rates:
        stamp = (week_of(now), usage.last, usage.since)
        cached = self._rates.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        rates = usage.rates(now)
        self._rates[key] = (stamp, rates)
        return rates

    def _judge(self, now: datetime, watchers: Watchers, records: dict[str, BoxRecord],
               running: dict[int, Session] | None, view: PollView, usage: dict[tuple[str, int], Usage],
               out: UsageOutcome, *, reported: frozenset[tuple[str, int]] = frozenset(), only: bool = False) -> None:
        """Judge every watched connector (`only`: just the `reported` ones, between the scheduled judgements)."""
        t = now.timestamp()
        charging = {(s.box_id, s.connector) for s in (running or {}).values()}
        for box_id, numbers in view.occupied.items():  # a connector never charged can be stuck "occupied" too
            for number in numbers:
                if (box_id, number) not in usage and watchers.watches(box_id):
                    usage[(box_id, number)] = Usage(since=t)  # kept (and committed) once something changes
        for box_id, connectors in _by_box(usage, {box_id for box_id, _ in reported} if only else None).items():
            record = records.get(box_id)
            if record is None or not watchers.watches(box_id) or self._renumbered(box_id, connectors, view, t,
                                                                                   usage, out):
                continue
            online = record.status is Status.ONLINE
            occupied = view.occupied.get(box_id, frozenset())
            for connector in connectors:
                key = (box_id, connector)
                if only and key not in reported:
                    continue
                now_c = ConnectorNow(box_id, connector, record.alias, online=online,
                                     charging=key in charging,
                                     occupied=connector in occupied,
                                     context=self._context(key, connectors, usage, t))
                judged, events, notices = judge_connector(usage[key], t, now_c, self.rules.quiet,
                                                          self.rules.occupied, self._rates_of(key, usage[key], t),
                                                          reported=key in reported)
                if judged != usage[key]:
                    usage[key] = out.usage[key] = judged
                _announce(out, key, events, notices, watchers.channels(box_id), now)
        if only:
            return
        for box_id, connector, notice in self._notices:
            out.jobs += connector_notice_jobs(box_id, connector, notice.kind,
                                              datetime.fromtimestamp(notice.since, tz=now.tzinfo), notice.detail,
                                              watchers.channels(box_id), now)
        self._notices.clear()

    def _context(self, key: tuple[str, int], connectors: list[int], usage: dict[tuple[str, int], Usage],
                 t: float) -> Context:
        box_id, connector = key
        ratio = self._pace.ratio(usage[key].last or t, t)
        mine = {c: usage[(box_id, c)] for c in connectors}
        return sibling_context(mine, connector, t, lambda c: self._rates_of((box_id, c), mine[c], t), ratio)

    # --- seeding the baseline from Thor's history --------------------------------------------------
    async def seed_step(self, now: datetime, watchers: Watchers, records: dict[str, BoxRecord],
                        view: PollView) -> UsageOutcome:
        """One bounded step of seeding: at most one `/charges/finished` call (7 days of history). Runs right
        after this leader's own cycle, which brought the cache up to date."""
        out = UsageOutcome()
        if self._seed_after is not None and now < self._seed_after:
            return out
        usage = await self._cache(records, None)
        if self._seeding is None:
            unseeded = sorted(b for b in records.keys() - self._seeded.keys() if watchers.watches(b))
            if not unseeded:
                return out
            self._seeding = _Seeding(unseeded, len(unseeded) > FLEET_SEED, now - timedelta(days=SEED_DAYS), now)
        job = self._seeding
        calls_per_box = SEED_DAYS // SEED_CHUNK_DAYS
        box_index, chunk = divmod(job.chunk, calls_per_box)
        box = None if job.whole_fleet else job.boxes[box_index]
        first = job.start + timedelta(days=chunk * SEED_CHUNK_DAYS)
        last = min(job.until, first + timedelta(days=SEED_CHUNK_DAYS - 1))
        try:
            finished = await self.thor.finished_charges(day_of(first), day_of(last), box)
        except ThorError as exc:
            self._seed_after = now + SEED_RETRY
            log.warning("cannot read Thor's finished charges to seed usage (%s); trying again in %d s", exc.code,
                        SEED_RETRY.total_seconds())
            return out
        self._seed_after = None
        wanted = set(job.boxes)
        unseen = await self.store.unseen_starts([f.transaction for f in finished])
        for item in finished:
            begun = item.started or item.finished
            if item.transaction not in unseen or not (job.start <= begun <= job.until) or item.box_id not in wanted:
                continue
            if not _listed(view, item.box_id, item.connector):  # a connector Thor no longer lists: not this one
                continue
            key = (item.box_id, item.connector)
            # Counted from its first charge on record: a box installed last week is not judged by four weeks.
            usage[key] = out.usage[key] = (usage.get(key) or Usage(since=begun.timestamp())).started(begun.timestamp())
            out.starts[item.transaction] = begun.timestamp()
        job.chunk += 1
        if job.chunk >= (1 if job.whole_fleet else len(job.boxes)) * calls_per_box:
            out.seeded = {b: now.timestamp() for b in job.boxes}
            self._seeded.update(out.seeded)
            log.info("seeded the usage of %d box(es) from %d days of finished charges", len(job.boxes), SEED_DAYS)
            self._seeding = None
        return self._versioned(out)


def _listed(view: PollView, box_id: str, connector: int) -> bool:
    specs = view.specs.get(box_id)
    return connector >= 1 and (specs is None or not specs or connector <= len(specs))


def _spec(view: PollView, box_id: str, connector: int) -> ConnectorSpec | None:
    specs = view.specs.get(box_id, ())
    return specs[connector - 1] if 0 < connector <= len(specs) else None


def _by_box(usage: dict[tuple[str, int], Usage], boxes: set[str] | None) -> dict[str, list[int]]:
    """Each box's connectors with a usage record (`boxes`: only these)."""
    by_box: dict[str, list[int]] = {}
    for box_id, connector in usage:
        if boxes is None or box_id in boxes:
            by_box.setdefault(box_id, []).append(connector)
    return by_box


def _announce(out: UsageOutcome, key: tuple[str, int], events: list[Opened | Resolved], notices: list[Notice],
              channels: list[str], now: datetime) -> None:
    """A judged connector's incidents (alerts, recoveries) and quiet notices, to every channel watching its box."""
    box_id, connector = key
    for event in events:
        out.incidents.append(event.incident)
        kind = JobKind.ALERT if isinstance(event, Opened) else JobKind.RECOVERY
        out.jobs += incident_jobs(kind, event.incident.id, box_id, channels, now)
    for notice in notices:
        out.jobs += connector_notice_jobs(box_id, connector, notice.kind,
                                          datetime.fromtimestamp(notice.since, tz=now.tzinfo), notice.detail,
                                          channels, now)
