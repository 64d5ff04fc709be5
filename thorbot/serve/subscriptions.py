"""Slash-command handlers for subscribe, unsubscribe and list (the channel's watch list)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.outbox_store import OutboxStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.adapters.thor import ThorClient
from thorbot.adapters.usage_store import UsageStore
from thorbot.domain import replies
from thorbot.domain.incidents import BoxRecord, Observation, Thresholds, step
from thorbot.domain.listing import Entry, entry_for, render_list, render_subscribed
from thorbot.domain.models import Chargebox
from thorbot.domain.oncall import ALL, Hold
from thorbot.domain.search import match_boxes
from thorbot.domain.slash_commands import ListSubscriptions, Subscribe, Unsubscribe
from thorbot.domain.text import code, escape, plural, slack_date
from thorbot.domain.usage import QuietRules
from thorbot.errors import SlackError, SlackPermanent, ThorError
from thorbot.serve.targets import resolve_targets
from thorbot.services.health import needing_a_look
from thorbot.services.lookup import Lookup

HELD_WORDS = {"mute": "muted", "snooze": "snoozed", "maintenance": "in maintenance"}

log = logging.getLogger(__name__)
Payload = dict[str, Any]
PER_BOX_LIMIT = 50  # list: at most this many per-box calls when the list endpoint lacks live fields


class Subscriptions:
    """subscribe / unsubscribe / list in a channel: the channel's watch list (boxes), what it holds (on-call holds,
    maintenance windows), Thor's interactive client and the name look-up, Slack (can thorbot post there?), the
    clock, and the incident and usage rules the list shows by."""

    def __init__(self, subscriptions: SubscriptionStore, records: RecordStore, outbox: OutboxStore,
                 oncall: OnCallStore, history: HistoryStore, usage: UsageStore, sessions: SessionStore,
                 thor: ThorClient, lookup: Lookup, slack: SlackApi,
                 clock: Callable[[], datetime], *, limits: Thresholds, quiet: QuietRules,
                 poll_concurrency: int) -> None:
        self.subscriptions, self.records, self.outbox = subscriptions, records, outbox
        self.oncall, self.history, self.usage, self.sessions = oncall, history, usage, sessions
        self.thor, self.lookup, self.slack, self.clock = thor, lookup, slack, clock
        self.limits, self.quiet, self.poll_concurrency = limits, quiet, poll_concurrency

    async def answer(self, parsed: Subscribe | Unsubscribe | ListSubscriptions, channel: str) -> Payload:
        """The answer to subscribe / unsubscribe / list in `channel` (the caller has acked already)."""
        if isinstance(parsed, Subscribe):
            return await self.subscribe(channel, parsed)
        if isinstance(parsed, Unsubscribe):
            return await self.unsubscribe(channel, parsed)
        return await self.list_channel(channel)

    async def posting_problem(self, channel: str) -> str | None:
        """Say so at subscribe time if alerts could not be posted in this channel (rather than at 3 a.m.)."""
        invite = ("thorbot cannot post in this channel yet, so alerts would be lost: invite it with "
                  "`/invite @thorbot`.")
        try:
            details = await self.slack.channel_info(channel)
        except SlackPermanent as exc:
            return f":warning: {invite}" if exc.error in ("channel_not_found", "not_in_channel") else None
        except SlackError as exc:  # the check is advisory: never fail a subscription over it
            log.warning("conversations.info failed for %s (%s); subscribing without the check", channel, exc.error)
            return None
        if details.get("is_archived"):
            return ":warning: This channel is archived; alerts cannot be posted here."
        if details.get("is_private") and not details.get("is_member"):
            return f":warning: {invite}"
        return None

    async def subscribe(self, channel: str, cmd: Subscribe) -> Payload:
        subscriptions, box_records, now, limits = self.subscriptions, self.records, self.clock(), self.limits
        warning = await self.posting_problem(channel)
        if cmd.all_boxes:
            boxes = await self.lookup.all_boxes()
            await subscriptions.subscribe_all(channel)
            await box_records.record_sightings(first_sightings(boxes, now, limits))
            return render_subscribed([], [], [warning] if warning else [], whole_fleet_count=len(boxes))
        found: list[Chargebox] = []
        problems: list[str] = [warning] if warning else []

        async def lookup(query: str) -> list[Chargebox]:
            return (await self.lookup.resolve(query)).candidates

        for query, matches in await resolve_targets(cmd.queries, cmd.phrase, lookup):
            if len(matches) == 1:
                found.append(matches[0])
            elif matches:
                names = ", ".join(f"{escape(b.name)} {code(b.id, 30)}" for b in matches[:5])
                more = "…" if len(matches) > 5 else ""
                problems.append(f":mag: {code(query)} matches {plural(len(matches), 'box')} ({names}{more}); "
                                "use the id, or quote the whole name.")
            else:
                problems.append(f":mag: No chargebox matches {code(query)}.")
        current, _ = await subscriptions.channel_subscriptions(channel)
        fresh = [b for b in found if b.id not in current]
        await subscriptions.subscribe(channel, [b.id for b in fresh])
        await box_records.record_sightings(first_sightings(fresh, now, limits))
        added = [entry_for(b.id, b, True, now, limits) for b in fresh]
        already = [entry_for(b.id, b, True, now, limits) for b in found if b.id in current]
        return render_subscribed(added, already, problems)

    async def unsubscribe(self, channel: str, cmd: Unsubscribe) -> Payload:
        subscriptions = self.subscriptions
        if cmd.all_boxes:
            removed = await subscriptions.unsubscribe_all(channel)
            text = "This channel no longer watches any chargebox." if removed else "This channel watched nothing."
            return replies.simple(text, emoji=":no_bell:")
        known = await watched_boxes(subscriptions, self.records, channel)
        to_remove: list[Chargebox] = []
        problems: list[str] = []
        watched_ids = {b.id for b in known}

        async def among_watched(query: str) -> list[Chargebox]:
            found = match_boxes(known, query)  # works for deleted boxes too: no Thor call needed
            if found:
                return found
            try:  # names thorbot has not seen yet (no poll since subscribing): ask Thor, keep the watched ones
                resolved = await self.lookup.resolve(query)
            except ThorError:
                return []
            return [b for b in resolved.candidates if b.id in watched_ids]

        for query, matches in await resolve_targets(cmd.queries, cmd.phrase, among_watched):
            if len(matches) == 1:
                to_remove.append(matches[0])
            elif matches:
                problems.append(f"{code(query)} matches {plural(len(matches), 'watched box', 'watched boxes')}; "
                                "use the id.")
            else:
                problems.append(f"{code(query)} is not watched in this channel.")
        await subscriptions.unsubscribe(channel, [b.id for b in to_remove])
        lines = [f":no_bell: Stopped watching {escape(b.name)} {code(b.id, 40)}." for b in to_remove] + problems
        return replies.simple("\n".join(lines), emoji="")

    async def list_channel(self, channel: str) -> Payload:
        subscriptions = self.subscriptions
        ids, whole_fleet = await subscriptions.channel_subscriptions(channel)
        now, limits = self.clock(), self.limits
        note = None
        try:
            boxes = {b.id: b for b in await self.lookup.all_boxes()}
        except ThorError as exc:
            records = await self.records.record_statuses(sorted(ids))
            entries = [Entry(i, records[i].alias or i if i in records else i, "unknown", "live status unavailable")
                       for i in sorted(ids)]
            return render_list(entries, whole_fleet=whole_fleet, note=replies.describe_thor_error(exc))
        watched = set(boxes) | ids if whole_fleet else ids
        missing_live = [i for i in sorted(watched) if i in boxes and not boxes[i].has_live_fields]
        fetched = await self._fetch_live([i for i in sorted(ids) if i not in boxes] + missing_live[:PER_BOX_LIMIT])
        if len(missing_live) > PER_BOX_LIMIT:
            note = f"Live status checked for {PER_BOX_LIMIT} boxes; the rest show what Thor's list reports."
        failure = await self.outbox.delivery_error(channel)
        if failure is not None:
            problem = (f":warning: The last alert for this channel could not be posted here (`{escape(failure[0])}`, "
                       f"{slack_date(failure[1])}). Invite @thorbot to this channel (`/invite @thorbot`).")
            note = f"{problem}\n{note}" if note else problem
        holds = {h.box_id: h for h in await self.oncall.holds(channel, now)}
        for box_id, windows in (await self.history.windows(now)).items():  # maintenance holds everywhere
            running = [w for w in windows if w.start <= now < w.end]
            if running:
                holds[box_id] = Hold(kind="maintenance", box_id=box_id, until=running[0].end, by=running[0].by)
        entries = []
        for box_id in sorted(watched):
            box, found = fetched.get(box_id, (boxes.get(box_id), box_id in boxes))
            entry = entry_for(box_id, box, found, now, limits)
            hold = holds.get(box_id) or holds.get(ALL)
            if hold is not None:
                entry = replace(entry, held=f"{HELD_WORDS[hold.kind]} until {slack_date(hold.until)}")
            entries.append(entry)
        look = await needing_a_look(self.usage, self.sessions, self.quiet, now,
                                    {e.box_id: e.state != "online" for e in entries})
        entries = [replace(e, connectors=tuple(look[e.box_id])) if e.box_id in look else e for e in entries]
        return render_list(entries, whole_fleet=whole_fleet, note=note)

    async def _fetch_live(self, box_ids: list[str]) -> dict[str, tuple[Chargebox | None, bool]]:
        """(box or None, found?) per id: a 404 is "not in Thor", any other error "status unavailable"."""
        results = await self.thor.get_many(box_ids, concurrency=self.poll_concurrency)
        return {i: (None, True) if isinstance(r, ThorError) else (r, r is not None) for i, r in results.items()}


def first_sightings(boxes: list[Chargebox], now: datetime, limits: Thresholds) -> dict[str, BoxRecord]:
    """The state subscribe confirmed for each box (only where Thor said whether it is connected)."""
    return {b.id: step(None, Observation(b.id, b), now, limits)[0] for b in boxes if b.has_live_fields}


async def watched_boxes(subscriptions: SubscriptionStore, box_records: RecordStore, channel: str) -> list[Chargebox]:
    """The channel's boxes with the names thorbot last saw: matchable without calling Thor."""
    ids, _ = await subscriptions.channel_subscriptions(channel)
    records = await box_records.record_statuses(sorted(ids))
    return [Chargebox(id=i, alias=records[i].alias if i in records else None) for i in sorted(ids)]
