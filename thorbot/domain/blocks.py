"""Small Block Kit builders: every block thorbot sends is made here, within Slack's limits. Pure.

Limits (slack-platform.md §3): section text ≤ 3000, a field ≤ 2000, header ≤ 150 (plain text),
context ≤ 10 elements, actions ≤ 25 elements, button text ≤ 75 and value ≤ 2000, ≤ 50 blocks a
message. Text is truncated here, so a long box name can never make Slack refuse a message.
"""

from __future__ import annotations

from typing import Any

from thorbot.domain.text import truncate

Block = dict[str, Any]
Payload = dict[str, Any]
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_BLOCKS = 50


def mrkdwn(text: str, limit: int = SECTION_LIMIT) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, 150)}


def section(text: str, *, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def fields(*pairs: tuple[str, str]) -> Block:
    """A two-column section of `*label*\\nvalue` fields (at most 10)."""
    return {"type": "section", "fields": [mrkdwn(f"*{label}*\n{value}", FIELD_LIMIT) for label, value in pairs[:10]]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    element: Block = {"type": "button", "action_id": action_id, "value": truncate(value, 2000),
                      "text": plain(text, 75)}
    if style is not None:
        element["style"] = style
    return element


def select(placeholder: str, action_id: str, options: dict[str, str]) -> Block:
    return {"type": "static_select", "action_id": action_id, "placeholder": plain(placeholder, 150),
            "options": [{"text": plain(label, 75), "value": value} for value, label in options.items()]}


def actions(block_id: str, *elements: Block) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements[:25])}


def message(text: str, blocks: list[Block], *, response_type: str | None = None) -> Payload:
    """A message payload: the fallback `text` (notifications, screen readers) and at most 50 blocks."""
    payload: Payload = {"text": truncate(text, 3000), "blocks": blocks[:MAX_BLOCKS]}
    if response_type is not None:
        payload["response_type"] = response_type
    return payload
