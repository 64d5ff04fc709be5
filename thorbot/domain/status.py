"""One vocabulary for how a box is doing: the state names, their icons and labels, in one table. Pure.

The incident kinds (offline, silent, gone, inactive), a record's status and a live box's condition
all map onto these states, so a red circle means the same thing on a card, in `list`, on the Home
tab and in an alert.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    icon: str
    label: str
    rank: int  # problems first


LOOKS: dict[str, Look] = {
    "offline": Look(":red_circle:", "offline", 0),
    "disconnected": Look(":red_circle:", "disconnected", 1),
    "silent": Look(":large_yellow_circle:", "silent", 2),
    "failed_starts": Look(":x:", "failed starts", 2),
    "quiet": Look(":ghost:", "not charging anyone", 2),
    "reported": Look(":loudspeaker:", "reported by drivers", 2),
    "suspect": Look(":large_orange_circle:", "just dropped", 3),
    "recovering": Look(":large_green_circle:", "recovering", 4),
    "gone": Look(":no_entry:", "deleted in Thor", 5),
    "inactive": Look(":white_circle:", "inactive", 6),
    "unknown": Look(":black_circle:", "unknown", 7),
    "online": Look(":large_green_circle:", "online", 8),
}
UNKNOWN = LOOKS["unknown"]

# A connector's state on the card.
CONNECTOR_LOOKS: dict[str, Look] = {
    "occupied": Look(":large_orange_circle:", "occupied (charging session running)", 0),
    "reserved": Look(":large_blue_circle:", "reserved", 1),
    "free": Look(":white_circle:", "free", 2),
}


def look(state: str) -> Look:
    return LOOKS.get(state, UNKNOWN)


def icon(state: str) -> str:
    return look(state).icon


def rank(state: str) -> int:
    return look(state).rank
