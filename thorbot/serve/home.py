"""App Home: the fleet overview, published when a user opens thorbot's Home tab."""

from __future__ import annotations

import logging
from typing import Any

from thorbot.adapters import keys
from thorbot.adapters.metrics import last_cycle
from thorbot.adapters.slack import SlackApi
from thorbot.context import AppContext
from thorbot.domain.home_view import ChannelSummary, render_home
from thorbot.domain.incidents import Incident, Status
from thorbot.domain.oncall import Ack
from thorbot.domain.replies import worker_line
from thorbot.domain.uptime import parse_period
from thorbot.errors import SlackError
from thorbot.services.health import needing_a_look

log = logging.getLogger(__name__)


async def build_home(ctx: AppContext, slack: SlackApi, user: str) -> dict[str, Any]:
    store, oncall = ctx.stores.boxes, ctx.stores.oncall
    records = await store.records()
    recent = [str(i) for i in await ctx.redis.lrange(keys.RECENT, 0, 200)]
    open_incidents = [i for i in await store.incidents(list(dict.fromkeys(recent))) if i.resolved is None]
    watchers = await store.watchers()
    channels_with_subs = set(watchers.subscribed())
    with_acks: list[tuple[Incident, Ack | None]] = []
    for incident in open_incidents[:30]:
        found: Ack | None = None
        for channel in watchers.channels(incident.box_id):
            ts = await store.alert_ts(incident.id, channel)
            found = await oncall.ack(channel, ts) if ts else None
            if found:
                break
        with_acks.append((incident, found))
    mine = await _users_channels(slack, user)
    summaries = []
    for channel in sorted(channels_with_subs & mine):
        ids, whole = await store.channel_subscriptions(channel)
        target = await oncall.target(channel, ctx.clock())
        summaries.append(ChannelSummary(channel, len(ids), whole, target.mention if target else None))
    now = ctx.clock()
    month = parse_period("30d", now, ctx.settings.timezone)
    reliability = await ctx.reports.home(month, now) if month else []
    look = await needing_a_look(ctx.stores.usage, ctx.stores.sessions, ctx.rules.usage.quiet, now,
                                {b: r.status is not Status.ONLINE for b, r in records.items()})
    _, worker = worker_line(await last_cycle(ctx.redis), now, ctx.settings.poll_interval)
    return render_home(records, with_acks, summaries, now, reliability,
                       open_boxes=frozenset(i.box_id for i in open_incidents), connectors=look, worker=worker)


async def _users_channels(slack: SlackApi, user: str) -> set[str]:
    try:
        return await slack.user_channels(user)
    except SlackError as exc:
        log.warning("cannot list the user's channels: %s", exc.error)
        return set()


async def publish_home(ctx: AppContext, slack: SlackApi, event: dict[str, Any]) -> None:
    """app_home_opened: publish the fleet overview for the user who opened the Home tab."""
    if event.get("tab", "home") != "home":
        return
    user = str(event.get("user", ""))
    view = await build_home(ctx, slack, user)
    try:
        await slack.publish_home(user, view)
    except SlackError as exc:
        log.warning("could not publish the Home tab for %s: %s", user, exc.error)
