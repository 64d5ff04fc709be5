"""The chargebox status card as Block Kit. Pure: a Chargebox and a clock reading in, a payload out."""

from __future__ import annotations

from datetime import datetime, timedelta

from thorbot.domain.blocks import Block, Payload, actions, button, context, divider, fields, header, message, section
from thorbot.domain.models import Chargebox, Connector
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

SECTION_TEXT_LIMIT = 3000
MAX_CONNECTOR_SECTIONS = 20
ACTION_SHARE = "card_share"
ACTION_REFRESH = "card_refresh"


def render_card(
    box: Chargebox,
    now: datetime,
    *,
    stale_after: timedelta = timedelta(seconds=900),
    buttons: bool = True,
    note: str | None = None,
) -> Payload:
    """Render the status card; `note` is an extra mrkdwn line (already escaped) under the header."""
    blocks: list[Block] = [header(f"🔌 {box.name}"), section(_status_line(box, now, stale_after))]
    if note:
        blocks.append(section(note))
    blocks.append(fields(*_facts(box, now)))
    blocks.append(divider())
    blocks.extend(_connector_sections(box))
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


def connector_line(connector: Connector, box: Chargebox) -> str:
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
    return f"*#{connector.number}*  {' · '.join(parts)}  —  {state}"


def _connector_sections(box: Chargebox) -> list[Block]:
    if not box.connectors:
        return [section("_Thor lists no connectors for this box._")]
    sections = pack_lines([connector_line(c, box) for c in box.connectors], SECTION_TEXT_LIMIT)
    if len(sections) > MAX_CONNECTOR_SECTIONS:
        hidden = sum(s.count("\n") + 1 for s in sections[MAX_CONNECTOR_SECTIONS:])
        sections = sections[:MAX_CONNECTOR_SECTIONS]
        sections[-1] = truncate(sections[-1], SECTION_TEXT_LIMIT - 60) + f"\n_…and {hidden} more connectors_"
    return [section(s) for s in sections]


def _legend(now: datetime) -> str:
    legend = "  ".join(f"{CONNECTOR_LOOKS[s].icon} {s}" for s in ("free", "occupied", "reserved"))
    return f"Checked {slack_date(now, '{time_secs}')} · {legend}"
