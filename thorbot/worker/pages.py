"""Pages and rotations in the worker: the senders for a channel's pager, and the handoff announcements.

A page is sent through the transport of its link's kind (domain/pagers/, looked up by name): nothing here
knows one kind from another.

A page goes through the outbox like a Slack message (claimed under the leader lease, retried with
backoff, ordered per channel), in a queue of its own (`page:<channel>`), so a pager that is down never
holds back Slack. PagerDuty drops a repeated trigger into the alert its `dedup_key` already opened, and
a webhook receiver drops a repeated event by its id: a crash after the pager took an event and before
the outbox settled it sends it again, harmlessly.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from thorbot.adapters.pager import PagerClient
from thorbot.adapters.pager_store import PagerStore, group_mark
from thorbot.adapters.secrets_box import SecretBox, SecretsUnavailable
from thorbot.adapters.store import Commit
from thorbot.domain.backoff import PAGES, SLACK, Random
from thorbot.domain.blocks import message, section
from thorbot.domain.notify import (
    HandoffJob,
    Job,
    JobKind,
    NoticeJob,
    PageJob,
    PagerNoticeJob,
    Skip,
    UsergroupJob,
    page_jobs,
    skip_reason,
)
from thorbot.domain.pager import PagerLink, connection_id, page_key, render_pager_notice
from thorbot.domain.pagers import Connection, Page, transport_of
from thorbot.domain.rotation import Rotation, render_handoff
from thorbot.errors import PagerRejected, PagerRetry, SlackError, SlackPermanent, SlackRateLimited
from thorbot.worker.outbox import MessageFor, PlanFor, RetryLater, SenderFor
from thorbot.worker.senders import BaseSender, Facts

log = logging.getLogger(__name__)
ROTATION_CHECK = timedelta(seconds=30)


class Pages(BaseSender[PageJob]):
    """Trigger, acknowledge and resolve one alert message's page on the channel's pager."""

    direct = True

    def __init__(self, facts: Facts, pagers: PagerStore, client: PagerClient, secrets: SecretBox,
                 rand: Random = random.random) -> None:
        super().__init__(facts)
        self.pagers = pagers
        self.client = client
        self.secrets = secrets
        self.rand = rand

    async def plan(self, channel: str, jobs: list[PageJob], now: datetime) -> PlanFor[PageJob]:
        job = jobs[0]
        link = await self.pagers.link(job.alert_channel)
        if link is None:
            return PlanFor([(job, Skip.NO_PAGER)])
        why = skip_reason(job, now=now)
        if why is not None:
            return PlanFor([(job, why)])
        if job.action == "trigger":
            # The delay is there for blips: one acknowledged or resolved within it wakes nobody. Without a delay
            # a page goes out even if the pager could only take it after the recovery (then resolved at once):
            # the pager keeps the record.
            if link.delay > 0:
                incidents = await self.records.incidents(await self.records.message_incidents(job.alert_channel,
                                                                                          job.message_ts))
                acked = await self.oncall.ack(job.alert_channel, job.message_ts) is not None
                if acked or not incidents or all(i.resolved is not None for i in incidents):
                    return PlanFor([(job, Skip.SETTLED)])
        else:
            trigger = page_jobs("trigger", job.alert_channel, job.message_ts, now)[0].id
            if trigger not in await self.pagers.sent([trigger]):
                return PlanFor([(job, Skip.NEVER_PAGED)])
        return PlanFor(message=MessageFor(jobs, lambda posted: {}))

    async def deliver(self, channel: str, jobs: list[PageJob], now: datetime) -> None:
        job = jobs[0]
        link = await self.pagers.link(job.alert_channel)
        if link is None:
            return
        incidents = await self.records.incidents(await self.records.message_incidents(job.alert_channel,
                                                                                      job.message_ts))
        page = Page(job.action, job.id, page_key(job.alert_channel, job.message_ts), incidents, job.alert_channel,
                    now, job.by, runbook=self.facts.runbook)
        transport = transport_of(link.kind)
        try:
            if transport is None:  # a link of a kind this thorbot does not have: refused for good, said once
                raise PagerRejected(f"this thorbot knows no pager of kind {link.kind[:40]!r}", code="unknown_kind")
            link = await reseal(self.pagers, self.secrets, job.alert_channel, link)
            secret = self.secrets.open(link.sealed)
            await self.client.page(transport, page, Connection(secret, link.opened_url(self.secrets.open)))
        except PagerRetry as exc:
            log.warning("the %s pager of %s failed (%s); the page stays in the outbox", link.kind, job.alert_channel,
                        exc, extra={"channel": job.alert_channel})
            raise RetryLater(PAGES.delay(job.attempts, self.rand, exc.retry_after)) from None
        except SecretsUnavailable as exc:
            await self._unreadable(job, link.kind, exc, now)
            return
        except PagerRejected as exc:
            log.error("the %s pager of %s refused a page for good (%s); dropping it", link.kind, job.alert_channel,
                      exc, extra={"channel": job.alert_channel})
            # A webhook's host is anyone's choice: its transport gives the same words whatever it answered (no
            # status, no error), so the pager cannot be used to scan ports; the log above has the details, host only.
            reason = transport.refused_reason(str(exc)) if transport else str(exc)
            if await self.pagers.record_failure(job.alert_channel, reason, now):
                await self.outbox.enqueue([PagerNoticeJob(id=f"pager_notice:{job.alert_channel}:{int(now.timestamp())}",
                                                         channel=job.alert_channel, created=now, reason=reason)])
            return
        await self.pagers.mark_sent(job.id, now, via=connection_id(link.kind, secret))
        await self.pagers.clear_failure(job.alert_channel)

    async def _unreadable(self, job: PageJob, kind: str, exc: SecretsUnavailable, now: datetime) -> None:
        """The pager's stored key opens with no key in THORBOT_SECRETS_KEY: the page cannot be sent. Said once, in
        the log and the channel (and `/chargebox pager` shows it) until the pager works again."""
        channel = job.alert_channel
        if not await self.pagers.record_failure(channel, str(exc), now):
            log.info("not sending %s: its pager's key still cannot be opened (said once already)", job.id[:120],
                     extra={"channel": channel})
            return
        log.error("cannot send the pages of %s to its %s pager: %s. Dropping them until that is fixed", channel,
                  kind, exc, extra={"channel": channel})
        text = f":pager: :warning: This channel's pager gets no pages for now: {exc}. Alerts still post here."
        await self.outbox.enqueue([NoticeJob(id=f"notice:pager_key:{channel}:{int(now.timestamp())}", channel=channel,
                                            created=now, text=text)])


async def reseal(pagers: PagerStore, secrets: SecretBox, channel: str, link: PagerLink) -> PagerLink:
    """Re-seal on read: a pager whose secrets were sealed under an older THORBOT_SECRETS_KEY is stored again under
    the newest, so the older keys can be dropped (docs/pagers.md, "Rotating THORBOT_SECRETS_KEY"). Raises
    SecretsUnavailable when no key opens it."""
    fresh = secrets.resealed(link)
    if fresh is None:
        return link
    if await pagers.replace_link(channel, link, fresh):
        log.info("re-sealed the pager key of %s under the newest THORBOT_SECRETS_KEY", channel,
                 extra={"channel": channel})
    return fresh


class PagerNotices(BaseSender[PagerNoticeJob]):
    """Once, in the channel: its pager refuses thorbot's pages (a revoked key), and how to fix it."""

    async def plan(self, channel: str, jobs: list[PagerNoticeJob], now: datetime) -> PlanFor[PagerNoticeJob]:
        return self.single(jobs, render_pager_notice(jobs[0].reason), now)


class Handoffs(BaseSender[HandoffJob]):
    """"@b is on call until Mon 09:00": one line in the channel at each change of who is on call."""

    async def plan(self, channel: str, jobs: list[HandoffJob], now: datetime) -> PlanFor[HandoffJob]:
        job = jobs[0]
        return self.single(jobs, render_handoff(job.user, job.until), now)


class Rotations:
    """Announces handoffs: every ROTATION_CHECK, one job per channel whose on-call person changed since the
    last one announced, committed with the new mark under the leader lease (one line, even with several
    workers)."""

    def __init__(self, pagers: PagerStore) -> None:
        self.pagers = pagers
        self._next: datetime | None = None

    async def run(self, now: datetime, token: str, commit: Callable[[str, Commit], Awaitable[bool]]) -> int:
        if self._next is not None and now < self._next:
            return 0
        self._next = now + ROTATION_CHECK
        rotations = await self.pagers.rotations()
        if not rotations:
            return 0
        announced = await self.pagers.announced()
        jobs: list[Job] = []
        marks: dict[str, float] = {}
        for channel, rotation in rotations.items():
            change = rotation.last_change(now)
            if change.timestamp() > announced.get(channel, 0.0):
                jobs.append(handoff_job(channel, rotation, change, now))
                marks[channel] = change.timestamp()
            if rotation.group and change.timestamp() > announced.get(group_mark(channel), 0.0):
                jobs.append(UsergroupJob(id=f"usergroup:{rotation.group}:{channel}:{int(change.timestamp())}",
                                         channel=f"usergroup:{rotation.group}", created=now, group=rotation.group,
                                         user=rotation.on_call(now), rotation_channel=channel))
                marks[group_mark(channel)] = change.timestamp()
        if jobs:
            await commit(token, Commit(jobs=jobs, handoffs=marks))
        return len(jobs)


class Usergroups(BaseSender[UsergroupJob]):
    """A rotation's Slack user group, set to whoever is on call (`usergroups.users.update`, which replaces the
    members: a repeat is harmless). What Slack refuses for good (the workspace lets only admins change groups,
    the scope is missing, a deleted group) is said once in the rotation's channel and not retried."""

    direct = True

    def __init__(self, facts: Facts, rand: Random = random.random) -> None:
        super().__init__(facts)
        self.rand = rand

    async def plan(self, channel: str, jobs: list[UsergroupJob], now: datetime) -> PlanFor[UsergroupJob]:
        job = jobs[-1]  # the latest handoff is the one that counts
        stale = [(j, Skip.SETTLED) for j in jobs[:-1]]
        why = skip_reason(job, now=now)
        if why is not None:
            return PlanFor([*stale, (job, why)])
        return PlanFor(stale, MessageFor([job], lambda posted: {}))

    async def deliver(self, channel: str, jobs: list[UsergroupJob], now: datetime) -> None:
        job = jobs[0]
        try:
            await self.facts.slack.call("usergroups.users.update", usergroup=job.group, users=job.user)
        except SlackRateLimited as exc:
            raise RetryLater(SLACK.delay(job.attempts, self.rand, exc.retry_after)) from None
        except SlackPermanent as exc:
            log.error("Slack refused to set user group %s to the on-call person (%s); not retrying", job.group,
                      exc.error, extra={"channel": job.rotation_channel})
            # The group by its id, not as a mention: telling the channel must not ping the whole group.
            text = (f":warning: Slack did not let thorbot set the members of user group `{job.group}` to "
                    f"<@{job.user}>, who is on call (`{exc.error[:60]}`). "
                    f"{USERGROUP_FIX.get(exc.error, USERGROUP_FIX['missing_scope'])}")
            await self.outbox.enqueue([NoticeJob(id=f"notice:usergroup:{job.id}", channel=job.rotation_channel,
                                                created=now, text=text)])
        except SlackError as exc:
            log.warning("setting user group %s failed (%s); it stays in the outbox", job.group, exc.error,
                        extra={"channel": job.rotation_channel})
            raise RetryLater(SLACK.delay(job.attempts, self.rand)) from None


USERGROUP_FIX = {
    "permission_denied": "The workspace lets only some people change user groups: an admin sets *Workspace "
                         "settings → Permissions → User Groups* to everyone, or the rotation drops `group`.",
    "missing_scope": "The app needs the `usergroups:write` scope: reinstall it from `manifest.yml`, or the "
                     "rotation drops `group`.",
    "no_such_subteam": "That user group does not exist any more: set the rotation again with another one.",
}


class Notices(BaseSender[NoticeJob]):
    """A one-off line owed to a channel."""

    async def plan(self, channel: str, jobs: list[NoticeJob], now: datetime) -> PlanFor[NoticeJob]:
        text = jobs[0].text
        return self.single(jobs, message(text, [section(text)]), now)


def handoff_job(channel: str, rotation: Rotation, change: datetime, now: datetime) -> HandoffJob:
    return HandoffJob(id=f"handoff:{channel}:{int(change.timestamp())}", channel=channel, created=now,
                      user=rotation.on_call(now), until=rotation.until(now))



def pager_senders(facts: Facts, client: PagerClient, secrets: SecretBox,
                  rand: Random = random.random) -> dict[JobKind, SenderFor[Any]]:
    """The kinds this module sends, for the outbox's table (runtime.build_worker); `rand`: backoff's jitter."""
    return {JobKind.PAGE: Pages(facts, facts.stores.pagers, client, secrets, rand),
            JobKind.PAGER_NOTICE: PagerNotices(facts), JobKind.HANDOFF: Handoffs(facts),
            JobKind.USERGROUP: Usergroups(facts, rand), JobKind.NOTICE: Notices(facts)}
