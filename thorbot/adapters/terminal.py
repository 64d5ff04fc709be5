"""Render Block Kit payloads readably in a terminal (for `thorbot status` and `thorbot demo`)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.markup import escape as rich_escape
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

EMOJI = {
    ":large_green_circle:": "🟢", ":red_circle:": "🔴", ":large_yellow_circle:": "🟡", ":white_circle:": "⚪",
    ":black_circle:": "⚫", ":large_orange_circle:": "🟠", ":large_blue_circle:": "🔵", ":warning:": "⚠️",
    ":mag:": "🔍", ":information_source:": "ℹ️", ":hourglass_flowing_sand:": "⏳", ":no_entry:": "⛔",
    ":rotating_light:": "🚨", ":white_check_mark:": "✅", ":zzz:": "💤", ":mute:": "🔇", ":bell:": "🔔",
    ":satellite_antenna:": "📡", ":electric_plug:": "🔌", ":busts_in_silhouette:": "👥", ":eyes:": "👀",
    ":no_bell:": "🔕", ":loud_sound:": "🔊", ":lock:": "🔒", ":x:": "❌", ":hourglass:": "⌛",
    ":octagonal_sign:": "🛑", ":bar_chart:": "📊", ":calendar:": "📅", ":chart_with_upwards_trend:": "📈",
    ":large_green_square:": "🟩", ":large_yellow_square:": "🟨", ":large_red_square:": "🟥",
    ":white_large_square:": "⬜", ":zap:": "⚡", ":wrench:": "🔧", ":page_facing_up:": "📄", ":parking:": "🅿️",
    ":turtle:": "🐢", ":ghost:": "👻", ":pager:": "📟", ":label:": "🏷️", ":clock9:": "🕘", ":loudspeaker:": "📢",
    ":gear:": "⚙️", ":heavy_check_mark:": "✔️", ":book:": "📖",
}
NO_NAMES: Mapping[str, str] = {}
# Control characters (ESC sequences could clear the screen or fake output) and bidi overrides.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_DATE = re.compile(r"<!date\^(\d+)\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_MENTION = re.compile(r"<([@#!])([^|>]+)(?:\|([^>]+))?>")


def terminal_safe(text: str) -> str:
    """Text from Thor or Slack with every control character removed, fit to print in a terminal."""
    return _UNSAFE.sub("", text)


def shown(text: str) -> str:
    """The one way outside text (Thor's names and ids, what people typed) is printed in a terminal: control
    characters removed, and Rich markup in it made literal: a box named `[/]` would crash Rich, and one
    named `[link=…]` would print a terminal hyperlink."""
    return rich_escape(terminal_safe(text))


def glyphs(text: str) -> str:
    """Slack's :emoji: codes as the characters a terminal shows."""
    for code, glyph in EMOJI.items():
        text = text.replace(code, glyph)
    return text


def local_time(moment: datetime, fmt: str = "%H:%M:%S") -> str:
    """A time in this machine's zone, labelled with it: the one zone every terminal view uses."""
    local = moment.astimezone()
    return f"{local.strftime(fmt)} {local.tzname() or ''}".rstrip()


def _mention(match: re.Match[str], names: Mapping[str, str]) -> str:
    """A mention as a Slack client shows it: a name, not an id."""
    sigil, target, label = match.group(1), match.group(2), match.group(3)
    if sigil == "!":
        kind, _, ident = target.partition("^")
        if kind == "subteam":
            return label if label and label.startswith("@") else "@" + (label or names.get(ident, "group"))
        return "@" + (label or kind)
    if label:
        return sigil + label.lstrip("@#")
    return sigil + names.get(target, target)


def mrkdwn_to_plain(text: str, names: Mapping[str, str] = NO_NAMES) -> str:
    """Slack mrkdwn to plain, terminal-safe text: dates in local time (labelled), links as labels, mentions
    as names (from `names`: id → name), entities decoded."""
    text = _DATE.sub(lambda m: local_time(datetime.fromtimestamp(int(m.group(1)), UTC), "%b %d %H:%M"), text)
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _MENTION.sub(lambda m: _mention(m, names), text)
    return terminal_safe(html.unescape(glyphs(text)))


def _styled(text: str, names: Mapping[str, str]) -> Text:
    plain = mrkdwn_to_plain(text, names)
    out = Text()
    for i, part in enumerate(re.split(r"\*([^*\n]+)\*", plain)):
        out.append(part, style="bold" if i % 2 else "")
    return out


def _block(block: dict[str, Any], names: Mapping[str, str]) -> list[Any]:
    kind = block.get("type")
    if kind == "header":
        return [Text(mrkdwn_to_plain(block["text"]["text"], names), style="bold cyan")]
    if kind == "divider":
        return [Rule(style="dim")]
    if kind == "context":
        return [Text(mrkdwn_to_plain("  ".join(e.get("text", "") for e in block.get("elements", [])), names),
                     style="dim")]
    if kind == "actions":
        labels = [(e.get("text") or e.get("placeholder") or {}).get("text", "") for e in block.get("elements", [])]
        return [Text("  ".join(f"[{label}]" for label in labels), style="dim magenta")]
    rows: list[Any] = []
    if kind == "section":
        if block.get("text"):
            rows.append(_styled(block["text"]["text"], names))
        fields = [mrkdwn_to_plain(f.get("text", ""), names).replace("\n", ": ", 1) for f in block.get("fields", [])]
        for left, right in zip(fields[::2], fields[1::2] + [""], strict=False):
            rows.append(_styled(f"{left:<42} {right}".replace("\n", " "), names))
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            rows[-1:] = [rows[-1] + Text(f"  [{accessory['text']['text']}]", style="dim magenta")] if rows else []
    return rows


def render_payload(payload: dict[str, Any], *, title: str | None = None, style: str = "white",
                   names: Mapping[str, str] = NO_NAMES) -> Panel:
    blocks = payload.get("blocks") or []
    body: list[Any] = []
    for block in blocks:
        body.extend(_block(block, names))
    if not body:
        body = [_styled(str(payload.get("text", "")), names)]
    return Panel(Group(*body), title=title, border_style=style, expand=False)
