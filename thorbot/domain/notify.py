"""Who is told what, and when: the rules that turn incidents and Thor's health into messages. Pure.

The incident state machine (incidents.py) decides *what happened*; this module decides *who hears
of it*. The worker gathers the facts (subscriptions, holds, acknowledgements) and asks these
functions; it makes no such decision itself.

Rules (each has a test in tests/domain/test_notify.py):
- Fan-out: an incident's alert and its recovery go to every channel that watches the box, explicitly
  or as the whole fleet: one message per (event, channel), with an id that makes a repeated commit
  store it once.
- Thor outage: after `outage_cycles` failed polls in a row (at once for a permanent error such as a
  bad key, a source-IP refusal, the REST API switched off or a wrong URL) every subscribed channel gets
  one "Thor unreachable" notice. When polling works again, exactly the channels that got it hear
  "recovered"; a Thor outage itself never alerts a box.
- Unwatched: an alert or recovery for a channel that no longer watches the box is dropped silently.
- Held: an alert for a box muted or snoozed in that channel is recorded, not posted.
- Held, then let go: when the hold ends (a mute or snooze runs out or is lifted, a maintenance window
  ends or is cancelled) and the incident is still open, the box still down (not recovering) and still
  watched, the alert is posted then, once; an incident resolved meanwhile is never posted.
- Recovery only if alerted: a recovery goes in the thread of the alert posted in that channel; where no
  alert was posted (held, unwatched), no recovery is either.
- Escalation: an alert with someone on call that is still open, unacknowledged and not held is
  re-notified after `after` × (n + 1), at most `max_count` times: in its thread, and by DM to a person
  (a user group gets the thread only). A DM is sent at most once: without reading DM history a crashed
  attempt cannot be checked.
- Stuck sessions: a charge that stalls or runs too long is a low-severity notice to the channels
  watching its box, once per session; like an alert, it is dropped where the box is unwatched and held
  where the box is muted or snoozed. It mentions no one and never escalates.
- Connector notices ("occupied without a charge", "charging slowly") are the same kind of quiet notice,
  once per episode of that connector.
- Remote stops: the outcome of a stop someone asked for from Slack ("confirmed" or "not confirmed")
  goes in the thread of the audit message of that request, wherever it is, watched or not.
- Pages: one per alert message, to the channel's pager (domain/pager.py), in a queue of their own so a
  pager that is down never holds back Slack; a trigger handled in Slack within the channel's delay
  (acknowledged, or resolved) is skipped, and so are its acknowledge and resolve.
- Handoffs: one line in the channel each time a rotation changes who is on call; a rotation that keeps
  a Slack user group also sets that group's members to whoever is on call then (and once when set). A
  group Slack will not let thorbot change is said once in the channel, and not retried.
- Driver reports: a further report on an open reported incident goes in the thread of its alert in each
  channel that watches the box (never a new alert); where no alert was posted, nowhere.
- Causes: when the last outage of an alert message is resolved, one reminder is queued for its thread
  after THORBOT_CAUSE_REMINDER (0: none); it is skipped if someone gave the cause by then.
- Order: a channel's messages go out oldest first (an outage notice before alerts, escalations and
  recoveries of the same moment); one waiting for a retry holds back those after it.
- Dead letters: a message Slack has not taken for 24 hours is dropped (and logged as an error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from thorbot.domain.backoff import PAGES, SLACK, Backoff
from thorbot.domain.sessions import Session

StuckReason = Literal["stalled", "too_long"]

DEAD_AFTER = timedelta(hours=24)


class JobKind(StrEnum):
    ALERT = "alert"
    RECOVERY = "recovery"
    THOR_DOWN = "thor_down"
    THOR_UP = "thor_up"
    ESCALATE = "escalate"
    ESCALATE_DM = "escalate_dm"
    SESSION_STUCK = "session_stuck"
    STOP_OUTCOME = "stop_outcome"
    DIGEST = "digest"
    CONNECTOR_NOTICE = "connector_notice"
    PAGE = "page"
    PAGER_NOTICE = "pager_notice"
    HANDOFF = "handoff"
    CAUSE_REMINDER = "cause_reminder"
    USERGROUP = "usergroup"
    NOTICE = "notice"
    DRIVER_REPORT = "driver_report"


@dataclass(frozen=True)
class SkipWhen:
    """A kind's skip policy: which of the facts the worker gathers may keep it from being sent (`skip_reason`).
    Every kind is dropped as a dead letter after DEAD_AFTER; each flag adds the `Skip` of the same name."""

    unwatched: bool = False      # the channel no longer watches the box
    held: bool = False           # the box is muted or snoozed in the channel
    never_alerted: bool = False  # no alert was posted in the channel (it goes in that alert's thread)
    settled: bool = False        # the alert it is about was resolved or acknowledged meanwhile
    group_target: bool = False   # it goes to a person, and the on-call target is a group
    dm_retry: bool = False       # sent at most once: a DM cannot be read back to see if a crashed try landed


@dataclass(frozen=True)
class Delivery:
    """How a kind of message is delivered, declared on its job model (no defaults: a kind states all three).

    `order`: among messages created at the same moment in one channel, lower goes first (an outage notice
    before alerts, escalations and recoveries). `retry`: how long a failed send waits before its next try."""

    order: int
    skip: SkipWhen
    retry: Backoff


class _Job(BaseModel):
    """What every message in the outbox carries. Ids are deterministic, so enqueuing twice stores it once.

    A kind's own fields are exactly what its sender needs; its `delivery` (a class attribute, never stored) is how
    it goes out, and worker/kinds.py pairs the model with its sender. Jobs written by the previous version (one model
    with every field optional) are read too: their extra fields are ignored and the few renamed ones
    (`cycles`, `since`, `reason`) are carried over by each kind's `_legacy`.
    """

    model_config = ConfigDict(extra="ignore")
    delivery: ClassVar[Delivery]  # every kind declares its own (checked at import: `_models_by_kind`)

    id: str
    channel: str
    created: datetime
    attempts: int = 0
    attempted: bool = False
    batches: list[str] = []  # ids of the posts this job was attempted in, newest last (message metadata)


def _rename(data: Any, old: str, new: str, convert: Callable[[Any], Any] = lambda v: v) -> Any:
    if isinstance(data, dict) and new not in data and data.get(old) is not None:
        return {**data, new: convert(data[old])}
    return data


class AlertJob(_Job):
    kind: Literal[JobKind.ALERT] = JobKind.ALERT
    delivery = Delivery(order=1, skip=SkipWhen(unwatched=True, held=True), retry=SLACK)
    incident_id: str
    box_id: str


class RecoveryJob(_Job):
    kind: Literal[JobKind.RECOVERY] = JobKind.RECOVERY
    delivery = Delivery(order=5, skip=SkipWhen(unwatched=True, never_alerted=True), retry=SLACK)
    incident_id: str
    box_id: str


class DriverReportJob(_Job):
    """A further driver's report on an open reported incident, in its alert's thread."""

    kind: Literal[JobKind.DRIVER_REPORT] = JobKind.DRIVER_REPORT
    delivery = Delivery(order=5, skip=SkipWhen(unwatched=True, never_alerted=True), retry=SLACK)
    incident_id: str
    box_id: str
    problem: str
    details: str = ""
    contact: str = ""  # personal data: shown only in the alert's channels, deleted with the job


class ThorDownJob(_Job):
    kind: Literal[JobKind.THOR_DOWN] = JobKind.THOR_DOWN
    delivery = Delivery(order=0, skip=SkipWhen(), retry=SLACK)
    code: str
    since: datetime
    cycles: int  # failed polls in a row


class ThorUpJob(_Job):
    kind: Literal[JobKind.THOR_UP] = JobKind.THOR_UP
    delivery = Delivery(order=7, skip=SkipWhen(), retry=SLACK)
    since: datetime  # when the outage began


class EscalateJob(_Job):
    kind: Literal[JobKind.ESCALATE] = JobKind.ESCALATE
    delivery = Delivery(order=2, skip=SkipWhen(settled=True), retry=SLACK)
    message_ts: str  # the alert being escalated
    count: int       # which escalation this is (1 = the first)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        return _rename(data, "cycles", "count")


class EscalateDmJob(_Job):
    kind: Literal[JobKind.ESCALATE_DM] = JobKind.ESCALATE_DM
    delivery = Delivery(order=3, skip=SkipWhen(settled=True, group_target=True, dm_retry=True), retry=SLACK)
    message_ts: str
    count: int

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        return _rename(data, "cycles", "count")


class StuckJob(_Job):
    kind: Literal[JobKind.SESSION_STUCK] = JobKind.SESSION_STUCK
    delivery = Delivery(order=4, skip=SkipWhen(unwatched=True, held=True), retry=SLACK)
    box_id: str
    session: Session  # as last seen
    reason: StuckReason
    flat_since: datetime  # when the energy stopped rising (or the charge started, for "too_long")

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        return _rename(data, "since", "flat_since")


class StopOutcomeJob(_Job):
    kind: Literal[JobKind.STOP_OUTCOME] = JobKind.STOP_OUTCOME
    delivery = Delivery(order=6, skip=SkipWhen(), retry=SLACK)
    stop_id: str     # the request it reports on
    message_ts: str  # the thread of that request's audit
    confirmed: bool

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        return _rename(data, "reason", "confirmed", lambda reason: reason == "confirmed")


class DigestJob(_Job):
    kind: Literal[JobKind.DIGEST] = JobKind.DIGEST
    delivery = Delivery(order=8, skip=SkipWhen(), retry=SLACK)
    period: str      # the period (local due date) it reports on
    cadence: str     # daily or weekly
    due_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        return _rename(_rename(data, "reason", "cadence"), "since", "due_at")


class ConnectorNoticeJob(_Job):
    kind: Literal[JobKind.CONNECTOR_NOTICE] = JobKind.CONNECTOR_NOTICE
    delivery = Delivery(order=4, skip=SkipWhen(unwatched=True, held=True), retry=SLACK)
    box_id: str
    connector: int
    notice: Literal["occupied", "slow"]
    since: datetime
    detail: str


class PageJob(_Job):
    """One event for the page of one alert message, in the queue `page:<channel>` (domain/pager.py)."""

    kind: Literal[JobKind.PAGE] = JobKind.PAGE
    delivery = Delivery(order=1, skip=SkipWhen(), retry=PAGES)
    alert_channel: str
    message_ts: str
    action: Literal["trigger", "acknowledge", "resolve"]
    by: str | None = None


class PagerNoticeJob(_Job):
    kind: Literal[JobKind.PAGER_NOTICE] = JobKind.PAGER_NOTICE
    delivery = Delivery(order=6, skip=SkipWhen(), retry=SLACK)
    reason: str


class HandoffJob(_Job):
    kind: Literal[JobKind.HANDOFF] = JobKind.HANDOFF
    delivery = Delivery(order=0, skip=SkipWhen(), retry=SLACK)
    user: str
    until: datetime


class UsergroupJob(_Job):
    """Make a Slack user group's members whoever a rotation puts on call, in the queue `usergroup:<group>`
    (a group Slack refuses to update never holds back a channel's messages)."""

    kind: Literal[JobKind.USERGROUP] = JobKind.USERGROUP
    delivery = Delivery(order=0, skip=SkipWhen(), retry=SLACK)
    group: str
    user: str
    rotation_channel: str


class NoticeJob(_Job):
    """A one-off line thorbot owes a channel (mrkdwn, already escaped): e.g. a user group it cannot update."""

    kind: Literal[JobKind.NOTICE] = JobKind.NOTICE
    delivery = Delivery(order=6, skip=SkipWhen(), retry=SLACK)
    text: str


class CauseReminderJob(_Job):
    """In a resolved alert's thread, once, when nobody gave its outage a cause after THORBOT_CAUSE_REMINDER."""

    kind: Literal[JobKind.CAUSE_REMINDER] = JobKind.CAUSE_REMINDER
    delivery = Delivery(order=6, skip=SkipWhen(), retry=SLACK)
    message_ts: str


Job = Annotated[AlertJob | RecoveryJob | ThorDownJob | ThorUpJob | EscalateJob | EscalateDmJob | StuckJob
                | StopOutcomeJob | DigestJob | ConnectorNoticeJob | PageJob | PagerNoticeJob | HandoffJob
                | CauseReminderJob | UsergroupJob | NoticeJob | DriverReportJob, Field(discriminator="kind")]
_JOBS: TypeAdapter[Job] = TypeAdapter(Job)


def _models_by_kind(models: tuple[type[_Job], ...]) -> dict[JobKind, type[_Job]]:
    """Each kind's job model, checked: one model per JobKind, each declaring its `delivery` (order, skip policy,
    retry policy). Run at import on the `Job` union, so a kind left half-declared fails at once, not at the first
    delivery tick that meets one of its jobs (tests/test_message_kinds.py)."""
    found: dict[JobKind, type[_Job]] = {}
    for model in models:
        kind = JobKind(model.model_fields["kind"].default)
        if kind in found:
            raise TypeError(f"two job models for kind {kind.value!r}: {found[kind].__name__} and {model.__name__}")
        if not isinstance(getattr(model, "delivery", None), Delivery):
            raise TypeError(f"{model.__name__} declares no `delivery = Delivery(order=…, skip=…, retry=…)`")
        found[kind] = model
    missing = [kind.value for kind in JobKind if kind not in found]
    if missing:
        raise TypeError(f"no job model in notify.Job for kind(s) {', '.join(missing)}: declare one and add it to Job")
    return found


JOB_MODELS = _models_by_kind(get_args(get_args(Job)[0]))


def read_job(raw: str | bytes) -> Job:
    """A job as stored in Redis, by this version or the previous one."""
    return _JOBS.validate_json(raw)


class ThorHealth(BaseModel):
    """Consecutive failed polls, and which channels were told that Thor is unreachable."""

    failures: int = 0
    since: datetime | None = None
    code: str | None = None
    notified: bool = False
    told: list[str] = []


@dataclass(frozen=True)
class Watchers:
    """Which channels hear of which box: those watching it by name, and those watching the whole fleet."""

    by_box: Mapping[str, frozenset[str]] = field(default_factory=dict)
    whole_fleet: frozenset[str] = frozenset()

    @classmethod
    def of(cls, by_box: Mapping[str, Iterable[str]], whole_fleet: Iterable[str] = ()) -> Watchers:
        return cls({b: frozenset(c) for b, c in by_box.items()}, frozenset(whole_fleet))

    def channels(self, box_id: str) -> list[str]:
        """Fan-out: the channels that hear of this box's incidents."""
        return sorted(self.by_box.get(box_id, frozenset()) | self.whole_fleet)

    def subscribed(self) -> list[str]:
        """Every channel with any subscription: they hear of Thor's outages."""
        return sorted(frozenset().union(*self.by_box.values(), self.whole_fleet))

    def watches(self, box_id: str) -> bool:
        return bool(self.whole_fleet) or box_id in self.by_box

    @property
    def nobody(self) -> bool:
        return not self.by_box and not self.whole_fleet


def incident_jobs(kind: JobKind, incident_id: str, box_id: str, channels: Iterable[str], now: datetime) -> list[Job]:
    """One alert (or recovery) per watching channel."""
    model = AlertJob if kind is JobKind.ALERT else RecoveryJob
    return [model(id=f"{kind.value}:{incident_id}:{channel}", channel=channel, created=now, incident_id=incident_id,
                  box_id=box_id) for channel in channels]


def driver_report_jobs(incident_id: str, box_id: str, report_id: str, problem: str, details: str, contact: str,
                       channels: Iterable[str], now: datetime) -> list[Job]:
    """A further report, once per channel (the id carries the report)."""
    return [DriverReportJob(id=f"driver_report:{incident_id}:{report_id}:{channel}", channel=channel, created=now,
                            incident_id=incident_id, box_id=box_id, problem=problem, details=details,
                            contact=contact) for channel in channels]


def after_failed_poll(health: ThorHealth, *, code: str, permanent: bool, now: datetime, outage_cycles: int,
                      channels: list[str]) -> tuple[ThorHealth, list[Job]]:
    """Count the failure; tell every subscribed channel once, when the outage is confirmed."""
    failures = health.failures + 1
    since = health.since or now
    updated = health.model_copy(update={"failures": failures, "since": since, "code": code})
    if health.notified or (failures < outage_cycles and not permanent):
        return updated, []
    jobs: list[Job] = [ThorDownJob(id=f"thor_down:{int(since.timestamp())}:{channel}", channel=channel, created=now,
                                   code=code, since=since, cycles=failures) for channel in channels]
    return updated.model_copy(update={"notified": True, "told": channels}), jobs


def after_good_poll(health: ThorHealth, *, now: datetime) -> tuple[ThorHealth | None, list[Job]]:
    """Reset the count; tell the channels that heard of the outage that it is over. None: nothing changed."""
    if health.failures == 0 and not health.notified:
        return None, []
    if not health.notified or health.since is None:
        return ThorHealth(), []
    jobs: list[Job] = [ThorUpJob(id=f"thor_up:{int(health.since.timestamp())}:{channel}", channel=channel,
                                 created=now, since=health.since) for channel in health.told]
    return ThorHealth(), jobs


def stuck_jobs(session: Session, reason: StuckReason, flat_since: datetime, channels: Iterable[str], now: datetime
               ) -> list[Job]:
    """One notice per watching channel, once per session (the id carries the transaction)."""
    return [StuckJob(id=f"session_stuck:{session.transaction}:{channel}", channel=channel, created=now,
                     box_id=session.box_id, session=session, reason=reason, flat_since=flat_since)
            for channel in channels]


def connector_notice_jobs(box_id: str, connector: int, notice: Literal["occupied", "slow"], since: datetime,
                          detail: str, channels: Iterable[str], now: datetime) -> list[Job]:
    """One quiet notice per watching channel and episode (the id carries when the episode began)."""
    return [ConnectorNoticeJob(id=f"connector_notice:{notice}:{box_id}#{connector}@{int(since.timestamp())}:{channel}",
                               channel=channel, created=now, box_id=box_id, connector=connector, notice=notice,
                               since=since, detail=detail) for channel in channels]


def page_jobs(action: Literal["trigger", "acknowledge", "resolve"], channel: str, ts: str, now: datetime, *,
              delay: float = 0.0, by: str | None = None) -> list[Job]:
    """The page event for one alert message; a delayed trigger is created (and so due) `delay` seconds later.
    Its own queue (`page:<channel>`): a pager that is down never holds back the channel's Slack messages."""
    return [PageJob(id=f"page:{action}:{channel}:{ts}", channel=f"page:{channel}",
                    created=now + timedelta(seconds=delay), alert_channel=channel, message_ts=ts, action=action, by=by)]


def cause_reminder_job(channel: str, ts: str, now: datetime, after: float) -> Job:
    return CauseReminderJob(id=f"cause_reminder:{channel}:{ts}", channel=channel,
                            created=now + timedelta(seconds=after), message_ts=ts)


def stop_outcome_job(stop_id: str, channel: str, thread_ts: str, confirmed: bool, now: datetime) -> Job:
    return StopOutcomeJob(id=f"stop_outcome:{stop_id}", channel=channel, created=now, message_ts=thread_ts,
                          stop_id=stop_id, confirmed=confirmed)


def escalation_due(*, alerted: datetime, now: datetime, count: int, after: timedelta, max_count: int,
                   acknowledged: bool, resolved: bool, held: bool) -> bool:
    """Re-notify when an open alert has gone unacknowledged for `after` × (count + 1), up to `max_count`."""
    if acknowledged or resolved or held or count >= max_count or after <= timedelta(0):
        return False
    return now - alerted >= after * (count + 1)


def escalation_jobs(channel: str, ts: str, count: int, now: datetime) -> list[Job]:
    """The thread re-notification and the DM of one escalation."""
    return [EscalateJob(id=f"escalate:{channel}:{ts}:{count}", channel=channel, created=now, message_ts=ts,
                        count=count),
            EscalateDmJob(id=f"escalate_dm:{channel}:{ts}:{count}", channel=channel, created=now, message_ts=ts,
                          count=count)]


class Skip(StrEnum):
    """Why a message is not sent (None from `skip_reason` means: send it)."""

    DEAD = "Slack has not taken it for 24 hours"
    UNWATCHED = "the channel no longer watches the box"
    HELD = "the box is muted or snoozed in the channel"
    NEVER_ALERTED = "no alert was posted in the channel"
    SETTLED = "the alert was resolved or acknowledged meanwhile"
    GROUP_TARGET = "the on-call target is a group: the thread is enough"
    DM_RETRY = "a DM is sent at most once"
    FORGOTTEN = "the incident is no longer recorded"
    NO_PAGER = "the channel has no pager any more"
    NEVER_PAGED = "its trigger was never sent"


def skip_reason(job: Job, *, now: datetime, watching: bool = True, held: bool = False, alert_posted: bool = True,
                still_needed: bool = True, target_is_person: bool = True) -> Skip | None:
    """Whether (and why not) to send a job, from the facts the worker gathered for it."""
    if now - job.created > DEAD_AFTER:
        return Skip.DEAD
    policy = job.delivery.skip  # which of the facts below apply to this kind (its model declares it)
    if policy.unwatched and not watching:
        return Skip.UNWATCHED
    if policy.held and held:
        return Skip.HELD
    if policy.never_alerted and not alert_posted:
        return Skip.NEVER_ALERTED
    if policy.settled and not still_needed:
        return Skip.SETTLED
    if policy.group_target and not target_is_person:
        return Skip.GROUP_TARGET
    if policy.dm_retry and job.attempted:
        return Skip.DM_RETRY
    return None


class AfterHold(StrEnum):
    """What becomes of an alert that was held back, looked at again (`after_hold`)."""

    POST = "post"   # the hold is over and the incident still open: post it now
    KEEP = "keep"   # still held
    DROP = "drop"   # nothing left to say: resolved, forgotten, or the channel no longer watches the box


def after_hold(*, incident_open: bool, watching: bool, held: bool, recovering: bool = False) -> AfterHold:
    """`recovering`: the box is back and its incident waits out the recovery grace: it will most likely
    resolve (nothing to post) or drop again (posted then)."""
    if not incident_open or not watching:
        return AfterHold.DROP
    return AfterHold.KEEP if held or recovering else AfterHold.POST


def released_alert(channel: str, incident_id: str, box_id: str, now: datetime) -> Job:
    """The alert of a hold that ended: its own id (the held one was settled), due now."""
    return AlertJob(id=f"alert:{incident_id}:{channel}:after_hold", channel=channel, created=now,
                    incident_id=incident_id, box_id=box_id)


def digest_job(channel: str, period: str, cadence: str, due_at: datetime, now: datetime) -> Job:
    """One digest per channel and period: the id makes enqueuing it twice store it once."""
    return DigestJob(id=f"digest:{channel}:{period}", channel=channel, created=now, period=period, cadence=cadence,
                     due_at=due_at)


def _send_order(job: Job) -> tuple[datetime, int, str]:
    return job.created, job.delivery.order, job.id


def in_order(jobs: Iterable[Job]) -> list[Job]:
    return sorted(jobs, key=_send_order)


def ready_to_send(queue: Iterable[tuple[Job, datetime]], now: datetime) -> dict[str, list[Job]]:
    """Per channel, the jobs that may go now: oldest first, up to the first one that is not due yet."""
    by_channel: dict[str, list[tuple[Job, datetime]]] = {}
    for job, due in sorted(queue, key=lambda entry: _send_order(entry[0])):
        by_channel.setdefault(job.channel, []).append((job, due))
    ready: dict[str, list[Job]] = {}
    for channel, queued in by_channel.items():
        head = []
        for job, due in queued:
            if due > now:
                break
            head.append(job)
        if head:
            ready[channel] = head
    return ready
