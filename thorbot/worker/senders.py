"""One sender per kind of message: the facts it needs, who is skipped and why (domain/notify.py decides), a
pure render (domain/), and where it goes. The outbox (worker/outbox.py) does the claiming, posting,
finding an earlier post, pacing and fencing for all of them.

Each sender is typed by the job model(s) it sends (`BaseSender[AlertJob]`): its jobs come in as that model.
Adding a kind of message: docs/architecture.md, "A new kind of message" (its model in domain/notify.py, its
sender here, one `MessageKind` in worker/kinds.py).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from thorbot.adapters.slack import SlackApi
from thorbot.context import Stores
from thorbot.domain.alerts import (
    render_alert,
    render_driver_report,
    render_escalation,
    render_recovery,
    render_thor_down,
    render_thor_up,
)
from thorbot.domain.blocks import message, section
from thorbot.domain.causes import ASKS_A_CAUSE
from thorbot.domain.digest import digest_period, lateness, latest_due
from thorbot.domain.hours import ALWAYS, PostedHours
from thorbot.domain.incidents import Incident
from thorbot.domain.notify import (
    AlertJob,
    CauseReminderJob,
    ConnectorNoticeJob,
    DigestJob,
    DriverReportJob,
    EscalateDmJob,
    EscalateJob,
    Job,
    RecoveryJob,
    Skip,
    StopOutcomeJob,
    StuckJob,
    ThorDownJob,
    ThorUpJob,
    cause_reminder_job,
    page_jobs,
    skip_reason,
)
from thorbot.domain.report_view import digest_facts, render_digest
from thorbot.domain.session_messages import SessionView, render_connector_notice, render_stop_outcome, render_stuck
from thorbot.domain.sessions import started_by, stop_id_tag
from thorbot.services.alert_state import message_cause, redraw_alert
from thorbot.services.pages import enqueue_page
from thorbot.services.reports import gather_report
from thorbot.worker.outbox import MessageFor, PlanFor, Where

log = logging.getLogger(__name__)
Payload = dict[str, Any]
J = TypeVar("J", bound=Job)  # the job model(s) a sender sends
InThread = TypeVar("InThread", RecoveryJob, DriverReportJob)  # the kinds that go in their incident's alert thread


@dataclass
class Facts:
    """What every sender may need: the stores, the bot's Web API (for redraws), the clock, two settings."""

    stores: Stores
    slack: SlackApi
    clock: Callable[[], datetime]
    escalate_max: int
    offer_stop: bool  # a Stop button only when someone may press it
    hours: PostedHours = ALWAYS  # THORBOT_HOURS_OF_OPERATION in THORBOT_TIMEZONE, for the digests' figures
    cause_reminder: float = 0.0  # THORBOT_CAUSE_REMINDER: seconds after a recovery to ask for its cause (0: never)
    runbook: str | None = None  # THORBOT_RUNBOOK_URL: a Runbook link on every alert and page


class BaseSender(ABC, Generic[J]):
    """A sender of jobs of model J (a `SenderFor[J]`, worker/outbox.py), built from the worker's facts: by
    default in the channel itself, and nothing to do once posted."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.subscriptions = facts.stores.subscriptions
        self.records = facts.stores.records
        self.outbox = facts.stores.outbox
        self.history = facts.stores.history
        self.oncall = facts.stores.oncall

    async def where(self, channel: str, jobs: list[J]) -> Where:
        return Where()

    @abstractmethod
    async def plan(self, channel: str, jobs: list[J], now: datetime) -> PlanFor[J]:
        """Which jobs to skip (and why), and the message for the rest."""

    async def landed(self, channel: str, ts: str, incident_ids: list[str], where: Where, *,
                     earlier: bool = False) -> None:
        return None

    def one(self, payload: Payload) -> Callable[[list[J]], Payload]:
        return lambda jobs: payload

    def single(self, jobs: list[J], payload: Payload, now: datetime) -> PlanFor[J]:
        """A kind sent one by one with a fixed message: that message, unless the general rules skip the job."""
        why = skip_reason(jobs[0], now=now)
        return PlanFor([(jobs[0], why)]) if why is not None else PlanFor(message=MessageFor(jobs, self.one(payload)))


class Alerts(BaseSender[AlertJob]):
    """Every alert of one moment in a channel as one grouped message, mentioning who is on call."""

    async def plan(self, channel: str, jobs: list[AlertJob], now: datetime) -> PlanFor[AlertJob]:
        incidents = {i.id: i for i in await self.records.incidents([j.incident_id for j in jobs])}
        skip: list[tuple[AlertJob, Skip]] = []
        shown: list[AlertJob] = []
        for job in jobs:
            incident = incidents.get(job.incident_id)
            if incident is None:
                skip.append((job, Skip.FORGOTTEN))
                continue
            hold = await self.oncall.held(channel, incident.box_id, now)
            why = skip_reason(job, now=now, watching=await self.subscriptions.is_watching(channel, job.box_id),
                              held=hold is not None)
            if why is None:
                shown.append(job)
            else:
                skip.append((job, why))
                if why is Skip.HELD and hold is not None:  # posted when the hold ends, if still open (worker/holds.py)
                    await self.oncall.remember_held(channel, incident.id, incident.box_id, hold.until)
        if not shown:
            return PlanFor(skip)
        target = await self.oncall.target(channel, now)
        mention = target.mention if target else None
        pager = await self.facts.stores.pagers.link(channel)

        def render(posted: list[AlertJob]) -> Payload:
            return render_alert([incidents[j.incident_id] for j in posted], now, mention=mention,
                                runbook=self.facts.runbook)

        def page(ts: str) -> list[Job]:
            return page_jobs("trigger", channel, ts, now, delay=pager.delay) if pager is not None else []

        return PlanFor(skip, MessageFor(shown, render, names=lambda posted: [j.incident_id for j in posted],
                                        then=page))

    async def landed(self, channel: str, ts: str, incident_ids: list[str], where: Where, *,
                     earlier: bool = False) -> None:
        """An alert pages the channel's pager (if it has one; queued with the post, and again here when an earlier
        attempt's post is found), and, still open with someone on call, is watched for escalation."""
        now = self.facts.clock()
        if earlier:  # posted now, its page was queued with it (Message.then)
            await enqueue_page(self.facts.stores.pagers, self.outbox, "trigger", channel, ts, now)
        if not any(i.resolved is None for i in await self.records.incidents(incident_ids)):
            return
        if self.facts.escalate_max > 0 and await self.oncall.target(channel, now) is not None:
            await self.oncall.schedule_escalation(channel, ts, now)


class _InAlertThread(BaseSender[InThread]):
    """A message about one incident in the thread of its alert in that channel (a recovery, a further driver's
    report): skipped where the box is no longer watched or no alert was posted."""

    async def where(self, channel: str, jobs: list[InThread]) -> Where:
        return Where(thread_ts=await self.records.alert_ts(jobs[0].incident_id, channel))

    async def _alert(self, channel: str, job: InThread, now: datetime) -> tuple[Incident, str] | PlanFor[InThread]:
        """The incident and its alert's ts in `channel`, or the Plan that skips the job."""
        incident = await self.records.incident(job.incident_id)
        alert_ts = await self.records.alert_ts(job.incident_id, channel)
        why = skip_reason(job, now=now, watching=await self.subscriptions.is_watching(channel, job.box_id),
                          alert_posted=incident is not None and alert_ts is not None)
        if why is not None or incident is None or alert_ts is None:
            return PlanFor([(job, why or Skip.NEVER_ALERTED)])
        return incident, alert_ts


class Recoveries(_InAlertThread[RecoveryJob]):
    """In the alert's thread: every alert posted gets exactly one, even one that went out late."""

    async def plan(self, channel: str, jobs: list[RecoveryJob], now: datetime) -> PlanFor[RecoveryJob]:
        found = await self._alert(channel, jobs[0], now)
        if isinstance(found, PlanFor):
            return found
        incident, alert_ts = found
        named = await self.records.incidents(await self.records.message_incidents(channel, alert_ts))
        pager = await self.facts.stores.pagers.link(channel)
        over = bool(named) and all(i.resolved is not None for i in named)
        asks = over and self.facts.cause_reminder > 0 and any(i.kind in ASKS_A_CAUSE for i in named)

        def page(ts: str) -> list[Job]:  # the last of the alert's incidents resolved: so does its page
            return (page_jobs("resolve", channel, alert_ts, now) if over and pager is not None else []) + \
                ([cause_reminder_job(channel, alert_ts, now, self.facts.cause_reminder)] if asks else [])

        return PlanFor(message=MessageFor(jobs, self.one(render_recovery(incident)), then=page))

    async def landed(self, channel: str, ts: str, incident_ids: list[str], where: Where, *,
                     earlier: bool = False) -> None:
        if where.thread_ts is None:
            return
        # The alert itself now shows it resolved; once all it named has, its page resolves too.
        await redraw_alert(self.records, self.oncall, self.history, self.facts.slack, channel, where.thread_ts,
                           self.facts.clock(),
                           self.facts.runbook)
        if not earlier:  # posted now, its page's resolve was queued with it (Message.then)
            return
        named = await self.records.incidents(await self.records.message_incidents(channel, where.thread_ts))
        if named and all(i.resolved is not None for i in named):
            await enqueue_page(self.facts.stores.pagers, self.outbox, "resolve", channel, where.thread_ts,
                               self.facts.clock())


class ThorNotices(BaseSender[ThorDownJob | ThorUpJob]):
    """"Thor unreachable" and "recovered", once per outage in every subscribed channel."""

    async def plan(self, channel: str, jobs: list[ThorDownJob | ThorUpJob], now: datetime
                   ) -> PlanFor[ThorDownJob | ThorUpJob]:
        job = jobs[0]
        why = skip_reason(job, now=now)
        if why is not None:
            return PlanFor([(job, why)])
        if isinstance(job, ThorDownJob):
            return PlanFor(message=MessageFor(jobs, self.one(render_thor_down(job.code, job.since, job.cycles))))
        return PlanFor(message=MessageFor(jobs, self.one(render_thor_up(job.since, now))))


class Escalations(BaseSender[EscalateJob | EscalateDmJob]):
    """An unacknowledged alert re-notified in its thread (mentioning who is on call), and by DM to a person."""

    async def where(self, channel: str, jobs: list[EscalateJob | EscalateDmJob]) -> Where:
        job = jobs[0]
        if isinstance(job, EscalateDmJob):  # "" when nobody can be DMed: `plan` skips it then
            target = await self.oncall.target(channel, self.facts.clock())
            return Where(dm_to=target.id if target is not None and target.kind == "user" else "")
        return Where(thread_ts=job.message_ts)

    async def plan(self, channel: str, jobs: list[EscalateJob | EscalateDmJob], now: datetime
                   ) -> PlanFor[EscalateJob | EscalateDmJob]:
        job = jobs[0]
        incidents = [i for i in await self.records.incidents(await self.records.message_incidents(channel,
                                                                                                  job.message_ts))
                     if i.resolved is None]
        target = await self.oncall.target(channel, now)
        needed = bool(incidents) and await self.oncall.ack(channel, job.message_ts) is None
        why = skip_reason(job, now=now, still_needed=needed,
                          target_is_person=target is not None and target.kind == "user")
        if why is not None or target is None and isinstance(job, EscalateDmJob):
            return PlanFor([(job, why or Skip.GROUP_TARGET)])
        max_count = self.facts.escalate_max
        if isinstance(job, EscalateJob):
            payload = render_escalation(incidents, job.count, max_count, target.mention if target else None)
        else:
            payload = render_escalation(incidents, job.count, max_count, None, channel=channel)
        return PlanFor(message=MessageFor(jobs, self.one(payload)))


class StuckCharges(BaseSender[StuckJob]):
    """A low-severity notice for a charge that stalled or ran for a day: no mention, a Stop button."""

    async def plan(self, channel: str, jobs: list[StuckJob], now: datetime) -> PlanFor[StuckJob]:
        job = jobs[0]
        session = job.session
        held = await self.oncall.held(channel, session.box_id, now) is not None
        why = skip_reason(job, now=now, watching=await self.subscriptions.is_watching(channel, job.box_id), held=held)
        if why is not None:
            return PlanFor([(job, why)])
        note = (await self.facts.stores.sessions.start_notes([session.transaction])).get(session.transaction)
        record = (await self.records.record_statuses([session.box_id])).get(session.box_id)
        view = SessionView(session, started_by(session, note), stop_id_tag(session, note) is not None,
                           offer_stop=self.facts.offer_stop)
        payload = render_stuck(view, name=(record.alias if record and record.alias else session.box_id),
                               reason=job.reason, flat_since=job.flat_since, now=now)
        return PlanFor(message=MessageFor(jobs, self.one(payload)))


class StopOutcomes(BaseSender[StopOutcomeJob]):
    """In the thread of a remote stop's audit message: confirmed, or not."""

    async def where(self, channel: str, jobs: list[StopOutcomeJob]) -> Where:
        return Where(thread_ts=jobs[0].message_ts)

    async def plan(self, channel: str, jobs: list[StopOutcomeJob], now: datetime) -> PlanFor[StopOutcomeJob]:
        job = jobs[0]
        request = (await self.facts.stores.sessions.stop_requests([job.stop_id])).get(job.stop_id)
        if request is None:
            return PlanFor([(job, Skip.FORGOTTEN)])
        payload = render_stop_outcome(name=request.alias or request.box_id, connector=request.connector,
                                      confirmed=job.confirmed, energy_wh=request.energy_wh,
                                      waited=(request.settled_at or job.created) - request.at)
        return PlanFor(message=MessageFor(jobs, self.one(payload)))


class Digests(BaseSender[DigestJob]):
    """A channel's scheduled digest, rendered now from Redis; late when it was queued late."""

    async def plan(self, channel: str, jobs: list[DigestJob], now: datetime) -> PlanFor[DigestJob]:
        job = jobs[0]
        plan = await self.facts.stores.digests.plan(channel)
        why = skip_reason(job, now=now)
        if why is not None or plan is None:
            return PlanFor([(job, why or Skip.FORGOTTEN)])
        due = latest_due(plan, job.due_at)
        boxes, whole_fleet = await self.subscriptions.channel_subscriptions(channel)
        records = await self.records.records()
        report = await gather_report(self.facts.stores.report_source, digest_period(plan, due), now,
                                     None if whole_fleet else sorted(boxes), records, hours=self.facts.hours)
        watched = records if whole_fleet else {b: r for b, r in records.items() if b in boxes}
        down, holds = digest_facts(watched, await self.oncall.holds(channel, now), records)
        payload = render_digest(report, cadence=plan.cadence, down_now=down, holds=holds,
                                late_by=lateness(job.due_at, job.created), now=now)
        return PlanFor(message=MessageFor(jobs, self.one(payload)))


class ConnectorNotices(BaseSender[ConnectorNoticeJob]):
    """"Occupied without a charge" and "charging slowly": quiet notices, once per episode, like stuck charges."""

    async def plan(self, channel: str, jobs: list[ConnectorNoticeJob], now: datetime) -> PlanFor[ConnectorNoticeJob]:
        job = jobs[0]
        held = await self.oncall.held(channel, job.box_id, now) is not None
        why = skip_reason(job, now=now, watching=await self.subscriptions.is_watching(channel, job.box_id), held=held)
        if why is not None:
            return PlanFor([(job, why)])
        record = (await self.records.record_statuses([job.box_id])).get(job.box_id)
        payload = render_connector_notice(name=record.alias if record and record.alias else job.box_id,
                                          box_id=job.box_id, connector=job.connector, notice=job.notice,
                                          detail=job.detail)
        return PlanFor(message=MessageFor(jobs, self.one(payload)))


class CauseReminders(BaseSender[CauseReminderJob]):
    """Once, in a resolved alert's thread: nobody said why it was down; the cause decides its uptime."""

    async def where(self, channel: str, jobs: list[CauseReminderJob]) -> Where:
        return Where(thread_ts=jobs[0].message_ts)

    async def plan(self, channel: str, jobs: list[CauseReminderJob], now: datetime) -> PlanFor[CauseReminderJob]:
        job = jobs[0]
        incidents = await self.records.incidents(await self.records.message_incidents(channel, job.message_ts))
        why = skip_reason(job, now=now)
        if why is None and (not incidents or await message_cause(self.history, incidents) is not None):
            why = Skip.SETTLED
        if why is not None:
            return PlanFor([(job, why)])
        text = (":label: What caused this outage? Choose it in *Cause…* on the alert above: utility power, "
                "vandalism, scheduled maintenance, the vehicle or a natural disaster are excluded from uptime "
                "(NEVI); anything else, or no answer, counts against it.")
        return PlanFor(message=MessageFor(jobs, self.one(message("What caused this outage?", [section(text)]))))


class DriverReports(_InAlertThread[DriverReportJob]):
    """A further driver's report, in the thread of the reported incident's alert in that channel."""

    async def plan(self, channel: str, jobs: list[DriverReportJob], now: datetime) -> PlanFor[DriverReportJob]:
        job = jobs[0]
        found = await self._alert(channel, job, now)
        if isinstance(found, PlanFor):
            return found
        incident, _ = found
        return PlanFor(message=MessageFor(jobs, self.one(render_driver_report(incident, job.problem, job.details,
                                                                              job.contact))))
