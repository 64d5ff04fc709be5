"""The chargebox status card as Block Kit. Pure: a Chargebox and a clock reading in, a payload out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from thorbot.domain.blocks import Block, Payload, actions, button, context, divider, fields, header, message, section
from thorbot.domain.models import Chargebox, Connector
from thorbot.domain.session_messages import SessionView, session_line, stop_button
from thorbot.domain.status import CONNECTOR_LOOKS, icon
from thorbot.domain.text import (
    age,
    code,
    connector_type_name,
    escape,
    format_name,
    kilowatts,
    load_zone,
    pack_lines,
    power_type_name,
    slack_date,
    truncate,
)
from thorbot.domain.usage import GRADE_ICON, Health

SECTION_TEXT_LIMIT = 3000
MAX_CONNECTOR_SECTIONS = 20
MAX_SESSION_SECTIONS = 10
ACTION_SHARE = "card_share"
ACTION_REFRESH = "card_refresh"


def render_card(
    box: Chargebox,
    now: datetime,
    *,
    stale_after: timedelta = timedelta(seconds=900),
    buttons: bool = True,
    note: str | None = None,
    sessions: Mapping[int, SessionView] | None = None,
    rates: Mapping[int, tuple[int, int]] | None = None,
    health: Mapping[int, Health] | None = None,
) -> Payload:
    """Render the status card; `note` is an extra mrkdwn line (already escaped) under the header.

    `sessions` (by connector) adds each running charge under its connector, with a Stop button when
    `buttons`; `rates` (by connector: successful, all) adds the 7-day success rate; `health` each
    connector's grade and why (domain/usage.py).
    """
    blocks: list[Block] = [header(f"🔌 {box.name}"), section(_status_line(box, now, stale_after))]
    if note:
        blocks.append(section(note))
    blocks.append(fields(*_facts(box, now)))
    blocks.append(divider())
    blocks.extend(_connector_sections(box, sessions or {}, rates or {}, health or {}, now, buttons=buttons))
    if box.unreadable:
        blocks.append(section(unreadable_note(box)))
    blocks.append(context(_legend(now)))
    if buttons:
        blocks.append(card_actions(box.id))
    return message(card_fallback(box, now), blocks)


def unreadable_note(box: Chargebox) -> str:
    names = ", ".join(escape(n) for n in box.unreadable[:12]) + (" …" if len(box.unreadable) > 12 else "")
    return (f":warning: Thor sent *unreadable data* for: {names}. Those are shown as unknown; "
            "the rest of the card is as Thor reports it.")


def card_actions(box_id: str) -> Block:
    return actions("card_actions", button("Post in channel", ACTION_SHARE, box_id),
                   button("Refresh", ACTION_REFRESH, box_id))


def card_fallback(box: Chargebox, now: datetime) -> str:
    state = {True: "connected", False: "DISCONNECTED", None: "connection unknown"}[box.connected]
    busy = len(box.occupied)
    return escape(
        f"{box.name} ({box.id}): {state}, last heartbeat {age(box.last_heartbeat, now)}; "
        f"{len(box.connectors)} connectors, {busy} in use, {len(box.reserved)} reserved"
    )


def box_state(box: Chargebox, now: datetime, stale_after: timedelta) -> str:
    """The box's state in the one vocabulary of domain/status.py."""
    if box.active is False:
        return "inactive"
    if box.connected is False:
        return "disconnected"
    if is_silent(box, now, stale_after):
        return "silent"
    return "online" if box.connected else "unknown"


def is_silent(box: Chargebox, now: datetime, stale_after: timedelta) -> bool:
    return box.last_heartbeat is not None and now - box.last_heartbeat > stale_after


def _status_line(box: Chargebox, now: datetime, stale_after: timedelta) -> str:
    if box.connected is False:
        state = "*Disconnected*"
    elif box.connected and is_silent(box, now, stale_after):
        state = "*Connected, but silent* (no recent heartbeat)"
    elif box.connected:
        state = "*Connected*"
    else:
        state = "*Connection unknown*"
    if box.last_heartbeat is None:
        heartbeat = "no heartbeat recorded"
    else:
        heartbeat = f"last heartbeat {age(box.last_heartbeat, now)} ({slack_date(box.last_heartbeat)})"
    inactive = "  ·  :no_entry: flagged *inactive* in Thor" if box.active is False else ""
    return f"{icon(box_state(box, now, stale_after))} {state}  ·  {heartbeat}{inactive}\nId {code(box.id, 120)}"


def _yes_no(value: bool | None) -> str:
    return {True: "Yes", False: "No", None: "n/a"}[value]


def _facts(box: Chargebox, now: datetime) -> list[tuple[str, str]]:
    ocpp = " · ".join(escape(v) for v in (box.ocpp_version, box.ocpp_msg) if v) or "n/a"
    busy = f"{len(box.connectors)} · {len(box.occupied)} in use · {len(box.reserved)} reserved"
    return [
        ("Active", _yes_no(box.active)),
        ("Public", _yes_no(box.public)),
        ("Reservable", _yes_no(box.reservable)),
        ("OCPP", ocpp),
        ("Vehicle", escape(box.vehicle) if box.vehicle else "n/a"),
        ("Time zone", _local_time(box.timezone, now)),
        ("Location", _map_link(box)),
        ("Connectors", busy),
    ]


def _local_time(tz_name: str | None, now: datetime) -> str:
    if not tz_name:
        return "n/a"
    zone = load_zone(tz_name)
    if zone is None:
        return escape(truncate(tz_name, 100))
    local = now.astimezone(zone)
    return f"{escape(tz_name)}\nlocal time {local:%H:%M} ({local:%a})"


def _map_link(box: Chargebox) -> str:
    if box.coordinates is None:
        return "n/a"
    lat, lon = box.coordinates.latitude, box.coordinates.longitude
    url = f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"
    return f"<{url}|{lat:.5f}, {lon:.5f}>"


def connector_line(connector: Connector, box: Chargebox, rate: tuple[int, int] | None = None) -> str:
    connector_state = "occupied" if connector.number in box.occupied else \
        "reserved" if connector.number in box.reserved else "free"
    state = f"{CONNECTOR_LOOKS[connector_state].icon} {CONNECTOR_LOOKS[connector_state].label}"
    parts = [escape(connector_type_name(connector.type))]
    fmt = format_name(connector.format)
    if fmt:
        parts.append(escape(fmt))
    parts.append(kilowatts(connector.power_w))
    parts.append(f"{connector.max_amperage} A" if connector.max_amperage else "max A n/a")
    parts.append(escape(power_type_name(connector.power_type)))
    if connector.terminal_id:
        parts.append(f"Nayax terminal {code(connector.terminal_id, 40)}")
    if rate is not None and rate[1]:
        parts.append(f"success 7d: {success_rate(*rate)}")
    return f"*#{connector.number}*  {' · '.join(parts)}  —  {state}"


def success_rate(ok: int, total: int) -> str:
    """ "82 % (41/50)": successful sessions out of all attempts."""
    return f"{round(100 * ok / total)} % ({ok}/{total})" if total else "n/a"


def health_line(health: Health) -> str:
    """ "🔴 failing: no start for 9 h; usually 6 by now" (the reason is ours, never Thor's text)."""
    return f"{GRADE_ICON[health.grade]} {health.grade}: {escape(truncate(health.reason, 300))}"


def _connector_sections(box: Chargebox, sessions: Mapping[int, SessionView], rates: Mapping[int, tuple[int, int]],
                        health: Mapping[int, Health], now: datetime, *, buttons: bool) -> list[Block]:
    """Connectors packed into few sections; one with a running session gets its own, with a Stop button."""
    if not box.connectors:
        return [section("_Thor lists no connectors for this box._")]
    blocks: list[Block] = []
    pending: list[str] = []
    for connector in box.connectors:
        line = connector_line(connector, box, rates.get(connector.number))
        if connector.number in health:
            line += f"\n      {health_line(health[connector.number])}"
        view = sessions.get(connector.number)
        if view is None or len(blocks) >= MAX_SESSION_SECTIONS:
            pending.append(line)
            continue
        blocks.extend(section(s) for s in pack_lines(pending, SECTION_TEXT_LIMIT))
        pending = []
        stop = stop_button(view, box.name) if buttons else None
        text = f"{line}\n{session_line(view, now)}"
        blocks.append(section(text, accessory=stop) if stop else section(text))
    blocks.extend(section(s) for s in pack_lines(pending, SECTION_TEXT_LIMIT))
    if len(blocks) > MAX_CONNECTOR_SECTIONS:
        hidden = sum(b["text"]["text"].count("\n") + 1 for b in blocks[MAX_CONNECTOR_SECTIONS:])
        blocks = blocks[:MAX_CONNECTOR_SECTIONS]
        last = blocks[-1]["text"]["text"]
        blocks[-1] = section(truncate(last, SECTION_TEXT_LIMIT - 60) + f"\n_…and {hidden} more lines_")
    return blocks


def _legend(now: datetime) -> str:
    legend = "  ".join(f"{CONNECTOR_LOOKS[s].icon} {s}" for s in ("free", "occupied", "reserved"))
    return f"Checked {slack_date(now, '{time_secs}')} · {legend}"
