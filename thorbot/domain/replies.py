"""Every non-card reply of the slash command: help, errors, pick lists. Pure."""

from __future__ import annotations

from datetime import datetime

from thorbot.domain.blocks import Payload, button, header, message, section
from thorbot.domain.models import Chargebox
from thorbot.domain.text import code, escape, slack_date, truncate
from thorbot.errors import ChargeboxNotFound, ThorAccessDenied, ThorError, ThorUnavailable

ACTION_PICK = "pick_box"
MAX_PICKS = 10

HELP_LINES = [
    "*`/chargebox <id>`* — status card of one chargebox, e.g. `/chargebox EaJ7cU9NJ3YkTNgy`",
    "*`/chargebox <name>`* — search by name (alias), e.g. `/chargebox parking lot A`",
    "*`/chargebox subscribe <id|name> [more…]`* — alert this channel when they go offline or silent, or a "
    "connector keeps failing to start charges",
    "*`/chargebox subscribe all`* — watch the whole fleet, including boxes added later",
    "*`/chargebox unsubscribe <id|name|all>`* — stop watching",
    "*`/chargebox list`* — this channel's subscriptions with live status, problems first",
    "*`/chargebox oncall @person|@group`* — who alerts here mention; `/chargebox oncall` shows it, "
    "`/chargebox oncall clear` removes it",
    "*`/chargebox rotation @a @b weekly mon 09:00 [zone] [group @g]`* (or `daily 09:00`) — hand the pager over "
    "on a schedule (and keep user group `@g` to whoever is on call); `/chargebox rotation` shows who is on call and "
    "the next handoffs, `rotation override @b until fri 18:00` covers a shift, `rotation off` stops it",
    "*`/chargebox pager`* — page PagerDuty (or any pager, by a signed webhook) for this channel's alerts; "
    "`/chargebox pager off` disconnects it",
    "*`/chargebox mute <id|name|all> <duration>`* — this channel is not told for a while (incidents are still "
    "recorded), e.g. `2h`, `30m`, `1d`; `/chargebox unmute <id|name|all>` ends it",
    "*`/chargebox hours <id|name> mon-fri 07:00-22:00`* (or `24/7`, `default`) — a box's posted hours of operation: "
    "outage outside them is excluded from uptime; `/chargebox hours` lists them",
    "*`/chargebox maintenance <id|name> <now|HH:MM|fri 09:00> <2h> [note]`* — schedule a box's maintenance: its "
    "alerts are held everywhere and the time is excluded from uptime; `maintenance list`, `maintenance cancel <id>`",
    "*`/chargebox cause <id|name> [#port] <2026-11-03 14:05> <utility|vandalism|maintenance|vehicle|disaster|"
    "network|equipment|thor|other|unknown> [note]`* — give (or change) the cause of a past outage, by when it began "
    "(`#2`: that port's own); without a time, lists the box's recent outages",
    "*`/chargebox report [<id|name>|all] [7d|30d|2026-10|12m]`* — reliability: uptime, outages, MTTR, charge "
    "success; *Download CSV* for the full table",
    "*`/chargebox digest daily 09:00`* (or `weekly mon 09:00`, `off`) — a scheduled summary in this channel",
    "*`/chargebox stickers <id|name>`* — a PDF of the box's QR stickers, one per connector, for drivers to report a "
    "broken one (`thorbot stickers all` prints the fleet's)",
    "*`/chargebox help`* — this message",
]


def help_reply() -> Payload:
    return message("How to use /chargebox", [header("/chargebox — Thor chargeboxes in Slack"),
                                             section("\n".join(HELP_LINES))], response_type="ephemeral")


def simple(text: str, *, emoji: str = ":information_source:") -> Payload:
    body = truncate(f"{emoji} {text}".strip(), 3000)
    return message(body, [section(body)], response_type="ephemeral")


def looking_up(query: str) -> Payload:
    return {"response_type": "ephemeral", "text": f":hourglass_flowing_sand: Looking up {code(query)} in Thor…"}


def usage_error(message: str) -> Payload:
    return simple(f"{message}\nType `/chargebox help` for examples.", emoji=":warning:")


def no_match(query: str) -> Payload:
    return simple(
        f"No chargebox has the id or a name matching {code(query)}. "
        "Check the spelling, try part of the name, or ask Thor's dashboard for the id.",
        emoji=":mag:",
    )


def pick_list(query: str, matches: list[Chargebox], total: int) -> Payload:
    """Several boxes match a name: one button each, the most likely first."""
    shown = matches[:MAX_PICKS]
    more = f" Showing the first {len(shown)}; be more specific to narrow it down." if total > len(shown) else ""
    intro = f":mag: {total} chargeboxes match {code(query)}.{more} Which one?"
    rows = [section(f"*{escape(truncate(b.name, 150))}*  {code(b.id, 60)}",
                    accessory=button("Show", f"{ACTION_PICK}_{i}", b.id)) for i, b in enumerate(shown)]
    return message(intro, [section(intro), *rows], response_type="ephemeral")


def thor_error(error: ThorError, query: str | None = None) -> Payload:
    return simple(describe_thor_error(error, query), emoji=":warning:")


# What went wrong and what an admin does about it, for Thor's access errors (thor-api notes §1).
# The status card's error reply and the worker's "Thor unreachable" notice both use these.
ACCESS_PROBLEMS: dict[str, tuple[str, str]] = {
    "APIKeyNotFound": (
        "Thor rejected thorbot's API key",
        "An admin should copy the key from the *Development* page of the Thor dashboard (\"Requests to Thor\") "
        "into `THOR_API_KEY` and restart thorbot. Regenerating the key there invalidates the old one.",
    ),
    "RestAPINotEnabled": (
        "The REST API integration is switched off in the Thor dashboard",
        "An admin should enable it on the *Development* page and press save.",
    ),
    "InvalidSourceIPAddr": (
        "Thor refused the call because it came from a different IP address than the one configured",
        "An admin should update *Source IP address* under *Development → Requests to Thor* in the dashboard "
        "to this server's outgoing IP (or clear it), then save.",
    ),
    "EndpointNotFound": (
        "Thor answered 404 Not Found for its chargebox list",
        "Check `THOR_API_URL`: the documented base is `https://api.thor.tools/latest/integration`. "
        "Fix it and restart thorbot.",
    ),
}


def describe_thor_error(error: ThorError, query: str | None = None) -> str:
    """What happened and what to do, for each documented Thor error (thor-api notes §1)."""
    if isinstance(error, ChargeboxNotFound):
        target = code(query or error.chargebox_id)
        return f"Thor has no chargebox {target} (ChargeboxNotFound). Check the id, or search by name."
    if error.code == "EndpointNotFound":
        what, fix = ACCESS_PROBLEMS[error.code]
        return f"{what} ({code(str(error), 200)}). {fix}"
    if error.code in ACCESS_PROBLEMS:
        what, fix = ACCESS_PROBLEMS[error.code]
        return f"{what} (`{error.code}`). {fix}"
    if isinstance(error, ThorAccessDenied):
        return (f"Thor refused the request (`{escape(error.code)}`). "
                "Check the API integration settings in the dashboard.")
    if error.code == "timeout":
        waited = f" in {error.after:.0f} s" if error.after else " in time"
        return f"Thor did not answer{waited}. It may be overloaded; try again in a minute."
    if error.code == "too_large":
        return f"Thor sent an answer larger than thorbot accepts ({escape(str(error))})."
    if error.status == 404:
        return ("Thor answered 404 Not Found without saying `ChargeboxNotFound`: the box may not exist, or "
                "`THOR_API_URL` may point to the wrong place.")
    if error.code == "connect":
        return ("thorbot could not reach Thor's API (connection failed). "
                "Try again in a minute; if it persists, check `THOR_API_URL`.")
    if isinstance(error, ThorUnavailable):
        return (f"Thor is having trouble right now (HTTP {error.status or '?'}, `{escape(error.code)}`). "
                "Nothing is wrong with your command; try again in a minute.")
    return f"Thor sent an answer thorbot could not read (`{escape(error.code)}`). Try again in a minute."


def redis_unavailable() -> Payload:
    return simple("thorbot cannot reach its database (Redis) right now, so subscriptions, on-call and mutes are "
                  "unavailable until it is back. Status cards (`/chargebox <id>`) still work.", emoji=":warning:")


def internal_error() -> Payload:
    return simple("Something went wrong inside thorbot; the details are in its log. Please try again.",
                  emoji=":warning:")


STALE_CYCLES = 5  # a worker this many poll intervals late is not polling: alerts are not going out


def worker_line(last: datetime | None, now: datetime, interval: float) -> tuple[bool, str]:
    """(fresh, the line): when thorbot's worker last completed a poll cycle, and a warning when it is late."""
    if last is None:
        return False, (":warning: No worker has completed a poll cycle yet: alerts are not going out. Is "
                       "`thorbot worker` running (and its dyno scaled up)?")
    if (now - last).total_seconds() > STALE_CYCLES * interval:
        return False, (f":warning: thorbot's worker last completed a poll cycle {slack_date(last)}, more than "
                       f"{STALE_CYCLES} intervals ago: alerts are not going out. Check `thorbot worker` (its logs, "
                       "its dyno) and `thorbot doctor`.")
    return True, f":white_check_mark: The worker last completed a poll cycle {slack_date(last)}."
