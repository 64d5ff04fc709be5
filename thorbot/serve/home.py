"""App Home: the fleet overview, published when a user opens thorbot's Home tab."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from thorbot.adapters.metrics import WorkerStatusStore
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.adapters.usage_store import UsageStore
from thorbot.domain.home_view import ChannelSummary, render_home
from thorbot.domain.incidents import Incident, Status
from thorbot.domain.oncall import Ack
from thorbot.domain.replies import worker_line
from thorbot.domain.uptime import parse_period
from thorbot.domain.usage import QuietRules
from thorbot.errors import SlackError
from thorbot.services.health import needing_a_look
from thorbot.services.reports import ReportBuilds

log = logging.getLogger(__name__)
RECENT_LOOKED_AT = 201  # the newest incidents opened the Home tab looks through for open ones


class Home:
    """The Home tab: the subscription, record and on-call stores (records, open incidents, acks, channels' targets), the
    usage and session stores (connectors needing a look), the worker's status (its last cycle), the report builder (the
    month's reliability), Slack, the clock, the fleet's time zone, the poll interval and the quiet rule."""

    def __init__(self, subscriptions: SubscriptionStore, records: RecordStore, oncall: OnCallStore, usage: UsageStore,
                 sessions: SessionStore, worker: WorkerStatusStore, reports: ReportBuilds, slack: SlackApi,
                 clock: Callable[[], datetime], *,
                 timezone: str, poll_interval: float, quiet: QuietRules) -> None:
        self.subscriptions, self.records = subscriptions, records
        self.oncall, self.usage, self.sessions, self.worker = oncall, usage, sessions, worker
        self.reports, self.slack, self.clock = reports, slack, clock
        self.timezone, self.poll_interval, self.quiet = timezone, poll_interval, quiet

    async def build(self, user: str) -> dict[str, Any]:
        oncall = self.oncall
        records = await self.records.records()
        open_incidents = [i for i in await self.records.recent_incidents(RECENT_LOOKED_AT) if i.resolved is None]
        watchers = await self.subscriptions.watchers()
        channels_with_subs = set(watchers.subscribed())
        with_acks: list[tuple[Incident, Ack | None]] = []
        for incident in open_incidents[:30]:
            found: Ack | None = None
            for channel in watchers.channels(incident.box_id):
                ts = await self.records.alert_ts(incident.id, channel)
                found = await oncall.ack(channel, ts) if ts else None
                if found:
                    break
            with_acks.append((incident, found))
        mine = await _users_channels(self.slack, user)
        summaries = []
        for channel in sorted(channels_with_subs & mine):
            ids, whole = await self.subscriptions.channel_subscriptions(channel)
            target = await oncall.target(channel, self.clock())
            summaries.append(ChannelSummary(channel, len(ids), whole, target.mention if target else None))
        now = self.clock()
        month = parse_period("30d", now, self.timezone)
        reliability = await self.reports.home(month, now) if month else []
        look = await needing_a_look(self.usage, self.sessions, self.quiet, now,
                                    {b: r.status is not Status.ONLINE for b, r in records.items()})
        _, worker = worker_line(await self.worker.last_cycle(), now, self.poll_interval)
        return render_home(records, with_acks, summaries, now, reliability,
                           open_boxes=frozenset(i.box_id for i in open_incidents), connectors=look, worker=worker)

    async def publish(self, event: dict[str, Any]) -> None:
        """app_home_opened: publish the fleet overview for the user who opened the Home tab."""
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user", ""))
        view = await self.build(user)
        try:
            await self.slack.publish_home(user, view)
        except SlackError as exc:
            log.warning("could not publish the Home tab for %s: %s", user, exc.error)


async def _users_channels(slack: SlackApi, user: str) -> set[str]:
    try:
        return await slack.user_channels(user)
    except SlackError as exc:
        log.warning("cannot list the user's channels: %s", exc.error)
        return set()
