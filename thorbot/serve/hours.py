"""`/chargebox hours`: a box's posted hours of operation (outage outside them is excluded from uptime, NEVI).

A box without hours of its own has the fleet's (THORBOT_HOURS_OF_OPERATION, in THORBOT_TIMEZONE). Hours a box
is given are read in the box's own time zone (Thor's `timezone`, else THORBOT_TIMEZONE): "07:00-22:00" is
the site's clock, whoever reads the report.
"""

from __future__ import annotations

from typing import Any

from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.domain import replies
from thorbot.domain.hours import PostedHours, parse_hours
from thorbot.domain.slash_commands import SetHours, ShowHours
from thorbot.domain.text import code, escape, is_zone, truncate
from thorbot.serve.oncall import resolve_watched
from thorbot.services.lookup import Lookup

Payload = dict[str, Any]
MAX_LISTED = 40
EXCLUDED = "Outage time outside them is excluded from uptime (reports and the EV-ChART export)."


class Hours:
    """hours (show, set, list): the history store (boxes' own hours), the subscription and record stores and the name
    look-up (to find the box), the fleet's hours and the fleet's time zone (THORBOT_HOURS_OF_OPERATION,
    THORBOT_TIMEZONE)."""

    def __init__(self, history: HistoryStore, subscriptions: SubscriptionStore, records: RecordStore, lookup: Lookup,
                 *, fleet: PostedHours,
                 timezone: str) -> None:
        self.history, self.lookup, self.fleet, self.timezone = history, lookup, fleet, timezone
        self.subscriptions, self.records = subscriptions, records

    async def answer(self, parsed: ShowHours | SetHours, channel: str) -> Payload:
        history, fleet = self.history, self.fleet
        if isinstance(parsed, ShowHours) and parsed.query is None:
            return await self._list()
        if isinstance(parsed, SetHours) and parsed.hours.lower() != "default":
            try:
                parse_hours(parsed.hours)
            except ValueError as exc:
                return replies.usage_error(f"{escape(str(exc))}. Write hours like `mon-fri 07:00-22:00, sat "
                                           "08:00-14:00` (days not listed are closed), `24/7`, or `default` for the "
                                           "fleet's.")
        query = parsed.query or ""
        found, problems = await resolve_watched(self.subscriptions, self.records, self.lookup, channel, (query,), None)
        if len(found) != 1:
            return replies.usage_error(" ".join(problems) or f"No chargebox matches {code(query)}.")
        box = found[0]
        name = f"*{escape(truncate(box.name, 80))}* {code(box.id, 40)}"
        if isinstance(parsed, ShowHours):
            own = (await history.posted_hours()).get(box.id)
            shown = _shown(own) if own else f"the fleet's: {_shown(fleet)}"
            return replies.simple(f"Hours of operation of {name}: {shown}. {EXCLUDED}", emoji=":clock9:")
        if parsed.hours.lower() == "default":
            await history.set_hours(box.id, None)
            return replies.simple(f"{name} has the fleet's hours of operation again: {_shown(fleet)}.",
                                  emoji=":clock9:")
        zone = box.timezone if box.timezone and is_zone(box.timezone) else self.timezone
        posted = PostedHours(hours=" ".join(parsed.hours.split()).lower(), zone=zone)
        await history.set_hours(box.id, posted)
        return replies.simple(f"Hours of operation of {name}: {_shown(posted)}. {EXCLUDED}", emoji=":clock9:")

    async def _list(self) -> Payload:
        posted = await self.history.posted_hours()
        listed = sorted(posted.items())[:MAX_LISTED]
        records = await self.records.record_statuses([box_id for box_id, _ in listed])  # (not the whole fleet's)
        lines = [f"The fleet's hours of operation: {_shown(self.fleet)} (`THORBOT_HOURS_OF_OPERATION`)."]
        for box_id, hours in listed:
            record = records.get(box_id)
            label = escape(truncate(record.alias, 60)) if record and record.alias else code(box_id, 40)
            lines.append(f"• {label}: {_shown(hours)}")
        if len(posted) > MAX_LISTED:
            lines.append(f"…and {len(posted) - MAX_LISTED} more.")
        if not posted:
            lines.append("No box has hours of its own; give one with `/chargebox hours <id or name> mon-fri "
                         "07:00-22:00`.")
        return replies.simple("\n".join(lines), emoji=":clock9:")


def _shown(hours: PostedHours) -> str:
    return "open 24/7" if parse_hours(hours.hours) is None else f"{code(hours.hours, 200)} ({hours.zone})"
