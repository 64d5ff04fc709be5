"""`/chargebox cause <id|name> [#port] <YYYY-MM-DD HH:MM> <cause> [note]`: give, or change, the cause of a past outage.

The **Cause…** menu on a resolved alert is the usual way; this is the way back to an outage later (from
the report, for an outage whose alert scrolled away, or for *other* with a note). The outage is found by
the minute it began (in THORBOT_TIMEZONE), and, with `#2`, of that port only (a port's own outage: its failed
starts, say); without a time, the box's outages of the last 30 days are listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.domain import replies
from thorbot.domain.causes import CAUSES, MAX_NOTE, PORT_KIND_CODES, CauseRecord, cause_key, cause_line, read_cause
from thorbot.domain.slash_commands import SetCause
from thorbot.domain.text import code, duration, escape, slack_date, truncate
from thorbot.domain.when import Bounds, check_day, check_moment, local_moment, read_clock, read_date
from thorbot.errors import UsageError
from thorbot.serve.registry import Changed
from thorbot.services.lookup import Lookup

Payload = dict[str, Any]
LISTED_DAYS = 30
MAX_LISTED = 15
# An outage's cause is given for one thorbot still keeps: up to 400 days back (adapters/keys.HISTORY_DAYS).
BOUNDS = Bounds(back=timedelta(days=400), ahead=timedelta(0),
                too_early="{day} is more than 400 days ago: thorbot keeps no outage that old",
                too_late="{day} is in the future: give when a past outage began")
_PORT = re.compile(r"^#(\d{1,4})$")
USAGE = ("Say which box (and port, `#2`, for a port's own outage), when its outage began and why: "
         "`/chargebox cause <id or name> [#2] 2026-11-03 14:05 utility` "
         "(causes: " + ", ".join(f"`{c}`" for c in ("utility", "vandalism", "maintenance", "vehicle", "disaster",
                                                    "network", "equipment", "thor", "other <note>", "unknown")) + ").")


def _split(words: list[str], zone: ZoneInfo, now: datetime) -> tuple[str, datetime | None, list[str]] | None:
    """(box query, the UTC minute the outage began, the rest); None when the date or time cannot be read at all.
    UsageError (domain/when.py) for a date or time that does not exist, one the clocks skipped, or one
    outside the history (400 days back, not ahead of now)."""
    for i in range(1, len(words)):
        if (day := read_date(words[i])) is not None:
            clock = read_clock(words[i + 1]) if i + 1 < len(words) else None
            if clock is None:
                return None
            check_day(day, now, zone, BOUNDS)
            began = local_moment(day, clock, zone)
            check_moment(began, now, zone, BOUNDS)
            return " ".join(words[:i]), began, words[i + 2:]
    return " ".join(words), None, []


class Causes:
    """cause: the history store (outages, ports, causes), the record and subscription stores (an outage still going on,
    who watches the box), the name look-up, the clock and the fleet's time zone (THORBOT_TIMEZONE)."""

    def __init__(self, history: HistoryStore, subscriptions: SubscriptionStore, records: RecordStore, lookup: Lookup,
                 clock: Callable[[], datetime], *,
                 timezone: str) -> None:
        self.history, self.lookup, self.clock, self.timezone = history, lookup, clock, timezone
        self.subscriptions, self.records = subscriptions, records

    async def answer(self, parsed: SetCause, user: str) -> Payload | Changed:
        words = list(parsed.words)
        if not words:
            return replies.usage_error(USAGE)
        zone = ZoneInfo(self.timezone)
        now = self.clock()
        try:
            split = _split(words, zone, now)
        except UsageError as exc:
            return replies.usage_error(f"{str(exc)[:1].upper()}{str(exc)[1:]}. " + USAGE)
        if split is None:
            return replies.usage_error("Write when the outage began as `YYYY-MM-DD HH:MM` "
                                       f"({self.timezone}). " + USAGE)
        query, began, rest = split
        query, port = _port_of(query)
        known = await self.history.known_boxes()
        matches = [b for b in known if b.id == query] or await self.lookup.among(known, query)
        if len(matches) != 1:
            return replies.usage_error(f"{code(query)} matches {len(matches)} chargeboxes; use the id." if matches
                                       else f"No chargebox with history matches {code(query)}.")
        box = matches[0]
        history = self.history
        if port is not None:
            ports = await history.port_count(box.id)
            if not 1 <= port <= ports:
                has = f"has ports #1–#{ports}" if ports > 1 else "has one port, #1" if ports == 1 else \
                    "has no ports thorbot knows of yet"
                return replies.usage_error(f"{escape(box.name)} {has}; `#{port}` is not one of them.")
        outages = await history.outages(box.id, now - timedelta(days=LISTED_DAYS))
        if port is not None:
            outages = [o for o in outages if o[0] in PORT_KIND_CODES and o[1] == port]
        if began is None:
            return _listing(box.name, box.id, outages, await history.cause_codes([box.id]), zone, port)
        cause = read_cause(rest[0]) if rest else None
        if cause is None:
            return replies.usage_error(f"{code(rest[0]) if rest else 'No cause'}: not a cause thorbot knows. " + USAGE)
        note = " ".join(rest[1:]).strip()[:MAX_NOTE] or None
        if cause == "other" and note is None:
            return replies.usage_error("Say what it was after `other`: `… other contractor cut the cable`.")
        minute = (began.timestamp(), began.timestamp() + 60)
        found = [o for o in outages if minute[0] <= o[2] < minute[1]]
        if not found:
            state = (await self.records.records()).get(box.id)
            if state and state.incident and minute[0] <= state.incident.started.timestamp() < minute[1]:
                return replies.usage_error("That outage is still going on: give its cause once it is over.")
            of = f"port #{port} of " if port is not None else ""
            local = began.astimezone(zone)
            return replies.usage_error(f"No outage of {of}{escape(box.name)} began at {local:%Y-%m-%d %H:%M} "
                                       f"({self.timezone}). `/chargebox cause {box.id}` lists its outages.")
        record = CauseRecord(cause=cause, by=user, at=now, note=note)
        await history.set_causes(box.id, {cause_key(kind, start): record for kind, _, start, _ in found})
        kind, port, start, end = found[0]
        where = f", port {port}" if kind in PORT_KIND_CODES and port else ""
        said = (f"the outage of *{escape(truncate(box.name, 80))}* that began "
                f"{slack_date(datetime.fromtimestamp(start, tz=zone))} ({duration(end - start)}{where}): "
                f"{cause_line(record)}" + (f" — {code(note, 200)}" if note else ""))
        # Every channel that watches the box is told: a cause decides whether the outage counts against uptime.
        watching = tuple((await self.subscriptions.watchers()).channels(box.id))
        return Changed(replies.simple(f"Recorded for {said}.", emoji=":label:"), f"set the cause of {said}.",
                       tell=watching)


def _port_of(query: str) -> tuple[str, int | None]:
    """`Depot north #2` → ("Depot north", 2); a query without a trailing `#N` is all box."""
    words = query.split()
    if len(words) > 1 and (match := _PORT.match(words[-1])) is not None:
        return " ".join(words[:-1]), int(match.group(1))
    return query, None


def _listing(name: str, box_id: str, outages: list[tuple[str, int | None, float, float]],
             causes: list[dict[str, str]], zone: ZoneInfo, port: int | None = None) -> Payload:
    asked = [o for o in outages if o[0] not in ("g", "i")]  # deleted or deactivated boxes ask no cause
    if not asked:
        return replies.simple(f"{escape(name)} {code(box_id, 40)} had no outage in the last {LISTED_DAYS} days.")
    given = causes[0] if causes else {}
    lines = []
    for kind, port, start, end in asked[-MAX_LISTED:]:
        cause = given.get(cause_key(kind, start))
        label = CAUSES[cause].label if cause in CAUSES else "_no cause yet_"
        at = datetime.fromtimestamp(start, tz=zone)
        where = f" · port {port}" if kind in PORT_KIND_CODES and port else ""
        lines.append(f"• `{at:%Y-%m-%d %H:%M}` {duration(end - start)}{where} — {label}")
    head = f"Outages of *{escape(name)}* {code(box_id, 40)}, last {LISTED_DAYS} days (newest last):\n"
    which = f"{escape(box_id)} #{port}" if port is not None else escape(box_id)
    return replies.simple(head + "\n".join(lines) + f"\nGive one a cause: `/chargebox cause {which} <date> "
                          "<time> <cause>`.", emoji=":label:")
