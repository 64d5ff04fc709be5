"""Parse `/chargebox` text into a command. Pure; raises UsageError with a helpful message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from thorbot.domain.oncall import OnCall, parse_oncall
from thorbot.domain.text import clean_input, code, parse_duration
from thorbot.errors import UsageError

MAX_QUERY_LEN = 200
MAX_TARGETS = 50


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ShowCard:
    query: str


@dataclass(frozen=True)
class Subscribe:
    queries: tuple[str, ...]
    all_boxes: bool = False


@dataclass(frozen=True)
class Unsubscribe:
    queries: tuple[str, ...]
    all_boxes: bool = False


@dataclass(frozen=True)
class ListSubscriptions:
    pass


@dataclass(frozen=True)
class ShowOnCall:
    pass


@dataclass(frozen=True)
class SetOnCall:
    target: OnCall


@dataclass(frozen=True)
class ClearOnCall:
    pass


@dataclass(frozen=True)
class Mute:
    queries: tuple[str, ...]
    duration: timedelta
    all_boxes: bool = False


@dataclass(frozen=True)
class Unmute:
    queries: tuple[str, ...]
    all_boxes: bool = False


@dataclass(frozen=True)
class ShowReport:
    query: str | None  # None: the whole fleet
    period: str = "30d"


@dataclass(frozen=True)
class SetDigest:
    words: tuple[str, ...]  # empty: show the channel's digest


SlashCommand = (Help | ShowCard | Subscribe | Unsubscribe | ListSubscriptions | ShowOnCall | SetOnCall | ClearOnCall
                | Mute | Unmute | ShowReport | SetDigest)
CHANGES_SETTINGS = (Subscribe, Unsubscribe, SetOnCall, ClearOnCall, Mute, Unmute, SetDigest)
_PERIOD = re.compile(r"^(\d{1,3}d|\d{4}-\d{2}|12m|1y|year|nevi)$", re.IGNORECASE)
MAX_MUTE = timedelta(days=30)
MIN_MUTE = timedelta(minutes=1)

_HELP_WORDS = {"help", "-h", "--help", "?", "usage"}
_LIST_WORDS = {"list", "subscriptions", "subs"}


def parse_command(raw_text: str) -> SlashCommand:
    """Turn the text after `/chargebox` into a Command."""
    text = clean_input(raw_text)
    if not text:
        return Help()
    verb, _, rest = text.partition(" ")
    rest = rest.strip()
    lowered = verb.lower()
    if lowered in _HELP_WORDS:
        return Help()
    if lowered in _LIST_WORDS and not rest:
        return ListSubscriptions()
    if lowered in ("subscribe", "sub", "watch"):
        return Subscribe(*_targets(rest, verb="subscribe"))
    if lowered in ("unsubscribe", "unsub", "unwatch"):
        return Unsubscribe(*_targets(rest, verb="unsubscribe"))
    if lowered == "oncall":
        return _oncall(rest)
    if lowered == "mute":
        return _mute(rest)
    if lowered == "unmute":
        return Unmute(*_targets(rest, verb="unmute"))
    if lowered in ("report", "uptime"):
        return _report(rest)
    if lowered == "digest":
        return SetDigest(tuple(rest.split()))
    if lowered == "status" and rest:
        text = rest
    return ShowCard(_query(text))


def _oncall(rest: str) -> SlashCommand:
    if not rest:
        return ShowOnCall()
    if rest.lower() in ("clear", "none", "off", "remove"):
        return ClearOnCall()
    target = parse_oncall(rest)
    if target is None:
        raise UsageError(f"{code(rest)} is not a person or a user group. Use `/chargebox oncall @person`, "
                         "`/chargebox oncall @group` or `/chargebox oncall clear`.")
    return SetOnCall(target)


def _mute(rest: str) -> Mute:
    head, _, last = rest.rpartition(" ")
    duration = parse_duration(last) if head else None
    if duration is None:
        raise UsageError("Say for how long: `/chargebox mute <id|name|all> <duration>`, in minutes, hours or days, "
                         "e.g. `30m`, `2h`, `1d`, `1d12h` (up to 30 days).")
    if duration < MIN_MUTE or duration > MAX_MUTE:
        raise UsageError("A mute lasts from one minute to 30 days.")
    queries, all_boxes = _targets(head, verb="mute")
    return Mute(queries, duration, all_boxes)


def _report(rest: str) -> ShowReport:
    head, _, last = rest.rpartition(" ")
    if _PERIOD.match(last):
        scope, period = head.strip(), last.lower()
    elif rest and re.match(r"^\d+[dmy]$|^\d{4}-\d+$", last, re.IGNORECASE):
        raise UsageError(f"{code(last)} is not a period I know: use `7d`, `30d` (up to `400d`), a month like "
                         "`2026-10`, or `12m` for the past twelve months.")
    else:
        scope, period = rest, "30d"
    scope = scope.strip().strip("\"“”")
    return ShowReport(None if scope.lower() in ("", "all", "fleet") else _query(scope), period)


def _query(text: str) -> str:
    if len(text) > MAX_QUERY_LEN:
        raise UsageError(
            f"That is {len(text)} characters long; chargebox ids and names are at most {MAX_QUERY_LEN}. "
            "Try `/chargebox <id>` or part of the box's name."
        )
    return text


def _targets(rest: str, *, verb: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        raise UsageError(f"Tell me which chargeboxes: `/chargebox {verb} <id or name> [more…]` or `all`.")
    if rest.lower() == "all":
        return (), True
    # Several ids may be given separated by spaces or commas; a name with spaces can be quoted.
    items = _split(rest)
    if len(items) > MAX_TARGETS:
        raise UsageError(f"At most {MAX_TARGETS} chargeboxes per command; use `all` to watch the whole fleet.")
    return tuple(_query(i) for i in items), False


def _split(text: str) -> list[str]:
    items: list[str] = []
    current = ""
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                current += ch
        elif ch in "\"“”":
            quote = "”" if ch == "“" else ch
        elif ch in " ,":
            if current:
                items.append(current)
            current = ""
        else:
            current += ch
    if quote:
        raise UsageError(f"Unclosed quote in {code(text)}.")
    if current:
        items.append(current)
    return items
