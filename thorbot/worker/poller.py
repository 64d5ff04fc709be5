"""One poll cycle: fetch from Thor → judge each box → commit state and alerts atomically.

`Poller.run_once(now)` holds all the logic and is what tests call; the worker loop only repeats it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from thorbot.adapters.history_store import HistoryCommit
from thorbot.adapters.store import Commit, SessionCommit, new_records_version
from thorbot.adapters.thor import ThorClient, ThorStreamUnreadable
from thorbot.context import Stores
from thorbot.domain.incidents import BoxRecord, Observation, Opened, QuickJudge, Status, step
from thorbot.domain.models import (
    ConnectorSpec,
    connector_specs,
    has_live_fields,
    occupied_numbers,
    parse_chargebox,
    shared_specs,
)
from thorbot.domain.notify import (
    Job,
    JobKind,
    ThorHealth,
    Watchers,
    after_failed_poll,
    after_good_poll,
    incident_jobs,
)
from thorbot.domain.rules import Rules
from thorbot.errors import ThorAccessDenied, ThorBadResponse, ThorError
from thorbot.settings import Settings
from thorbot.worker.sessions import SessionReport, SessionWatcher
from thorbot.worker.usage import PollView, UsageWatcher

log = logging.getLogger(__name__)
FORGET_GONE_AFTER = timedelta(days=7)
MAX_LOGGED_UNREADABLE = 10_000
LENIENT_CYCLES = 10
SPECS_FRESH = timedelta(hours=1)  # connectors' ratings rarely change: re-read from the list hourly


@dataclass
class PollReport:
    ok: bool = True
    observed: int = 0
    events: int = 0
    jobs: int = 0
    committed: bool = True
    error: str | None = None
    list_calls: int = 0
    box_calls: int = 0
    skipped: list[str] = field(default_factory=list)
    sessions: SessionReport | None = None
    states: dict[str, int] = field(default_factory=dict)     # watched boxes by status, after the cycle
    incidents: dict[str, int] = field(default_factory=dict)  # the boxes' open incidents by kind


@dataclass
class Cycle:
    """What one poll cycle knows and decides: when, who watches what, the records it starts from (with the
    boxes `subscribe` saw first), and the report and change it builds."""

    now: datetime
    watchers: Watchers
    stored: dict[str, BoxRecord]
    new_sightings: dict[str, BoxRecord]
    thor: ThorHealth  # Thor's health as the cycle began
    report: PollReport = field(default_factory=PollReport)
    change: Commit = field(default_factory=Commit)
    occupied: dict[str, frozenset[int]] = field(default_factory=dict)  # watched boxes' occupied connectors

    def __post_init__(self) -> None:
        self.records = {**self.new_sightings, **self.stored} if self.new_sightings else self.stored

    def restart(self) -> None:
        """Judge again from scratch (the list is being read another way)."""
        self.report, self.change, self.occupied = PollReport(), Commit(), {}


class Poller:
    def __init__(self, stores: Stores, thor: ThorClient, settings: Settings, rules: Rules,
                 sessions: SessionWatcher, usage: UsageWatcher) -> None:
        self.record_store = stores.records
        self.committer = stores.cycle
        self.thor = thor
        self.settings = settings
        self.thresholds = rules.incidents
        self._records: tuple[str, dict[str, BoxRecord]] | None = None
        self._logged_unreadable: dict[str, str] = {}
        self._lenient_cycles = 0
        self.sessions = sessions
        self.usage = usage
        self._specs: dict[str, tuple[ConnectorSpec, ...]] = {}
        self._specs_read: datetime | None = None
        self._ports_written: dict[str, int] = {}  # what history:ports holds, as this worker last wrote it
        self._specs_read_now: set[str] = set()  # boxes whose specs were (re)read since the last cycle's history
        # The last tally of an unchanged fleet: (the records it counted, states, incidents), for metrics.
        self._tallied: tuple[dict[str, BoxRecord], dict[str, int], dict[str, int]] | None = None
        self._seed_from: tuple[Watchers, dict[str, BoxRecord]] | None = None  # the last cycle's, for seeding
        self._last_good: datetime | None = None  # the last poll that observed the fleet (reports' unknown time)
        self._sighted = False  # every box's first sighting recorded since this worker started
        # Two good polls at most this far apart mean the time between was observed; a longer gap is unknown.
        self._observed_gap = max(timedelta(minutes=30), timedelta(seconds=3 * settings.poll_interval))

    async def records(self, version: str) -> dict[str, BoxRecord]:
        """All box records, re-read from Redis only when a commit changed them (`version`: as read now)."""
        if self._records is None or self._records[0] != version:
            self._records = (version, await self.record_store.records())
        return self._records[1]

    async def run_once(self, now: datetime, token: str) -> PollReport:
        start = await self.committer.cycle_start()
        watchers, sighted = start.watchers, start.sighted
        stored = await self.records(start.records_version)
        if watchers.nobody:
            report = PollReport()
            commit = Commit()
            if stored or sighted:  # the last subscription went away: forget the state, keep Redis bounded
                commit = Commit(forget=sorted(stored), abandon=[r.incident.id for r in stored.values() if r.incident],
                                sighted_done=sorted(sighted))
            commit.thor, commit.jobs = await self._probe_thor(now, start.thor, report)
            if commit != Commit():
                report.committed = await self.committer.commit(token, commit)
            return report
        # What `subscribe` saw is a box's first sighting until this worker records its own: a box confirmed
        # online that drops before the first poll is a change (and an alert), not "already down when watched".
        cycle = Cycle(now, watchers, stored, {b: r for b, r in sighted.items() if b not in stored}, start.thor)
        prefetched = self.sessions.prefetch()  # alongside the chargebox list: running charges, one call for the fleet
        try:
            observed = await self._observe(cycle)
        except ThorError as exc:
            cycle.report.ok, cycle.report.error = False, exc.code
            self._last_good = None
            log.warning("poll failed: Thor %s (%s); no box changes state this cycle", exc.code, exc.status)
            await prefetched
            cycle.report.committed = await self.committer.commit(token, self._thor_failed(exc, cycle))
            return cycle.report
        except BaseException:
            prefetched.cancel()  # (nobody will read it)
            raise
        change = cycle.change
        for box_id in cycle.new_sightings.keys() & observed:  # keep the sighting as the box's record from now on
            change.records.setdefault(box_id, cycle.records[box_id])
        self._forget(cycle, observed)
        change.sighted_done = sorted((set(sighted) - (cycle.new_sightings.keys() - observed))
                                     | (set(change.forget) & set(sighted)))
        self._thor_ok(cycle)
        change.history = self._history(cycle, stored)
        sessions = await self.sessions.cycle(cycle.now, watchers, cycle.records, prefetched)
        usage = await self.usage.cycle(cycle.now, watchers, cycle.records, sessions.running,
                                       sessions.change.attempts, PollView(cycle.occupied, self._specs),
                                       sessions.usage_version, reported=frozenset(sessions.reported_now))
        await self.sessions.corroborate_quiet(sessions, usage.incidents)
        usage.add_to(sessions.change)
        change.sessions = sessions.change
        change.jobs += sessions.jobs + usage.jobs
        change.incidents += sessions.incidents + usage.incidents
        cycle.report.sessions = sessions.report
        cycle.report.jobs = len(change.jobs)
        if change.records or change.forget:
            change.records_version = new_records_version()
        cycle.report.committed = await self.committer.commit(token, change)
        self._kept(stored, change, cycle.report.committed)
        self.sessions.committed(sessions, cycle.report.committed)
        self.usage.committed(usage, cycle.report.committed)
        self._seed_from = (watchers, cycle.records) if cycle.report.committed else None
        self._last_good = now if cycle.report.committed else None
        self._sighted = self._sighted or cycle.report.committed
        if not cycle.report.committed:
            log.warning("lost the leader lease during the cycle; another worker owns polling now")
        self._tally(cycle)
        return cycle.report

    def _tally(self, cycle: Cycle) -> None:
        """The fleet after the cycle, for metrics; the last tally again when nothing changed since."""
        last = self._tallied
        if last is not None and last[0] is cycle.records and not cycle.change.records and not cycle.change.forget:
            cycle.report.states, cycle.report.incidents = dict(last[1]), dict(last[2])
            return
        _tally(cycle)
        unchanged = not cycle.change.records and not cycle.change.forget
        self._tallied = (cycle.records, cycle.report.states, cycle.report.incidents) if unchanged else None

    def _kept(self, stored: dict[str, BoxRecord], change: Commit, committed: bool) -> None:
        """After this cycle's own commit, the records it wrote are what Redis holds: no need to read them back
        (they are re-read when anyone else changes them, or when the commit was refused)."""
        if not committed:
            self._records = None
        elif change.records_version is not None:
            records = {**stored, **change.records}
            for box_id in change.forget:
                records.pop(box_id, None)
            self._records = (change.records_version, records)

    async def seed_usage(self, now: datetime, token: str) -> bool:
        """One step of seeding connectors' usage from Thor's history, after a cycle (worker/usage.py)."""
        if self._seed_from is None:
            return False
        watchers, records = self._seed_from
        out = await self.usage.seed_step(now, watchers, records, PollView(specs=self._specs))
        if out.version is None:
            return False
        change = SessionCommit(now=now)
        out.add_to(change)
        ok = await self.committer.commit(token, Commit(sessions=change))
        self.usage.committed(out, ok)
        return ok

    def _history(self, cycle: Cycle, stored: dict[str, BoxRecord]) -> HistoryCommit:
        """Reports: the minutes since the last good poll were observed; boxes seen for the first time (and,
        once per worker start, every box, kept if already set: a box watched before history existed, after
        an upgrade, is measured from now rather than never)."""
        recent = self._last_good is not None and cycle.now - self._last_good <= self._observed_gap
        first = {**stored, **cycle.change.records} if not self._sighted else \
            {b: r for b, r in cycle.change.records.items() if b not in stored}
        read, self._specs_read_now = self._specs_read_now, set()
        ports = {b: len(self._specs[b]) for b in read
                 if self._specs[b] and self._ports_written.get(b) != len(self._specs[b]) and cycle.watchers.watches(b)}
        self._ports_written.update(ports)  # (re-sent after a refused commit: the next worker start writes all)
        return HistoryCommit(observed_from=self._last_good if recent else None, now=cycle.now,
                             first_seen={b: r.alias or b for b, r in first.items()}, ports=ports)

    async def _observe(self, cycle: Cycle) -> set[str]:
        try:
            observed = await self._observe_and_judge(cycle, lenient=self._lenient_cycles > 0)
        except ThorStreamUnreadable:
            # A value the streaming parser cannot hold (1e400, Infinity…): judge this cycle afresh from a
            # lenient parse of the whole list, and keep doing so for a while instead of failing twice.
            log.warning("Thor's list holds values the streaming parser refuses; reading it leniently")
            self._lenient_cycles = LENIENT_CYCLES
            cycle.restart()
            observed = await self._observe_and_judge(cycle, lenient=True)
        self._lenient_cycles = max(0, self._lenient_cycles - 1)
        return observed

    async def _observe_and_judge(self, cycle: Cycle, *, lenient: bool) -> set[str]:
        """Fetch what is watched and judge each box as it arrives; return the ids observed."""
        watched, want_all = set(cycle.watchers.by_box), bool(cycle.watchers.whole_fleet)
        report, change, records = cycle.report, cycle.change, cycle.records
        observed: set[str] = set()
        single: set[str] = set(watched)
        if want_all or len(watched) >= self.settings.list_threshold:
            report.list_calls += 1
            listed: set[str] = set()
            lacking: set[str] = set()
            quick = QuickJudge(cycle.now, self.thresholds).record
            read_specs = self._specs_due(cycle.now)
            connectors, changed = self._connectors, change.records
            for raw in await self.thor.iter_list_raw(only_active=False, lenient=lenient):
                box_id = str(raw["id"])
                listed.add(box_id)
                if not (want_all or box_id in watched):
                    continue
                prev = records.get(box_id)
                try:
                    decided = quick(prev, raw)
                except Exception as exc:  # one bad entry must not stop the fleet: skip it, keep its state
                    self._unreadable(box_id, type(exc).__name__, report)
                    continue
                if decided is not None:  # the common case, decided without building models
                    connectors(box_id, raw, cycle, read_specs)
                    observed.add(box_id)
                    if decided is not prev:
                        changed[box_id] = decided
                    continue
                if not has_live_fields(raw):
                    lacking.add(box_id)  # Thor's docs don't promise live fields in the list (thor-api notes §2.4)
                    continue
                if self._judge(box_id, raw, cycle):
                    observed.add(box_id)
            single = {i for i in watched if i not in observed} | lacking
            if want_all:
                single |= {i for i in records if i not in listed}
        if single:
            for box_id, obs in (await self._observe_each(sorted(single), report)).items():
                if self._judge(box_id, obs, cycle):
                    observed.add(box_id)
        report.observed = len(observed)
        return observed

    def _judge(self, box_id: str, observation: Observation | dict[str, Any], cycle: Cycle) -> bool:
        """Judge one box into the cycle's change; False when it could not be judged (its state stays)."""
        prev = cycle.records.get(box_id)
        try:
            if isinstance(observation, dict):
                observation = Observation(box_id, parse_chargebox(observation))
            if observation.box is not None and observation.box.unreadable:
                self._unreadable(box_id, ", ".join(observation.box.unreadable), None)
            if observation.box is not None:
                box = observation.box
                cycle.occupied[box_id] = box.occupied
                self._specs_read_now.add(box_id)
                self._specs[box_id] = shared_specs(tuple(ConnectorSpec(float(c.power_w) if c.power_w else None,
                                                                       c.power_type == "DC") for c in box.connectors))
            new, events = step(prev, observation, cycle.now, self.thresholds)
        except Exception as exc:  # one bad box must not stop the fleet
            self._unreadable(box_id, type(exc).__name__, cycle.report)
            return False
        if new != prev:
            cycle.change.records[box_id] = new
        for event in events:
            cycle.report.events += 1
            cycle.change.incidents.append(event.incident)
            kind = JobKind.ALERT if isinstance(event, Opened) else JobKind.RECOVERY
            cycle.change.jobs += incident_jobs(kind, event.incident.id, box_id, cycle.watchers.channels(box_id),
                                               cycle.now)
        return True

    def _specs_due(self, now: datetime) -> bool:
        due = self._specs_read is None or now - self._specs_read >= SPECS_FRESH
        if due:
            self._specs_read = now
        return due

    def _connectors(self, box_id: str, raw: dict[str, Any], cycle: Cycle, read_specs: bool) -> None:
        """What the usage watcher needs from a listed box: its occupied connectors, and (hourly) their ratings."""
        occupied = occupied_numbers(raw)
        if occupied:
            cycle.occupied[box_id] = occupied
        if read_specs or box_id not in self._specs:
            self._specs[box_id] = connector_specs(raw)
            self._specs_read_now.add(box_id)

    def _unreadable(self, box_id: str, what: str, report: PollReport | None) -> None:
        """Log a box's unreadable data once (until it changes), not every cycle."""
        if report is not None:
            report.skipped.append(box_id)
        if self._logged_unreadable.get(box_id) == what:
            return
        if len(self._logged_unreadable) >= MAX_LOGGED_UNREADABLE:
            self._logged_unreadable.clear()
        self._logged_unreadable[box_id] = what
        if report is not None:
            log.error("chargebox %s: Thor's data for it cannot be judged (%s); skipping it, other boxes go on",
                      box_id[:80], what, extra={"box_id": box_id[:80]})
        else:
            log.warning("chargebox %s: Thor sent unreadable data (%s); treated as unknown", box_id[:80], what[:300],
                        extra={"box_id": box_id[:80]})

    @staticmethod
    def _forget(cycle: Cycle, observed: set[str]) -> None:
        """Drop records nobody watches any more, and boxes deleted in Thor long ago: Redis stays bounded.
        (A box back in Thor after that long is kept: its notice is closed.)"""
        watchers, change, records, now = cycle.watchers, cycle.change, cycle.records, cycle.now
        skipped = set(cycle.report.skipped)
        forget = {b for b in records.keys() - observed if not watchers.watches(b) and b not in skipped}
        forget.update(b for b, r in records.items() if r.status is Status.GONE and now - r.since > FORGET_GONE_AFTER
                      and change.records.get(b, r).status is Status.GONE)
        for box_id in sorted(forget):
            change.forget.append(box_id)
            incident = records[box_id].incident
            if incident is not None:  # nobody will see it resolve: let it expire like a resolved one
                change.abandon.append(incident.id)

    async def _observe_each(self, box_ids: list[str], report: PollReport) -> dict[str, Observation]:
        report.box_calls += len(box_ids)
        results = await self.thor.get_many(box_ids, concurrency=self.settings.poll_concurrency)
        observations: dict[str, Observation] = {}
        failures: list[ThorError] = []
        for box_id, result in results.items():
            if isinstance(result, ThorAccessDenied):
                raise result
            if isinstance(result, ThorBadResponse):  # Thor answered, about a box it cannot describe: that box only
                self._unreadable(box_id, result.code, report)
            elif isinstance(result, ThorError):
                failures.append(result)
                report.skipped.append(box_id)
            else:
                observations[box_id] = Observation(box_id, result)
        if failures and not observations:
            raise failures[-1]  # every call failed: that is Thor failing, not the fleet
        return observations

    async def _probe_thor(self, now: datetime, health: ThorHealth,
                          report: PollReport) -> tuple[ThorHealth | None, list[Job]]:
        """Nothing is watched, so nothing is polled: one cheap call (the running charges) still tells whether
        Thor answers with this key, for `/readyz` (which needs Thor's last poll to have succeeded). Thor's new
        health (None when unchanged), and the "Thor is back" notices owed to channels told of an outage."""
        try:
            await self.thor.running_charges()
        except ThorError as exc:
            report.ok, report.error = False, exc.code
            log.warning("Thor probe failed (nothing is watched yet): Thor %s (%s)", exc.code, exc.status)
            failed, _ = after_failed_poll(health, code=exc.code, permanent=exc.permanent, now=now,
                                          outage_cycles=self.settings.thor_outage_cycles, channels=[])
            # Nobody heard of it: a channel subscribing during the outage is told, as by a watched cycle.
            return failed.model_copy(update={"notified": health.notified, "told": health.told}), []
        return after_good_poll(health, now=now)

    def _thor_failed(self, exc: ThorError, cycle: Cycle) -> Commit:
        health, jobs = after_failed_poll(cycle.thor, code=exc.code, permanent=exc.permanent,
                                         now=cycle.now, outage_cycles=self.settings.thor_outage_cycles,
                                         channels=cycle.watchers.subscribed())
        return Commit(thor=health, jobs=jobs)

    @staticmethod
    def _thor_ok(cycle: Cycle) -> None:
        health, jobs = after_good_poll(cycle.thor, now=cycle.now)
        if health is not None:
            cycle.change.thor = health
            cycle.change.jobs += jobs


def _tally(cycle: Cycle) -> None:
    """The fleet after the cycle, for metrics: counted from what is in memory (no extra Redis read), in C."""
    records = cycle.records
    if cycle.change.records or cycle.change.forget:
        records = {**records, **cycle.change.records}
        for box_id in cycle.change.forget:
            records.pop(box_id, None)
    states = Counter(r.status for r in records.values())
    incidents = Counter(r.incident.kind for r in records.values()
                        if r.incident is not None and r.incident.resolved is None)
    cycle.report.states = {str(status): count for status, count in states.items()}
    cycle.report.incidents = {str(kind): count for kind, count in incidents.items()}
