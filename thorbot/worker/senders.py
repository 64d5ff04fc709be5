"""One sender per kind of message: the facts it needs, who is skipped and why (domain/notify.py decides), a
pure render (domain/), and where it goes. The outbox (worker/outbox.py) does the claiming, posting,
finding an earlier post, pacing and fencing for all of them.

Adding a kind of message: a Job kind in domain/notify.py, a sender here, one entry in `senders()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

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
    JobKind,
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
from thorbot.worker.outbox import Message, Plan, Sender, Where

log = logging.getLogger(__name__)
Payload = dict[str, Any]


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


class _Base:
    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.store = facts.stores.boxes
        self.oncall = facts.stores.oncall

    async def where(self, channel: str, jobs: list[Job]) -> Where:
        return Where()

    async def landed(self, channel: str, ts: str, incident_ids: list[str], where: Where, *,
                     earlier: bool = False) -> None:
        return None

    @staticmethod
    def one(payload: Payload) -> Callable[[list[Job]], Payload]:
        return lambda jobs: payload

    @classmethod
    def single(cls, jobs: list[Job], payload: Payload, now: datetime) -> Plan:
        """A kind sent one by one with a fixed message: that message, unless the general rules skip the job."""
        why = skip_reason(jobs[0], now=now)
        return Plan([(jobs[0], why)]) if why is not None else Plan(message=Message(jobs, cls.one(payload)))


class Alerts(_Base):
    """Every alert of one moment in a channel as one grouped message, mentioning who is on call."""

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        alerts = [cast(AlertJob, j) for j in jobs]
        incidents = {i.id: i for i in await self.store.incidents([j.incident_id for j in alerts])}
        skip: list[tuple[Job, Skip]] = []
        shown: list[Job] = []
        for job in alerts:
            incident = incidents.get(job.incident_id)
            if incident is None:
                skip.append((job, Skip.FORGOTTEN))
                continue
            hold = await self.oncall.held(channel, incident.box_id, now)
            why = skip_reason(job, now=now, watching=await self.store.is_watching(channel, job.box_id),
                              held=hold is not None)
            if why is None:
                shown.append(job)
            else:
                skip.append((job, why))
                if why is Skip.HELD and hold is not None:  # posted when the hold ends, if still open (worker/holds.py)
                    await self.oncall.remember_held(channel, incident.id, incident.box_id, hold.until)
        if not shown:
            return Plan(skip)
        target = await self.oncall.target(channel, now)
        mention = target.mention if target else None
        pager = await self.facts.stores.pagers.link(channel)

        def render(posted: list[Job]) -> Payload:
            return render_alert([incidents[cast(AlertJob, j).incident_id] for j in posted], now, mention=mention,
                                runbook=self.facts.runbook)

        def page(ts: str) -> list[Job]:
            return page_jobs("trigger", channel, ts, now, delay=pager.delay) if pager is not None else []

        return Plan(skip, Message(shown, render, names=lambda posted: [cast(AlertJob, j).incident_id
                                                                       for j in posted], then=page))

    async def landed(self, channel: str, ts: str, incident_ids: list[str], where: Where, *,
                     earlier: bool = False) -> None:
        """An alert pages the channel's pager (if it has one; queued with the post, and again here when an earlier
        attempt's post is found), and, still open with someone on call, is watched for escalation."""
        now = self.facts.clock()
        if earlier:  # posted now, its page was queued with it (Message.then)
            await enqueue_page(self.facts.stores.pagers, self.store, "trigger", channel, ts, now)
        if not any(i.resolved is None for i in await self.store.incidents(incident_ids)):
            return
        if self.facts.escalate_max > 0 and await self.oncall.target(channel, now) is not None:
            await self.oncall.schedule_escalation(channel, ts, now)


class _InAlertThread(_Base):
    """A message about one incident in the thread of its alert in that channel (a recovery, a further driver's
    report): skipped where the box is no longer watched or no alert was posted."""

    async def where(self, channel: str, jobs: list[Job]) -> Where:
        return Where(thread_ts=await self.store.alert_ts(cast(RecoveryJob | DriverReportJob, jobs[0]).incident_id,
                                                         channel))

    async def _alert(self, channel: str, job: RecoveryJob | DriverReportJob, now: datetime
                     ) -> tuple[Incident, str] | Plan:
        """The incident and its alert's ts in `channel`, or the Plan that skips the job."""
        incident = await self.store.incident(job.incident_id)
        alert_ts = await self.store.alert_ts(job.incident_id, channel)
        why = skip_reason(job, now=now, watching=await self.store.is_watching(channel, job.box_id),
                          alert_posted=incident is not None and alert_ts is not None)
        if why is not None or incident is None or alert_ts is None:
            return Plan([(job, why or Skip.NEVER_ALERTED)])
        return incident, alert_ts


class Recoveries(_InAlertThread):
    """In the alert's thread: every alert posted gets exactly one, even one that went out late."""

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        found = await self._alert(channel, cast(RecoveryJob, jobs[0]), now)
        if isinstance(found, Plan):
            return found
        incident, alert_ts = found
        named = await self.store.incidents(await self.store.message_incidents(channel, alert_ts))
        pager = await self.facts.stores.pagers.link(channel)
        over = bool(named) and all(i.resolved is not None for i in named)
        asks = over and self.facts.cause_reminder > 0 and any(i.kind in ASKS_A_CAUSE for i in named)

        def page(ts: str) -> list[Job]:  # the last of the alert's incidents resolved: so does its page
            return (page_jobs("resolve", channel, alert_ts, now) if over and pager is not None else []) + \
                ([cause_reminder_job(channel, alert_ts, now, self.facts.cause_reminder)] if asks else [])

        return Plan(message=Message(jobs, self.one(render_recovery(incident)), then=page))

    async def landed(self, channel: str, ts: str, incident_ids: list[str], where: Where, *,
                     earlier: bool = False) -> None:
        if where.thread_ts is None:
            return
        # The alert itself now shows it resolved; once all it named has, its page resolves too.
        await redraw_alert(self.store, self.oncall, self.facts.slack, channel, where.thread_ts, self.facts.clock(),
                           self.facts.runbook)
        if not earlier:  # posted now, its page's resolve was queued with it (Message.then)
            return
        named = await self.store.incidents(await self.store.message_incidents(channel, where.thread_ts))
        if named and all(i.resolved is not None for i in named):
            await enqueue_page(self.facts.stores.pagers, self.store, "resolve", channel, where.thread_ts,
                               self.facts.clock())


class ThorNotices(_Base):
    """"Thor unreachable" and "recovered", once per outage in every subscribed channel."""

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = jobs[0]
        why = skip_reason(job, now=now)
        if why is not None:
            return Plan([(job, why)])
        if isinstance(job, ThorDownJob):
            return Plan(message=Message(jobs, self.one(render_thor_down(job.code, job.since, job.cycles))))
        return Plan(message=Message(jobs, self.one(render_thor_up(cast(ThorUpJob, job).since, now))))


class Escalations(_Base):
    """An unacknowledged alert re-notified in its thread (mentioning who is on call), and by DM to a person."""

    async def where(self, channel: str, jobs: list[Job]) -> Where:
        job = cast(EscalateJob | EscalateDmJob, jobs[0])
        if isinstance(job, EscalateDmJob):  # "" when nobody can be DMed: `plan` skips it then
            target = await self.oncall.target(channel, self.facts.clock())
            return Where(dm_to=target.id if target is not None and target.kind == "user" else "")
        return Where(thread_ts=job.message_ts)

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = cast(EscalateJob | EscalateDmJob, jobs[0])
        incidents = [i for i in await self.store.incidents(await self.store.message_incidents(channel, job.message_ts))
                     if i.resolved is None]
        target = await self.oncall.target(channel, now)
        needed = bool(incidents) and await self.oncall.ack(channel, job.message_ts) is None
        why = skip_reason(job, now=now, still_needed=needed,
                          target_is_person=target is not None and target.kind == "user")
        if why is not None or target is None and isinstance(job, EscalateDmJob):
            return Plan([(job, why or Skip.GROUP_TARGET)])
        max_count = self.facts.escalate_max
        if isinstance(job, EscalateJob):
            payload = render_escalation(incidents, job.count, max_count, target.mention if target else None)
        else:
            payload = render_escalation(incidents, job.count, max_count, None, channel=channel)
        return Plan(message=Message(jobs, self.one(payload)))


class StuckCharges(_Base):
    """A low-severity notice for a charge that stalled or ran for a day: no mention, a Stop button."""

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = cast(StuckJob, jobs[0])
        session = job.session
        held = await self.oncall.held(channel, session.box_id, now) is not None
        why = skip_reason(job, now=now, watching=await self.store.is_watching(channel, job.box_id), held=held)
        if why is not None:
            return Plan([(job, why)])
        note = (await self.facts.stores.sessions.start_notes([session.transaction])).get(session.transaction)
        record = (await self.store.record_statuses([session.box_id])).get(session.box_id)
        view = SessionView(session, started_by(session, note), stop_id_tag(session, note) is not None,
                           offer_stop=self.facts.offer_stop)
        payload = render_stuck(view, name=(record.alias if record and record.alias else session.box_id),
                               reason=job.reason, flat_since=job.flat_since, now=now)
        return Plan(message=Message(jobs, self.one(payload)))


class StopOutcomes(_Base):
    """In the thread of a remote stop's audit message: confirmed, or not."""

    async def where(self, channel: str, jobs: list[Job]) -> Where:
        return Where(thread_ts=cast(StopOutcomeJob, jobs[0]).message_ts)

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = cast(StopOutcomeJob, jobs[0])
        request = (await self.facts.stores.sessions.stop_requests([job.stop_id])).get(job.stop_id)
        if request is None:
            return Plan([(job, Skip.FORGOTTEN)])
        payload = render_stop_outcome(name=request.alias or request.box_id, connector=request.connector,
                                      confirmed=job.confirmed, energy_wh=request.energy_wh,
                                      waited=(request.settled_at or job.created) - request.at)
        return Plan(message=Message(jobs, self.one(payload)))


class Digests(_Base):
    """A channel's scheduled digest, rendered now from Redis; late when it was queued late."""

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = cast(DigestJob, jobs[0])
        plan = await self.facts.stores.digests.plan(channel)
        why = skip_reason(job, now=now)
        if why is not None or plan is None:
            return Plan([(job, why or Skip.FORGOTTEN)])
        due = latest_due(plan, job.due_at)
        boxes, whole_fleet = await self.store.channel_subscriptions(channel)
        records = await self.store.records()
        report = await gather_report(self.store.redis, digest_period(plan, due), now,
                                     None if whole_fleet else sorted(boxes), records, hours=self.facts.hours)
        watched = records if whole_fleet else {b: r for b, r in records.items() if b in boxes}
        down, holds = digest_facts(watched, await self.oncall.holds(channel, now), records)
        payload = render_digest(report, cadence=plan.cadence, down_now=down, holds=holds,
                                late_by=lateness(job.due_at, job.created), now=now)
        return Plan(message=Message(jobs, self.one(payload)))


class ConnectorNotices(_Base):
    """"Occupied without a charge" and "charging slowly": quiet notices, once per episode, like stuck charges."""

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = cast(ConnectorNoticeJob, jobs[0])
        held = await self.oncall.held(channel, job.box_id, now) is not None
        why = skip_reason(job, now=now, watching=await self.store.is_watching(channel, job.box_id), held=held)
        if why is not None:
            return Plan([(job, why)])
        record = (await self.store.record_statuses([job.box_id])).get(job.box_id)
        payload = render_connector_notice(name=record.alias if record and record.alias else job.box_id,
                                          box_id=job.box_id, connector=job.connector, notice=job.notice,
                                          detail=job.detail)
        return Plan(message=Message(jobs, self.one(payload)))


class CauseReminders(_Base):
    """Once, in a resolved alert's thread: nobody said why it was down; the cause decides its uptime."""

    async def where(self, channel: str, jobs: list[Job]) -> Where:
        return Where(thread_ts=cast(CauseReminderJob, jobs[0]).message_ts)

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = cast(CauseReminderJob, jobs[0])
        incidents = await self.store.incidents(await self.store.message_incidents(channel, job.message_ts))
        why = skip_reason(job, now=now)
        if why is None and (not incidents or await message_cause(self.store.redis, incidents) is not None):
            why = Skip.SETTLED
        if why is not None:
            return Plan([(job, why)])
        text = (":label: What caused this outage? Choose it in *Cause…* on the alert above: utility power, "
                "vandalism, scheduled maintenance, the vehicle or a natural disaster are excluded from uptime "
                "(NEVI); anything else, or no answer, counts against it.")
        return Plan(message=Message(jobs, self.one(message("What caused this outage?", [section(text)]))))


class DriverReports(_InAlertThread):
    """A further driver's report, in the thread of the reported incident's alert in that channel."""

    async def plan(self, channel: str, jobs: list[Job], now: datetime) -> Plan:
        job = cast(DriverReportJob, jobs[0])
        found = await self._alert(channel, job, now)
        if isinstance(found, Plan):
            return found
        incident, _ = found
        return Plan(message=Message(jobs, self.one(render_driver_report(incident, job.problem, job.details,
                                                                        job.contact))))


def senders(facts: Facts) -> dict[JobKind, Sender]:
    """How each kind of message is sent: one entry per kind."""
    thor, escalations = ThorNotices(facts), Escalations(facts)
    return {JobKind.ALERT: Alerts(facts), JobKind.RECOVERY: Recoveries(facts), JobKind.THOR_DOWN: thor,
            JobKind.THOR_UP: thor, JobKind.ESCALATE: escalations, JobKind.ESCALATE_DM: escalations,
            JobKind.SESSION_STUCK: StuckCharges(facts), JobKind.STOP_OUTCOME: StopOutcomes(facts),
            JobKind.DIGEST: Digests(facts), JobKind.CONNECTOR_NOTICE: ConnectorNotices(facts),
            JobKind.CAUSE_REMINDER: CauseReminders(facts), JobKind.DRIVER_REPORT: DriverReports(facts)}
