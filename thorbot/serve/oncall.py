"""Slash-command handlers for on-call targets and maintenance mutes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.domain import replies
from thorbot.domain.models import Chargebox
from thorbot.domain.oncall import ALL, Hold
from thorbot.domain.slash_commands import ClearOnCall, Mute, SetOnCall, ShowOnCall, Unmute
from thorbot.domain.text import code, duration, escape, plural, slack_date
from thorbot.serve.subscriptions import watched_boxes
from thorbot.serve.targets import resolve_targets
from thorbot.services.lookup import Lookup

log = logging.getLogger(__name__)
Payload = dict[str, Any]


class OnCall:
    """oncall / mute / unmute in a channel: the on-call, pager (rotation), history (mutes kept for the record) and
    subscription and record stores, the name look-up (to match the boxes muted) and the clock."""

    def __init__(self, oncall: OnCallStore, pagers: PagerStore, history: HistoryStore, subscriptions: SubscriptionStore,
                 records: RecordStore, lookup: Lookup,
                 clock: Callable[[], datetime]) -> None:
        self.oncall, self.pagers, self.history = oncall, pagers, history
        self.subscriptions, self.records = subscriptions, records
        self.lookup, self.clock = lookup, clock

    async def answer(self, parsed: ShowOnCall | SetOnCall | ClearOnCall | Mute | Unmute, channel: str,
                     user: str) -> Payload:
        """The answer to oncall / mute / unmute in `channel` (the caller has acked already)."""
        oncall = self.oncall
        if isinstance(parsed, ShowOnCall):
            if await self.pagers.rotation(channel) is not None:
                target = await oncall.target(channel, self.clock())
                return replies.simple(f"On call in this channel now: {target.mention if target else 'nobody'}, by "
                                      "its rotation (`/chargebox rotation` shows the next handoffs).", emoji=":bell:")
            target = await oncall.oncall(channel)
            text = (f"On call in this channel: {target.mention}. Alerts mention them; change it with "
                    "`/chargebox oncall @person|@group`, remove it with `/chargebox oncall clear`." if target else
                    "Nobody is on call in this channel: alerts mention no one. Set it with `/chargebox oncall "
                    "@person`.")
            return replies.simple(text, emoji=":bell:")
        if isinstance(parsed, SetOnCall):
            await oncall.set_oncall(channel, parsed.target)
            replaced = await self.pagers.clear_rotation(channel)
            return replies.simple(f"Alerts in this channel now mention {parsed.target.mention}; recoveries ping no "
                                  "one." + (" (This replaces the channel's rotation.)" if replaced else ""),
                                  emoji=":bell:")
        if isinstance(parsed, ClearOnCall):
            removed = await oncall.clear_oncall(channel)
            return replies.simple("Alerts here no longer mention anyone." if removed else "Nobody was on call here.",
                                  emoji=":no_bell:")
        return await self._mute(channel, user, parsed)

    async def _mute(self, channel: str, user: str, cmd: Mute | Unmute) -> Payload:
        oncall, now = self.oncall, self.clock()
        if cmd.all_boxes:
            targets = [Chargebox(id=ALL, alias="every chargebox watched here")]
            problems: list[str] = []
        else:
            targets, problems = await resolve_watched(self.subscriptions, self.records, self.lookup, channel,
                                                      cmd.queries, cmd.phrase)
        covered = await self._covered(channel, [b.id for b in targets])
        if isinstance(cmd, Mute):
            until = now + cmd.duration
            for box in targets:
                await oncall.hold(channel, Hold(kind="mute", box_id=box.id, until=until, by=user))
            # Kept for the record (reports note that mutes no longer count as maintenance), only for the boxes
            # this channel watches: `mute all` in a channel that watches nothing must not excuse the fleet.
            await self.history.record_mute(channel, covered, now, until)
            lines = [f":mute: Muted {escape(b.name)}{'' if b.id == ALL else ' ' + code(b.id, 40)} for "
                     f"{duration(cmd.duration.total_seconds())}, until {slack_date(until)}. Incidents are still "
                     "recorded, but not posted here." for b in targets]
        else:
            await oncall.release(channel, "mute", [b.id for b in targets])
            await self.history.end_mutes(channel, sorted({*covered, *(b.id for b in targets)}), now)
            lines = [f":loud_sound: Unmuted {escape(b.name)}." for b in targets]
        return replies.simple("\n".join(lines + problems) or "Nothing changed.", emoji="")

    async def _covered(self, channel: str, box_ids: list[str]) -> list[str]:
        """The boxes a mute in this channel covers as maintenance: the ones it watches (`*` = its whole watch)."""
        watched, whole_fleet = await self.subscriptions.channel_subscriptions(channel)
        if whole_fleet:
            return box_ids
        if ALL in box_ids:
            return sorted(watched)
        return [b for b in box_ids if b in watched]


async def resolve_watched(subscriptions: SubscriptionStore, records: RecordStore, lookup: Lookup, channel: str,
                          queries: tuple[str, ...],
                          phrase: str | None) -> tuple[list[Chargebox], list[str]]:
    """Match against this channel's boxes first (no Thor call), then the whole fleet."""
    known = await watched_boxes(subscriptions, records, channel)
    found: list[Chargebox] = []
    problems: list[str] = []
    for query, matches in await resolve_targets(queries, phrase, partial(lookup.among, known)):
        if len(matches) == 1:
            found.append(matches[0])
        elif matches:
            problems.append(f":mag: {code(query)} matches {plural(len(matches), 'box')}; use the id.")
        else:
            problems.append(f":mag: No chargebox matches {code(query)}.")
    return found, problems
