"""`/chargebox maintenance`: schedule, list and cancel a box's maintenance windows.

A window belongs to the box, not the channel: its alerts are held in every channel, its card says so,
and its outage time counts as scheduled maintenance (excluded from uptime up to 72 h a year).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from thorbot.adapters.history_store import HistoryStore, MaintenanceWindow
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.domain import replies
from thorbot.domain.maintenance import overlaps, parse_window
from thorbot.domain.slash_commands import Maintenance
from thorbot.domain.text import code, escape, slack_date, truncate
from thorbot.serve.oncall import resolve_watched
from thorbot.serve.registry import Changed
from thorbot.services.lookup import Lookup

Payload = dict[str, Any]
MAX_LISTED = 30


class MaintenanceCommand:
    """maintenance (schedule, list, cancel): the history store (the windows), the subscription and record stores and the
    name look-up (to find the box, and who watches it), the clock and the fleet's time zone (THORBOT_TIMEZONE)."""

    def __init__(self, history: HistoryStore, subscriptions: SubscriptionStore, records: RecordStore, lookup: Lookup,
                 clock: Callable[[], datetime], *,
                 timezone: str) -> None:
        self.history, self.lookup, self.clock, self.timezone = history, lookup, clock, timezone
        self.subscriptions, self.records = subscriptions, records

    async def answer(self, parsed: Maintenance, channel: str, user: str) -> Payload | Changed:
        words, now, history = list(parsed.words), self.clock(), self.history
        if not words or words[0].lower() == "list":
            return await self._list(now)
        if words[0].lower() == "cancel":
            if len(words) != 2:
                return replies.usage_error("Cancel a window by its id: `/chargebox maintenance cancel m1a2b3` "
                                           "(`/chargebox maintenance list` shows the ids).")
            window = await history.cancel_window(words[1], now)
            if window is None:
                return replies.usage_error("No upcoming or running maintenance window has the id "
                                           f"{code(words[1], 20)}.")
            ended = "ended now" if window.start < now else "cancelled"
            return Changed(replies.simple(f"Maintenance {code(window.id)} of {code(window.box_id, 40)} {ended}.",
                                          emoji=":wrench:"),
                           f"{'ended' if window.start < now else 'cancelled'} maintenance {code(window.id)} of "
                           f"{code(window.box_id, 40)}: its alerts are no longer held.",
                           tell=await self._watching(window.box_id))
        request = parse_window(words, ZoneInfo(self.timezone), now)
        if isinstance(request, str):
            return replies.usage_error(request[:1].upper() + request[1:] + ".")
        found, problems = await resolve_watched(self.subscriptions, self.records, self.lookup, channel,
                                                (request.query,), None)
        if len(found) != 1:
            return replies.usage_error(" ".join(problems) or f"No chargebox matches {code(request.query)}.")
        box = found[0]
        existing = (await history.windows(now)).get(box.id, [])
        if overlaps(request.start, request.end, [(w.start, w.end) for w in existing]):
            return replies.usage_error(f"{escape(box.name)} already has maintenance then; cancel it first "
                                       "(`/chargebox maintenance list`).")
        window = MaintenanceWindow(id="m" + secrets.token_hex(3), box_id=box.id, start=request.start, end=request.end,
                                   note=request.note, by=user)
        await history.add_window(window, now)
        note = f" ({code(window.note, 200)})" if window.note else ""  # people's words: no formatting, no links
        # A window belongs to the box: every channel whose alerts it holds is told, not only this one.
        box_text = f"*{escape(truncate(box.name, 80))}* {code(box.id, 40)}"
        return Changed(replies.simple(f"Maintenance {code(window.id)} of {box_text}: "
                                      f"{slack_date(window.start)} to {slack_date(window.end)}{note}. Its alerts "
                                      "are held in every channel meanwhile, and its outage time is excluded from "
                                      "uptime (up to 72 h a year).", emoji=":wrench:"),
                       f"scheduled maintenance {code(window.id)} of *{escape(truncate(box.name, 80))}* "
                       f"{code(box.id, 40)}: {slack_date(window.start)} to {slack_date(window.end)}{note}. Its alerts "
                       "are held in every channel that watches it meanwhile (`/chargebox maintenance cancel "
                       f"{window.id}` ends it).", tell=await self._watching(box.id))


    async def _watching(self, box_id: str) -> tuple[str, ...]:
        return tuple((await self.subscriptions.watchers()).channels(box_id))


    async def _list(self, now: datetime) -> Payload:
        windows = sorted((w for ws in (await self.history.windows(now)).values() for w in ws),
                         key=lambda w: w.start)
        if not windows:
            return replies.simple("No maintenance is scheduled. Plan some with `/chargebox maintenance <id or name> "
                                  "<start> <duration> [note]`.", emoji=":wrench:")
        lines = [f"{code(w.id)} {code(w.box_id, 40)} {slack_date(w.start)} → {slack_date(w.end)}"
                 + (" · *now*" if w.start <= now else "") + (f" · {escape(truncate(w.note, 80))}" if w.note else "")
                 for w in windows[:MAX_LISTED]]
        more = f"\n_…and {len(windows) - MAX_LISTED} more_" if len(windows) > MAX_LISTED else ""
        return replies.simple("Scheduled maintenance:\n" + "\n".join(lines) + more, emoji=":wrench:")
