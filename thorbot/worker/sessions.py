"""The session half of a poll cycle: running charges, finished ones, Thor's notes, remote-stop outcomes.

One `GET /charges/running` per cycle for the whole fleet (never per box). `/charges/finished` is
read every THORBOT_FINISHED_INTERVAL, for today (and yesterday, just after midnight), and only
transactions not counted before are counted. Thor's notifications, when set up, arrive through
the inbox `thorbot serve` fills. Decisions are pure (domain/sessions.py, domain/failed_starts.py,
domain/notify.py); this gathers the facts and returns what to commit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from thorbot.adapters.session_store import CycleState, SessionStore, StopRequest
from thorbot.adapters.store import SessionCommit
from thorbot.adapters.thor import ThorClient
from thorbot.adapters.usage_store import UsageStore
from thorbot.domain.driver_reports import judge_action, judge_report
from thorbot.domain.failed_starts import Attempt, ConnectorRecord, connector_key, corroborate, judge_attempt
from thorbot.domain.incidents import BoxRecord, Incident, Opened, Status
from thorbot.domain.notify import (
    Job,
    JobKind,
    Watchers,
    driver_report_jobs,
    incident_jobs,
    stop_outcome_job,
    stuck_jobs,
)
from thorbot.domain.rules import Rules
from thorbot.domain.sessions import Session, SessionWatch, StopNote, day_of, is_failed, watch_session
from thorbot.errors import ThorError

log = logging.getLogger(__name__)


@dataclass
class SessionReport:
    running: int | None = None  # None: Thor's running list could not be read this cycle
    finished_read: int = 0
    attempts: int = 0
    stuck: int = 0
    stops_settled: int = 0


@dataclass
class SessionOutcome:
    change: SessionCommit
    jobs: list[Job] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    report: SessionReport = field(default_factory=SessionReport)
    running: dict[int, Session] | None = None  # Thor's running charges (None: unreadable this cycle)
    usage_version: str | None = None  # as read at the start of the cycle (worker/usage.py)
    reported_now: set[tuple[str, int]] = field(default_factory=set)  # connectors with a report counted this cycle
    reported_open: set[str] = field(default_factory=set)  # connector keys with an open reported incident


@dataclass
class SessionCycle:
    """What the session half of one poll cycle knows, and the outcome it builds."""

    now: datetime
    watchers: Watchers
    records: dict[str, BoxRecord]
    state: CycleState
    outcome: SessionOutcome
    connectors: dict[str, ConnectorRecord] = field(default_factory=dict)  # read once, judged by reports and attempts


class SessionWatcher:
    def __init__(self, store: SessionStore, thor: ThorClient, rules: Rules, *, finished_every: float,
                 usage: UsageStore | None = None) -> None:
        self.store = store
        self.usage = usage  # a connector thorbot already judges "not charging anyone" corroborates a report
        self.thor = thor
        self.stall = rules.stall
        self.failures = rules.failures
        self.finished_every = timedelta(seconds=finished_every)
        self._watches: dict[int, SessionWatch] = {}     # every running session seen, rising or flat
        self._persisted: dict[int, SessionWatch] = {}   # what Redis holds
        self._version: str | None = None
        self._last_error: str | None = None

    def prefetch(self) -> asyncio.Task[tuple[CycleState, dict[int, Session] | None]]:
        """Start reading what the cycle's sessions start from (Redis) and Thor's running charges now, while the
        chargebox list is fetched: neither waits for the other."""
        return asyncio.ensure_future(self._prefetch())

    async def _prefetch(self) -> tuple[CycleState, dict[int, Session] | None]:
        state, running = await asyncio.gather(self.store.cycle_state(), self._running())
        return state, running

    async def cycle(self, now: datetime, watchers: Watchers, records: dict[str, BoxRecord],
                    prefetched: asyncio.Task[tuple[CycleState, dict[int, Session] | None]]) -> SessionOutcome:
        outcome = SessionOutcome(SessionCommit(now=now))
        state, running = await prefetched
        cycle = SessionCycle(now, watchers, records, state, outcome)
        outcome.running, outcome.usage_version = running, cycle.state.usage_version
        outcome.report.running = None if running is None else len(running)
        if running is not None:
            await self._watch(running, cycle)
        await self._judge_reports(cycle)
        attempts = await self._attempts(cycle)
        await self._judge_attempts(attempts, cycle)
        await self._settle_stops(running, cycle)
        outcome.reported_open = _open_reports(cycle)
        return outcome

    async def _running(self) -> dict[int, Session] | None:
        try:
            sessions = await self.thor.running_charges()
        except ThorError as exc:
            if exc.code != self._last_error:
                log.warning("cannot read Thor's running charges (%s); sessions are not watched this cycle", exc.code)
            self._last_error = exc.code
            return None
        self._last_error = None
        return {s.transaction: s for s in sessions}

    async def _watch(self, running: dict[int, Session], cycle: SessionCycle) -> None:
        """Advance every running session on a watched box; announce the stuck ones once."""
        now, records, state, outcome = cycle.now, cycle.records, cycle.state, cycle.outcome
        if state.watches_version != self._version:  # written since we looked (a failover, our own commit): re-read
            self._persisted = await self.store.watches()
            self._watches = {**self._watches, **self._persisted}
            self._version = state.watches_version
        change = outcome.change
        for transaction, session in running.items():
            channels = cycle.watchers.channels(session.box_id)
            if not channels:
                continue
            record = records.get(session.box_id)
            reachable = record is None or record.status in (Status.ONLINE, Status.RECOVERING)
            watch, stuck = watch_session(self._watches.get(transaction), session, now, self.stall,
                                         box_reachable=reachable)
            self._watches[transaction] = watch
            if watch.persist(self._persisted.get(transaction)):
                change.watches[transaction] = watch
            if stuck is not None:
                outcome.jobs += stuck_jobs(session, stuck.reason, stuck.flat_since, channels, now)
                outcome.report.stuck += 1
        for transaction in [t for t in self._watches if t not in running]:
            del self._watches[transaction]
            if transaction in self._persisted:
                change.ended.append(transaction)

    def committed(self, outcome: SessionOutcome, ok: bool) -> None:
        """After the commit: a refused commit (lost lease) means the cache may be wrong; re-read next time."""
        if not ok:
            self._version = None

    async def _attempts(self, cycle: SessionCycle) -> list[Attempt]:
        """New attempts: finished charges (every THORBOT_FINISHED_INTERVAL) and the notifications' inbox."""
        now, state, outcome = cycle.now, cycle.state, cycle.outcome
        attempts: list[Attempt] = []
        last = state.finished_read_at
        if last is None or now - last >= self.finished_every:
            since = now - timedelta(hours=2)  # just after midnight, yesterday's last charges too
            try:
                finished = await self.thor.finished_charges(day_of(since), day_of(now))
            except ThorError as exc:
                log.warning("cannot read Thor's finished charges (%s); trying again next cycle", exc.code)
                finished = None
            if finished is not None:
                outcome.change.finished_read = True
                outcome.report.finished_read = len(finished)
                # A charge whose energy Thor gave unreadable is unknown: neither a failed attempt nor a good one.
                attempts += [Attempt(box_id=f.box_id, connector=f.connector, at=f.finished, transaction=f.transaction,
                                     energy_wh=f.energy_wh, ok=not is_failed(f.energy_wh, self.failures.min_wh),
                                     started=f.started)
                             for f in finished if f.energy_wh is not None]
        outcome.change.inbox_taken = len(state.inbox)
        attempts += state.inbox
        # Polled and notified, a finished charge may arrive twice, in one cycle or in two: count it once.
        by_transaction: dict[int, Attempt] = {}
        for attempt in attempts:
            if attempt.transaction:
                by_transaction.setdefault(attempt.transaction, attempt)
        unseen = await self.store.unseen_finished(list(by_transaction))
        fresh = [a for a in attempts if not a.transaction] + [a for t, a in by_transaction.items() if t in unseen]
        outcome.report.attempts = len(fresh)
        outcome.change.attempts = sorted(fresh, key=lambda a: a.at)
        return outcome.change.attempts

    async def _judge_attempts(self, attempts: list[Attempt], cycle: SessionCycle) -> None:
        """Failed starts: judge each watched connector's attempts, oldest first. A successful one also
        corroborates drivers' reports on the other connectors of its box (domain/driver_reports.py)."""
        watchers, records, outcome = cycle.watchers, cycle.records, cycle.outcome
        watched = [a for a in attempts if watchers.watches(a.box_id)]
        reported = self._reported_by_box(cycle)
        siblings = {k for a in watched if a.ok for k in reported.get(a.box_id, ())}
        current = await self._connectors(cycle, {connector_key(a.box_id, a.connector) for a in watched} | siblings)
        for attempt in watched:
            key = connector_key(attempt.box_id, attempt.connector)
            record = records.get(attempt.box_id)
            new, events = judge_attempt(current.get(key), attempt, self.failures,
                                        alias=record.alias if record else None)
            current[key] = new
            outcome.change.connectors[key] = new
            for other in reported.get(attempt.box_id, ()) if attempt.ok else ():
                confirmed = corroborate(current.get(other), attempt.started or attempt.at) if other != key else None
                if confirmed is not None and confirmed.reported is not None:
                    current[other] = outcome.change.connectors[other] = confirmed
                    outcome.incidents.append(confirmed.reported)
            for event in events:
                outcome.incidents.append(event.incident)
                kind = JobKind.ALERT if isinstance(event, Opened) else JobKind.RECOVERY
                outcome.jobs += incident_jobs(kind, event.incident.id, attempt.box_id,
                                              watchers.channels(attempt.box_id), attempt.at)

    @staticmethod
    def _reported_by_box(cycle: SessionCycle) -> dict[str, list[str]]:
        """Box id → its connectors' keys with an open reported incident (as stored, and as judged this cycle)."""
        by_box: dict[str, list[str]] = {}
        for key in sorted(_open_reports(cycle)):
            by_box.setdefault(key.rsplit("#", 1)[0], []).append(key)
        return by_box

    async def corroborate_quiet(self, outcome: SessionOutcome, incidents: list[Incident]) -> None:
        """"Not charging anyone" opened this cycle (worker/usage.py) on a connector drivers reported: thorbot's
        own evidence agrees with them. Called after the usage half, before the commit."""
        opened = {connector_key(i.box_id, i.connector): i.opened for i in incidents
                  if i.kind == "quiet" and i.resolved is None and i.connector}
        wanted = sorted(opened.keys() & outcome.reported_open)
        if not wanted:
            return
        records = {k: outcome.change.connectors[k] for k in wanted if k in outcome.change.connectors}
        records.update(await self.store.connector_records([k for k in wanted if k not in records]))
        for key in wanted:
            confirmed = corroborate(records.get(key), opened[key])
            if confirmed is not None and confirmed.reported is not None:
                outcome.change.connectors[key] = confirmed
                outcome.incidents.append(confirmed.reported)

    async def _connectors(self, cycle: SessionCycle, wanted: set[str]) -> dict[str, ConnectorRecord]:
        missing = sorted(wanted - cycle.connectors.keys())
        if missing:
            cycle.connectors.update(await self.store.connector_records(missing))
        return cycle.connectors

    async def _judge_reports(self, cycle: SessionCycle) -> None:
        """Drivers' reports (the report page, workflow steps): each opens or adds to its connector's reported
        incident (domain/driver_reports.py); a report on a box no channel watches is dropped."""
        reports, watchers, outcome = cycle.state.driver_reports, cycle.watchers, cycle.outcome
        await self._judge_actions(cycle)
        outcome.change.driver_reports_taken = len(reports)
        watched = sorted((r for r in reports if watchers.watches(r.box_id)), key=lambda r: r.at)
        if len(watched) < len(reports):
            log.info("%d driver report(s) on boxes no channel watches were dropped", len(reports) - len(watched))
        current = await self._connectors(cycle, {connector_key(r.box_id, r.connector) for r in watched})
        usage = await self.usage.load(sorted({r.box_id for r in watched})) if self.usage and watched else {}
        for report in watched:
            key = connector_key(report.box_id, report.connector)
            record = cycle.records.get(report.box_id)
            quiet = usage.get((report.box_id, report.connector))
            new, events = judge_report(current.get(key), report, alias=record.alias if record else None,
                                       timezone=record.incident.timezone if record and record.incident else None,
                                       quiet=quiet is not None and quiet.quiet is not None
                                       and quiet.quiet.resolved is None)
            current[key] = new
            outcome.change.connectors[key] = new
            channels = watchers.channels(report.box_id)
            if events:
                outcome.reported_now.add((report.box_id, report.connector))
            for event in events:
                outcome.incidents.append(event.incident)
                if isinstance(event, Opened):
                    outcome.jobs += incident_jobs(JobKind.ALERT, event.incident.id, report.box_id, channels,
                                                  cycle.now)
                else:
                    report_id = f"{int(report.at.timestamp() * 1000)}-{report.source[:12]}"
                    outcome.jobs += driver_report_jobs(event.incident.id, report.box_id, report_id,
                                                       report.problem.value, report.details, report.contact,
                                                       channels, cycle.now)

    async def _judge_actions(self, cycle: SessionCycle) -> None:
        """People's Confirm and Resolve on drivers' reports (pressed in serve, applied here, the one writer)."""
        actions, outcome = cycle.state.person_actions, cycle.outcome
        outcome.change.person_actions_taken = len(actions)
        current = await self._connectors(cycle, {connector_key(a.box_id, a.connector) for a in actions})
        for action in actions:
            key = connector_key(action.box_id, action.connector)
            new, events = judge_action(current.get(key), action)
            current[key] = new
            outcome.change.connectors[key] = new
            if new.reported is not None:  # confirmed: its record (and so the alert when redrawn) says so
                outcome.incidents.append(new.reported)
            for event in events:
                outcome.incidents.append(event.incident)
                outcome.jobs += incident_jobs(JobKind.RECOVERY, event.incident.id, action.box_id,
                                              cycle.watchers.channels(action.box_id), cycle.now)

    async def _settle_stops(self, running: dict[int, Session] | None, cycle: SessionCycle) -> None:
        """A remote stop is confirmed by Thor's stop note or by the charge leaving the running list."""
        now, state, outcome = cycle.now, cycle.state, cycle.outcome
        requests = await self.store.stop_requests(list(state.pending_stops))
        notes = await self.store.stop_notes(sorted({r.transaction for r in requests.values()}))
        for stop_id, request in requests.items():
            note = notes.get(request.transaction)
            confirmed: bool | None = None
            energy = request.energy_wh
            if note is not None and note.accepted and not note.rejected_remote_stop and _same_stop(note, request):
                confirmed, energy = True, note.energy_wh or energy
            elif running is not None and request.transaction not in running:
                confirmed = True
            elif now >= state.pending_stops[stop_id]:
                confirmed = False
            if confirmed is None:
                continue
            outcome.change.stops_settled.append(stop_id)
            outcome.change.stop_updates[stop_id] = request.model_copy(
                update={"confirmed": confirmed, "settled_at": now, "energy_wh": energy})
            outcome.report.stops_settled += 1
            if request.channel and request.thread_ts:
                outcome.jobs.append(stop_outcome_job(stop_id, request.channel, request.thread_ts, confirmed, now))


def _open_reports(cycle: SessionCycle) -> set[str]:
    """Connector keys with an open reported incident: as stored at the cycle's start, updated by the records
    judged in it so far."""
    return (set(cycle.state.reported_open) | {k for k, r in cycle.connectors.items() if r.reported is not None}) \
        - {k for k, r in cycle.connectors.items() if r.reported is None}


def _same_stop(note: StopNote, request: StopRequest) -> bool:
    """Only the stop notification of this very charge confirms a remote stop: same transaction (the note is
    keyed by it) and, when both are known, the same id_tag. A forged note would have to know the RFID."""
    return note.transaction == request.transaction and (
        request.id_tag_hash is None or note.id_tag_hash == request.id_tag_hash)
