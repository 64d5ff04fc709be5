"""Render Block Kit payloads readably in a terminal (for `thorbot status` and `thorbot demo`)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

EMOJI = {
    ":large_green_circle:": "🟢", ":red_circle:": "🔴", ":large_yellow_circle:": "🟡", ":white_circle:": "⚪",
    ":black_circle:": "⚫", ":large_orange_circle:": "🟠", ":large_blue_circle:": "🔵", ":warning:": "⚠️",
    ":mag:": "🔍", ":information_source:": "ℹ️", ":hourglass_flowing_sand:": "⏳", ":no_entry:": "⛔",
    ":rotating_light:": "🚨", ":white_check_mark:": "✅", ":zzz:": "💤", ":mute:": "🔇", ":bell:": "🔔",
    ":satellite_antenna:": "📡", ":electric_plug:": "🔌", ":busts_in_silhouette:": "👥", ":eyes:": "👀",
    ":no_bell:": "🔕", ":loud_sound:": "🔊", ":lock:": "🔒",
}
# Control characters (ESC sequences could clear the screen or fake output) and bidi overrides.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_DATE = re.compile(r"<!date\^(\d+)\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_MENTION = re.compile(r"<([@#!])([^|>]+)(?:\|([^>]+))?>")


def terminal_safe(text: str) -> str:
    """Text from Thor or Slack with every control character removed, fit to print in a terminal."""
    return _UNSAFE.sub("", text)


def mrkdwn_to_plain(text: str) -> str:
    """Slack mrkdwn to plain, terminal-safe text: dates in local time, links as labels, entities decoded."""
    text = _DATE.sub(lambda m: datetime.fromtimestamp(int(m.group(1)), UTC).astimezone().strftime("%b %d %H:%M:%S"),
                     text)
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _MENTION.sub(lambda m: (m.group(1) if m.group(1) != "!" else "@") + (m.group(3) or m.group(2)), text)
    for code, glyph in EMOJI.items():
        text = text.replace(code, glyph)
    return terminal_safe(html.unescape(text))


def _styled(text: str) -> Text:
    plain = mrkdwn_to_plain(text)
    out = Text()
    for i, part in enumerate(re.split(r"\*([^*\n]+)\*", plain)):
        out.append(part, style="bold" if i % 2 else "")
    return out


def _block(block: dict[str, Any]) -> list[Any]:
    kind = block.get("type")
    if kind == "header":
        return [Text(mrkdwn_to_plain(block["text"]["text"]), style="bold cyan")]
    if kind == "divider":
        return [Rule(style="dim")]
    if kind == "context":
        return [Text(mrkdwn_to_plain("  ".join(e.get("text", "") for e in block.get("elements", []))), style="dim")]
    if kind == "actions":
        labels = [(e.get("text") or e.get("placeholder") or {}).get("text", "") for e in block.get("elements", [])]
        return [Text("  ".join(f"[{label}]" for label in labels), style="dim magenta")]
    rows: list[Any] = []
    if kind == "section":
        if block.get("text"):
            rows.append(_styled(block["text"]["text"]))
        fields = [mrkdwn_to_plain(f.get("text", "")).replace("\n", ": ", 1) for f in block.get("fields", [])]
        for left, right in zip(fields[::2], fields[1::2] + [""], strict=False):
            rows.append(_styled(f"{left:<42} {right}".replace("\n", " ")))
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            rows[-1:] = [rows[-1] + Text(f"  [{accessory['text']['text']}]", style="dim magenta")] if rows else []
    return rows


def render_payload(payload: dict[str, Any], *, title: str | None = None, style: str = "white") -> Panel:
    blocks = payload.get("blocks") or []
    body: list[Any] = []
    for block in blocks:
        body.extend(_block(block))
    if not body:
        body = [_styled(str(payload.get("text", "")))]
    return Panel(Group(*body), title=title, border_style=style, expand=False)
