"""Alert, recovery and Thor-health messages as Block Kit. Pure."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from thorbot.domain.blocks import Block, Payload, actions, button, context, header, message, section, select
from thorbot.domain.causes import ASKS_A_CAUSE, CAUSE_OPTIONS, CauseRecord, cause_line
from thorbot.domain.driver_reports import PROBLEM_LABELS, Problem
from thorbot.domain.incidents import CONNECTOR_KINDS, Incident
from thorbot.domain.oncall import SNOOZE_LABELS, Ack
from thorbot.domain.replies import ACCESS_PROBLEMS
from thorbot.domain.status import icon, look
from thorbot.domain.text import age, code, duration, escape, pack_lines, plural, slack_date, truncate

MAX_GROUP_LINES = 40
SECTION_LIMIT = 3000
# THORBOT_RUNBOOK_URL's placeholders, as Alertmanager's `runbook_url` annotation: each value URL-encoded.
RUNBOOK_FIELDS = ("kind", "box_id", "connector")
_RUNBOOK_SAMPLE = {"kind": "offline", "box_id": "BOX-1", "connector": "1"}


def runbook_problem(template: str) -> str | None:
    """Why THORBOT_RUNBOOK_URL cannot be a runbook link on every alert and page, or None."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"its {{placeholders}} cannot be read ({exc}); write a literal brace as {{{{ or }}}}"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in RUNBOOK_FIELDS:
            return f"{{{name}}} is not one of its placeholders: " + ", ".join(f"{{{f}}}" for f in RUNBOOK_FIELDS)
        if spec or conversion:
            return f"{{{name}}} takes no conversion or format (`!r`, `:…`): write it as {{{name}}}"
    sample = template.format_map(_RUNBOOK_SAMPLE)
    split = urlsplit(sample)
    if split.scheme != "https" or not split.hostname:
        return "must be an https:// URL, e.g. https://wiki.example.com/runbooks/{kind}?box={box_id}"
    if any(c.isspace() or c in "<>|" for c in sample):
        return "may not hold spaces or the characters < > | (Slack links break on them)"
    return None


def runbook_url(template: str | None, incident: Incident) -> str | None:
    """The incident's runbook (THORBOT_RUNBOOK_URL filled in), or None when there is no template."""
    if not template:
        return None
    values = {"kind": incident.kind, "box_id": incident.box_id,
              "connector": str(incident.connector) if incident.connector is not None else ""}
    return template.format_map({k: quote(v, safe="") for k, v in values.items()})


def _runbook_link(template: str | None, incident: Incident) -> str:
    url = runbook_url(template, incident)
    return f"<{url}|:book: Runbook>" if url else ""

WHAT = {
    "offline": "is *offline* (disconnected from Thor)",
    "silent": "is *silent* (connected, but no heartbeat)",
    "gone": "*no longer exists* in Thor (404 ChargeboxNotFound)",
    "inactive": "was flagged *inactive* in Thor",
    "failed_starts": "has *failed starts*: drivers could not charge",
    "quiet": "is *not charging anyone*",
    "reported": "is *reported by drivers*",
}
WHAT_PLAIN = {kind: look(kind).label + (" in Thor" if kind == "inactive" else "") for kind in WHAT}
BACK = {"offline": "back online", "silent": "sending heartbeats again", "gone": "back in Thor",
        "inactive": "active again", "failed_starts": "charging again", "quiet": "charging again",
        "reported": "charging again after a driver's report"}


def what(incident: Incident) -> str:
    """What happened, in a sentence fragment after the box's name."""
    if incident.kind == "failed_starts":
        return (f"has *failed starts* on connector #{incident.connector}: {incident.failures} attempts in a row "
                "ended without charge (under 100 Wh) or were refused by the box")
    if incident.kind == "quiet":
        return (f"is *not charging anyone* on connector #{incident.connector}: "
                f"{escape(incident.evidence or 'no start for far longer than usual')}")
    if incident.kind == "reported":
        return (f"is *reported by drivers* on connector #{incident.connector}: "
                f"{escape(problem_label(incident.problem))} — {reports_line(incident)}")
    return WHAT[incident.kind]


def problem_label(problem: str | None) -> str:
    try:
        return PROBLEM_LABELS[Problem(problem or "other")]
    except ValueError:
        return PROBLEM_LABELS[Problem.OTHER]


def reports_line(incident: Incident) -> str:
    sources = max(1, len(incident.sources))
    confirmed = "" if incident.confirmed is None else (
        " · confirmed by thorbot's own evidence" if incident.confirmed_by == "thorbot" else
        f" · confirmed by <@{incident.confirmed_by}>" if incident.confirmed_by else " · confirmed")
    return (f"{incident.reports} report{'s' if incident.reports != 1 else ''} from {sources} "
            f"source{'s' if sources != 1 else ''}{confirmed}")


def what_plain(incident: Incident) -> str:
    if incident.kind in CONNECTOR_KINDS:
        return f"{look(incident.kind).label} on connector #{incident.connector}"
    return WHAT_PLAIN[incident.kind]
ACTION_ACK = "alert_ack"
ACTION_SNOOZE = "alert_snooze"
ACTION_ALERT_REFRESH = "alert_refresh"
ACTION_CAUSE = "alert_cause"
ACTION_CONFIRM = "alert_confirm"  # a driver's report: it is real (counts as an outage from its first report)
ACTION_RESOLVE = "alert_resolve"  # a driver's report: fixed, with its cause


@dataclass(frozen=True)
class MessageState:
    """What people did with an alert message: shown on it, and it stops escalation."""

    ack: Ack | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    muted_until: datetime | None = None
    cause: CauseRecord | None = None  # resolved: why it was down (one for the whole message)


def impact(incident: Incident) -> str:
    """Who is affected: running sessions strand drivers, reservations mean someone is on the way."""
    if incident.kind == "failed_starts":
        return ":busts_in_silhouette: drivers on that connector cannot charge; the box itself looks connected"
    if incident.kind == "reported":
        return (":busts_in_silhouette: a driver at the charger could not charge; it counts as an outage of that "
                "port once confirmed (Confirm, or thorbot's own evidence)")
    if incident.kind == "quiet":
        return (":busts_in_silhouette: drivers may be giving up before a charge starts (a dead payment terminal or "
                "RFID reader, a frozen screen, a damaged cable); the box itself looks connected")
    parts = []
    if incident.occupied:
        nums = ", ".join(f"#{n}" for n in incident.occupied)
        parts.append(f":busts_in_silhouette: charging session running on connector {nums}")
    if incident.reserved:
        nums = ", ".join(f"#{n}" for n in incident.reserved)
        parts.append(f"reserved: connector {nums}")
    return "; ".join(parts) if parts else "no sessions or reservations when it went down"


def incident_line(incident: Incident, now: datetime, runbook: str | None = None) -> str:
    name = f"*{escape(truncate(incident.name, 80))}* {code(incident.box_id, 40)}"
    link = f" · {_runbook_link(runbook, incident)}" if runbook else ""
    if incident.resolved is not None:
        down = incident.downtime()
        lasted = duration(down.total_seconds()) if down is not None else "?"
        return f":white_check_mark: {name} resolved — {what_plain(incident)} for {lasted}{link}"
    if incident.kind in CONNECTOR_KINDS:
        # A driver's words in a grouped message: inline code, so nothing in them formats, links or mentions.
        said = f" · the driver: {code(incident.quote, 160)}" if incident.kind == "reported" and incident.quote else ""
        return f"{icon(incident.kind)} {name} {what(incident)} since {slack_date(incident.started)}{said}{link}"
    heartbeat = f"last heartbeat {age(incident.last_heartbeat, now)}" if incident.last_heartbeat else "no heartbeat"
    return (f"{icon(incident.kind)} {name} {what(incident)} since {slack_date(incident.started)} · "
            f"{heartbeat} · {impact(incident)}{link}")


def render_alert(incidents: list[Incident], now: datetime, *, mention: str | None = None,
                 state: MessageState | None = None, buttons: bool = True, runbook: str | None = None) -> Payload:
    """One message for one incident, or one grouped message for a burst of them, with its buttons. `runbook`:
    THORBOT_RUNBOOK_URL, a "Runbook" link for the incident (on each line of a grouped one)."""
    payload = _single(incidents[0], now, mention, runbook) if len(incidents) == 1 else \
        _grouped(incidents, now, mention, runbook)
    blocks: list[Block] = payload["blocks"]
    lines = _state_lines(state or MessageState(), boxes=len({i.box_id for i in incidents}))
    if lines:
        blocks.insert(-1, section("\n".join(lines)))
    if buttons and any(i.resolved is None for i in incidents):
        blocks.append(alert_actions(acknowledged=bool(state and state.ack)))
        reported = [i for i in incidents if i.kind == "reported" and i.resolved is None]
        if len(incidents) == 1 and reported:
            blocks.append(_report_actions(reported[0]))
    elif buttons and any(i.kind in ASKS_A_CAUSE for i in incidents):  # resolved: why was it down?
        blocks.append(actions("alert_cause", select("Cause…" if not (state and state.cause) else "Change the cause…",
                                                    ACTION_CAUSE, CAUSE_OPTIONS)))
    return payload


def _report_actions(incident: Incident) -> Block:
    """A driver's report: Confirm it is real (unless confirmed), or Resolve it, choosing the cause."""
    parts: list[Block] = []
    if incident.confirmed is None:
        parts.append(button("Confirm", ACTION_CONFIRM, "confirm"))
    parts.append(select("Resolve…", ACTION_RESOLVE, CAUSE_OPTIONS))
    return actions("report_actions", *parts)


def _state_lines(state: MessageState, *, boxes: int = 1) -> list[str]:
    lines = []
    if state.ack is not None:
        ack = state.ack
        if ack.via is None:
            lines.append(f":eyes: Acknowledged by <@{ack.user}> {slack_date(ack.at)}")
        else:
            verb = "Resolved" if ack.resolved else "Acknowledged"
            lines.append(f":eyes: {verb} in {escape(ack.via)} by {escape(truncate(ack.name or 'someone', 80))} "
                         f"{slack_date(ack.at)}" + (" (the box itself is still being watched)" if ack.resolved else ""))
    if state.snoozed_until is not None:
        who = f" by <@{state.snoozed_by}>" if state.snoozed_by else ""
        them = "it" if boxes == 1 else "them"
        lines.append(f":zzz: Snoozed{who} until {slack_date(state.snoozed_until)}: alerts for {them} are held here")
    if state.muted_until is not None:
        lines.append(f":mute: Muted here until {slack_date(state.muted_until)}")
    if state.cause is not None:
        record = state.cause
        note = f" ({escape(truncate(record.note, 200))})" if record.note else ""
        lines.append(f":label: Cause: {cause_line(record)}{note}, set by <@{record.by}> {slack_date(record.at)}")
    return lines


def alert_actions(*, acknowledged: bool) -> Block:
    ack = button("Acknowledged" if acknowledged else "Acknowledge", ACTION_ACK, "ack",
                 style=None if acknowledged else "primary")
    return actions("alert_actions", ack, select("Snooze…", ACTION_SNOOZE, SNOOZE_LABELS),
                   button("Refresh", ACTION_ALERT_REFRESH, "refresh"))


def _single(incident: Incident, now: datetime, mention: str | None, runbook: str | None = None) -> Payload:
    resolved = incident.resolved is not None
    title = f"{incident.name} {what_plain(incident)}" + (" — resolved" if resolved else "")
    title_line = f"{'✅' if resolved else '🚨'} {title}"
    details = [
        f"*Box* {escape(truncate(incident.name, 150))} · id {code(incident.box_id, 80)}",
        f"*What* {what(incident)}",
        f"*Since* {slack_date(incident.started)} ({age(incident.started, now)})",
        f"*Impact* {impact(incident)}",
    ]
    if incident.kind not in CONNECTOR_KINDS:
        heartbeat = slack_date(incident.last_heartbeat) if incident.last_heartbeat else "never"
        details.insert(3, f"*Last heartbeat* {heartbeat}")
    if resolved:
        down = incident.downtime()
        details.insert(0, f":white_check_mark: *Resolved* {slack_date(incident.resolved)} · "  # type: ignore[arg-type]
                          f"{what_plain(incident)} for {duration(down.total_seconds()) if down else '?'}")
    blocks = [header(title_line), section("\n".join(details))]
    if incident.kind == "reported" and incident.quote:
        blocks.append(quote_block(incident.quote))
    if incident.kind == "reported" and incident.contact and not resolved:
        blocks.append(contact_block(incident.contact))
    blocks.append(_context(incident.box_id, None if resolved else mention, _runbook_link(runbook, incident)))
    verb = "has" if incident.kind == "failed_starts" else "is"
    text = escape(f"{'Resolved: ' if resolved else ''}{incident.name} ({incident.box_id}) {verb} "
                  f"{what_plain(incident)}")
    if mention and not resolved:
        text = f"{mention} {text}"
    return message(text, blocks)


def _grouped(incidents: list[Incident], now: datetime, mention: str | None, runbook: str | None = None) -> Payload:
    open_count = sum(1 for i in incidents if i.resolved is None)
    state = f" ({open_count} still open)" if open_count else " — all resolved"
    boxes = len({i.box_id for i in incidents})
    # A box may have several at once (a driver's report and the silence it confirmed): count both honestly.
    what = f"{len(incidents)} chargeboxes" if boxes == len(incidents) else \
        f"{len(incidents)} problems on {plural(boxes, 'chargebox')}"
    title_line = f"🚨 {what} need attention{state}"
    ordered = sorted(incidents, key=lambda i: (i.resolved is not None, i.name.casefold()))
    lines = [incident_line(i, now, runbook) for i in ordered[:MAX_GROUP_LINES]]
    if len(ordered) > MAX_GROUP_LINES:
        lines.append(f"_…and {len(ordered) - MAX_GROUP_LINES} more; `/chargebox list` shows them all._")
    sections = pack_lines(lines, SECTION_LIMIT)
    blocks = [header(title_line), *(section(s) for s in sections[:45]), _context(None, mention if open_count else None)]
    text = f"{what} need attention ({open_count} still open)"
    if mention and open_count:
        text = f"{mention} {text}"
    return message(text, blocks)


def _context(box_id: str | None, mention: str | None, runbook: str = "") -> Block:
    hint = f"Run `/chargebox {escape(truncate(box_id, 100))}` for the live card" if box_id else \
        "Run `/chargebox <id>` for a live card"
    return context(" · ".join(part for part in (mention, hint, runbook) if part))


def quote_block(words: str) -> Block:
    """A driver's words as plain text: Slack renders no mention, link or formatting in it."""
    return {"type": "section", "text": {"type": "plain_text", "text": truncate(f"“{words}”", 3000), "emoji": False}}


def contact_block(contact: str) -> Block:
    return {"type": "context", "elements": [{"type": "plain_text", "text": truncate(
        f"Contact left by the driver: {contact}", 3000), "emoji": False}]}


def render_driver_report(incident: Incident, problem: str, details: str, contact: str) -> Payload:
    """A further report on an open reported incident, in its alert's thread (mentions nobody)."""
    head = (f":loudspeaker: Another driver report on connector #{incident.connector}: {escape(problem_label(problem))}"
            f" ({reports_line(incident)}).")
    blocks: list[Block] = [section(head)]
    if details:
        blocks.append(quote_block(details))
    if contact:
        blocks.append(contact_block(contact))
    return message(head, blocks)


def render_recovery(incident: Incident) -> Payload:
    """The thread reply when an incident resolves; it pings nobody."""
    down = incident.downtime()
    lasted = duration(down.total_seconds()) if down is not None else "an unknown time"
    where = f" connector #{incident.connector}" if incident.kind in CONNECTOR_KINDS else ""
    back = f"resolved by <@{incident.resolved_by}>" if incident.resolved_by else BACK[incident.kind]
    text = (f":white_check_mark: *{escape(truncate(incident.name, 150))}*{where} is {back} "
            f"({what_plain(incident)} for {lasted}).")
    return message(text, [section(text)])




def render_escalation(incidents: list[Incident], count: int, max_count: int, mention: str | None,
                      channel: str | None = None) -> Payload:
    """A re-notification for an unacknowledged alert: a thread reply, or a DM naming the channel."""
    names = ", ".join(escape(truncate(i.name, 60)) for i in incidents[:5])
    more = f" and {len(incidents) - 5} more" if len(incidents) > 5 else ""
    who = f"{mention} " if mention else ""
    where = f"The alert in <#{channel}> is still unacknowledged" if channel else "Still unacknowledged"
    text = (f":rotating_light: {who}{where} ({count}/{max_count}): {names}{more} "
            f"{'is' if len(incidents) == 1 else 'are'} still down. Press *Acknowledge* if you are on it.")
    return message(text, [section(text)])


def render_thor_down(code_: str, since: datetime, cycles: int) -> Payload:
    fix = ACCESS_PROBLEMS[code_][1] if code_ in ACCESS_PROBLEMS else \
        "Thor's API is failing or not answering; thorbot keeps trying."
    text = (f":satellite_antenna: *Thor API unreachable or misconfigured* (`{escape(truncate(code_, 60))}`) since "
            f"{slack_date(since)}, {cycles} failed polls.\n{fix}\nChargebox states are frozen meanwhile: "
            "no box alerts are sent for boxes thorbot cannot see.")
    return message(f"Thor API unreachable or misconfigured ({escape(code_)})", [section(text)])


def render_thor_up(since: datetime, now: datetime) -> Payload:
    text = (f":white_check_mark: *Thor API recovered*; polling works again after "
            f"{duration((now - since).total_seconds())}.")
    return message("Thor API recovered", [section(text)])
