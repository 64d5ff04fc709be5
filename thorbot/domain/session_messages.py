"""Session messages as Block Kit: the stuck-session notice, the stop button and modal, the stop audit. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from thorbot.domain.blocks import Block, Payload, button, context, message, plain, section
from thorbot.domain.sessions import Session, kwh, running_for
from thorbot.domain.text import code, duration, escape, slack_date, truncate

ACTION_STOP = "session_stop"
STOP_CALLBACK = "session_stop_confirm"
MAX_VALUE = 2000

# Thor's refusals of a stop, in plain words (thor-api notes §3).
REFUSALS = {
    "NotInTransaction": "there is no charge running on that connector any more (it may just have ended)",
    "WrongTransaction": "the charge running there is not the one you asked to stop (a new one may have started)",
    "ConnectorNotValid": "Thor does not know that connector on this box",
    "ChargeboxNotFound": "Thor no longer knows this chargebox",
}


@dataclass(frozen=True)
class SessionView:
    """A running session as the card and the notices show it."""

    session: Session
    started_by: str  # "RFID", "app", "API" or "app or API"
    stoppable: bool  # thorbot knows the id_tag Thor needs (or will find it in the running list)
    offer_stop: bool = False  # someone may stop charges from Slack at all (THORBOT_OPERATORS/ADMINS set)


def stop_value(view: SessionView, name: str = "") -> str:
    """The Stop button's value: which session, and what the modal shows (no id_tag: it stays in Thor and Redis)."""
    session = view.session
    value = json.dumps({"b": session.box_id, "c": session.connector, "t": session.transaction,
                        "s": int(session.started.timestamp()), "e": session.energy_wh, "k": int(view.stoppable),
                        "by": view.started_by, "n": truncate(name, 80)}, separators=(",", ":"))
    return value if len(value) <= MAX_VALUE else ""


def stop_button(view: SessionView, name: str = "") -> Block | None:
    if not view.offer_stop:
        return None
    value = stop_value(view, name)
    return button("Stop charge…", ACTION_STOP, value, style="danger") if value else None


def session_line(view: SessionView, now: datetime) -> str:
    session = view.session
    return (f":zap: {kwh(session.energy_wh)} · running {duration(running_for(session, now).total_seconds())} · "
            f"started by {view.started_by} · transaction {session.transaction}")


def render_stuck(view: SessionView, *, name: str, reason: str, flat_since: datetime, now: datetime) -> Payload:
    """The low-severity notice for a session that stopped drawing energy, or has run for a day."""
    session = view.session
    where = f"*{escape(truncate(name, 150))}* connector #{session.connector}"
    if reason == "too_long":
        what = f"has been charging for {duration(running_for(session, now).total_seconds())}"
    else:
        what = f"has not drawn energy since {slack_date(flat_since)} ({duration((now - flat_since).total_seconds())})"
    text = (f":hourglass: The charge on {where} {what}, at {kwh(session.energy_wh)} "
            f"(started {slack_date(session.started)} by {view.started_by}). Scheduled or paused charging looks the "
            "same, and so does a full battery: check with the driver or the box if that is not expected.")
    button_ = stop_button(view, name)
    blocks = [section(text, accessory=button_) if button_ else section(text),
              context(f"Run `/chargebox {escape(truncate(session.box_id, 100))}` for the live card")]
    plain_text = f"Charge on {name} connector #{session.connector} may be stuck"
    return message(escape(plain_text), blocks)


def read_stop_value(value: str) -> dict[str, Any] | None:
    """The Stop button's value, checked: None when it is not one of ours."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    ok = (isinstance(data, dict) and isinstance(data.get("b"), str) and isinstance(data.get("c"), int)
          and isinstance(data.get("t"), int) and not isinstance(data.get("c"), bool))
    return data if ok else None


def stop_modal(data: dict[str, Any], *, name: str, now: datetime, private: str) -> dict[str, Any]:
    """The confirmation modal: box, connector, energy, duration, and who started it."""
    started = datetime.fromtimestamp(int(data.get("s") or 0), tz=now.tzinfo)
    energy = data.get("e") if isinstance(data.get("e"), int) else None
    facts = (f"*Box* {escape(truncate(name, 150))} · id {code(str(data['b']), 60)}\n"
             f"*Connector* #{data['c']} · transaction {data['t']}\n"
             f"*Energy* {kwh(energy)} (when the button was shown)\n"
             f"*Running for* {duration((now - started).total_seconds())}, "
             f"started by {escape(str(data.get('by', '?')))}")
    return {
        "type": "modal", "callback_id": STOP_CALLBACK, "private_metadata": truncate(private, 3000),
        "title": plain("Stop this charge?", 24), "submit": plain("Stop charge", 24), "close": plain("Cancel", 24),
        "blocks": [section(facts),
                   context("thorbot asks Thor to stop the charge; the driver's car stops charging. Thor confirms "
                           "within a couple of minutes, and the outcome is posted here.")],
    }


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only explains (a refused or repeated stop confirmation replaces itself with this)."""
    return {"type": "modal", "title": plain("Stop charge", 24), "close": plain("Close", 24),
            "blocks": [section(truncate(text, 3000))]}


def render_stop_request(*, by: str, name: str, connector: int, transaction: int, energy_wh: int | None,
                        outcome: str) -> Payload:
    """The audit line: who asked to stop which charge, and what Thor answered."""
    who = f"<@{by}>" if by else "someone"
    text = (f":octagonal_sign: {who} asked Thor to stop the charge on *{escape(truncate(name, 150))}* connector "
            f"#{connector} (transaction {transaction}, {kwh(energy_wh)}): {outcome}")
    return message(text, [section(text)])


def render_stop_outcome(*, name: str, connector: int, confirmed: bool, energy_wh: int | None,
                        waited: timedelta) -> Payload:
    if confirmed:
        text = (f":white_check_mark: Confirmed: the charge on *{escape(truncate(name, 150))}* connector #{connector} "
                f"has stopped ({kwh(energy_wh)}).")
    else:
        text = (f":warning: Not confirmed: {duration(waited.total_seconds())} after thorbot asked Thor to stop it, "
                f"the charge on "
                f"*{escape(truncate(name, 150))}* connector #{connector} still looked running. Check the card, or the "
                "box itself.")
    return message(text, [section(text)])


def refusal(code_: str) -> str:
    return REFUSALS.get(code_, f"Thor refused (`{escape(truncate(code_, 60))}`)")


NOTICE_WORDS = {"occupied": ":parking: {where} is *occupied without a charge*: {detail}. A stuck status, a cable "
                            "left in or a blocked bay looks like this; check the bay or the box.",
                "slow": ":turtle: {where} is *charging slowly*: {detail}. A derated power module or a cooling "
                        "fault looks like this; one slow car does not."}


def render_connector_notice(*, name: str, box_id: str, connector: int, notice: str, detail: str) -> Payload:
    """A quiet notice about one connector: no mention, no buttons."""
    where = f"*{escape(truncate(name, 150))}* connector #{connector}"
    text = NOTICE_WORDS[notice].format(where=where, detail=escape(detail))
    plain_text = f"{name} connector #{connector}: " + ("occupied without a charge" if notice == "occupied" else
                                                       "charging slowly")
    return message(escape(plain_text), [section(text),
                                        context(f"Run `/chargebox {escape(truncate(box_id, 100))}` for the live card")])
