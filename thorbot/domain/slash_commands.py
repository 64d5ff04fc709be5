"""Parse `/chargebox` text into a command. Pure; raises UsageError with a helpful message."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from thorbot.domain.oncall import OnCall, not_a_mention, parse_oncall
from thorbot.domain.text import clean_input, code
from thorbot.domain.uptime import BAD_PERIOD, period_shape
from thorbot.domain.when import read_duration
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
    phrase: str | None = None  # several unquoted words: tried as one name before word by word


@dataclass(frozen=True)
class Unsubscribe:
    queries: tuple[str, ...]
    all_boxes: bool = False
    phrase: str | None = None  # several unquoted words: tried as one name before word by word


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
    phrase: str | None = None


@dataclass(frozen=True)
class Unmute:
    queries: tuple[str, ...]
    all_boxes: bool = False
    phrase: str | None = None  # several unquoted words: tried as one name before word by word


@dataclass(frozen=True)
class ShowReport:
    query: str | None  # None: the whole fleet
    period: str = "30d"


@dataclass(frozen=True)
class SetDigest:
    words: tuple[str, ...]  # empty: show the channel's digest


@dataclass(frozen=True)
class ShowRotation:
    pass


@dataclass(frozen=True)
class SetRotation:
    words: tuple[str, ...]  # `@a @b weekly mon 09:00 [zone]` (domain/rotation.py reads them)


@dataclass(frozen=True)
class SetGroupRotation(SetRotation):
    """A rotation with `group @g`: it rewrites a Slack user group's members, so it is a way in of its own (it needs
    a named admin: serve/registry.py)."""


@dataclass(frozen=True)
class OverrideRotation:
    user: str
    until: tuple[str, ...]


@dataclass(frozen=True)
class RotationOff:
    pass


@dataclass(frozen=True)
class Maintenance:
    """`maintenance <id|name> <start> <duration> [note]`, `maintenance list`, `maintenance cancel <window id>`."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class SetCause:
    """`cause <id|name> <YYYY-MM-DD HH:MM> <cause> [note]`: the cause of a past outage, given (or changed) later."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class ShowHours:
    """`hours` (every box with hours of its own, and the fleet's) or `hours <id|name>`."""

    query: str | None = None


@dataclass(frozen=True)
class SetHours:
    """`hours <id|name> mon-fri 07:00-22:00, sat 08:00-14:00` (or `24/7`); `hours <id|name> default`."""

    query: str
    hours: str  # "default": the fleet's (THORBOT_HOURS_OF_OPERATION) again


@dataclass(frozen=True)
class ConnectPager:
    """`/chargebox pager`: shows the channel's pager; for an admin, opens the form to connect one."""


@dataclass(frozen=True)
class PagerOff:
    pass


@dataclass(frozen=True)
class Stickers:
    """`stickers <id|name> [letter]`: the box's QR stickers (a PDF, one label per connector) uploaded to the channel,
    on A4 paper or, with `letter`, US Letter."""

    query: str
    paper: str = "a4"


SlashCommand = (Help | ShowCard | Subscribe | Unsubscribe | ListSubscriptions | ShowOnCall | SetOnCall | ClearOnCall
                | Mute | Unmute | ShowReport | SetDigest | ShowRotation | SetRotation | SetGroupRotation
                | OverrideRotation | RotationOff | ConnectPager | PagerOff | Maintenance | SetCause | ShowHours
                | SetHours | Stickers)
CHANGES_SETTINGS = (Subscribe, Unsubscribe, SetOnCall, ClearOnCall, Mute, Unmute, SetDigest, SetRotation,
                    SetGroupRotation, OverrideRotation, RotationOff, PagerOff, Maintenance, SetCause, SetHours)
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
    if lowered in _OPERATIONS:
        return _OPERATIONS[lowered](rest)
    return _card(text, verb, rest)


def _operations() -> dict[str, Callable[[str], SlashCommand]]:
    return {"digest": lambda rest: SetDigest(tuple(rest.split())), "rotation": _rotation, "pager": _pager,
            "maintenance": lambda rest: Maintenance(tuple(rest.split())), "cause": lambda rest: SetCause(
                tuple(rest.split())), "hours": _hours, "stickers": _stickers, "sticker": _stickers}


def _stickers(rest: str) -> SlashCommand:
    if not rest:
        raise UsageError("Say which box: `/chargebox stickers <id|name>` uploads its stickers (a PDF to print). "
                         "For the whole fleet, run `thorbot stickers all` where thorbot runs.")
    if rest.lower() in ("all", "fleet"):
        raise UsageError("`/chargebox stickers` makes one box's stickers; for the whole fleet's, run "
                         "`thorbot stickers all` where thorbot runs (a PDF of every connector).")
    paper = "a4"
    words = rest.split()
    if len(words) > 1 and words[-1].lower() in ("letter", "a4"):
        rest, paper = " ".join(words[:-1]), words[-1].lower()
    if rest[:1] in "\"“" and rest[-1:] in "\"”" and len(rest) > 2:
        rest = rest[1:-1]
    return Stickers(_query(rest), paper)


_HOURS_START = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$|^(24/7|always|default)$",
                          re.IGNORECASE)


_HOURS_NO_DAY = re.compile(r"^[0-9]{1,2}:[0-9]{2}-[0-9]{1,2}:[0-9]{2},?$", re.ASCII)


def _hours_without_days(clock: str) -> str:
    """How to write `clock` (`07:00-22:00`) with its days; hours past midnight are two parts, one each side."""
    opens, _, closes = clock.partition("-")
    if opens.zfill(5) > closes.zfill(5):
        return (f"{code(clock, 20)} needs its days, and hours past midnight are two parts: "
                f"`mon-sun 00:00-{closes.zfill(5)}, mon-sun {opens.zfill(5)}-24:00`.")
    return f"{code(clock, 20)} needs its days: `mon-sun {clock}`, or `mon-fri {clock}, sat 08:00-14:00`."


def _hours(rest: str) -> SlashCommand:
    """The box is the words before the hours (which start with a day, `24/7` or `default`)."""
    words = rest.split()
    start = next((i for i in range(1, len(words)) if _HOURS_START.match(words[i])), None)
    if start is None:
        clock = next((w.rstrip(",") for w in words if _HOURS_NO_DAY.match(w)), None)
        if clock is not None:  # hours without their days: the words are not a box's name
            raise UsageError(_hours_without_days(clock))
        return ShowHours(_query(" ".join(words)) if words else None)
    return SetHours(_query(" ".join(words[:start])), " ".join(words[start:]))


def _rotation(rest: str) -> SlashCommand:
    words = rest.split()
    if not words:
        return ShowRotation()
    if words[0].lower() in ("off", "clear", "none", "remove") and len(words) == 1:
        return RotationOff()
    if words[0].lower() == "override":
        if len(words) > 1 and (plain := not_a_mention(words[1])) is not None:
            raise UsageError(plain[:1].upper() + plain[1:] + ".")
        target = parse_oncall(words[1]) if len(words) > 1 else None
        if target is None or target.kind != "user" or len(words) < 3 or words[2].lower() != "until":
            raise UsageError("Cover a shift with `/chargebox rotation override @person until fri 18:00` (or `4h`, "
                             "`tomorrow 09:00`, `2026-12-24 09:00`).")
        return OverrideRotation(target.id, tuple(words[3:]))
    if any(word.lower() == "group" for word in words):
        return SetGroupRotation(tuple(words))
    return SetRotation(tuple(words))


def _pager(rest: str) -> SlashCommand:
    word = rest.strip().lower()
    if not word or word in ("connect", "setup", "set"):
        return ConnectPager()
    if word in ("off", "clear", "none", "remove", "disconnect"):
        return PagerOff()
    raise UsageError("`/chargebox pager` shows (and, for an admin, connects) this channel's pager; "
                     "`/chargebox pager off` disconnects it.")


def _card(text: str, verb: str, rest: str) -> ShowCard:
    if verb.lower() == "status" and rest:
        text = rest
    typo = _did_you_mean(verb.lower())
    if typo is not None:
        tail = f" {rest}" if rest else ""
        raise UsageError(f"{code(verb)} is not a command. Did you mean `/chargebox {typo}{tail}`? "
                         f"(To look up a chargebox with that name, quote it: `/chargebox \"{text}\"`.)")
    if text[:1] in "\"“" and text[-1:] in "\"”" and len(text) > 2:
        text = text[1:-1]
    return ShowCard(_query(text))


VERBS = ("help", "list", "subscribe", "unsubscribe", "oncall", "mute", "unmute", "report", "digest", "status",
         "subscriptions", "rotation", "pager", "maintenance", "hours", "stickers")


def _did_you_mean(word: str) -> str | None:
    """A command the first word is a likely typo of (`lsit` → `list`); None for anything else, names included."""
    if len(word) < 3 or word in VERBS or word in _HELP_WORDS:
        return None
    close = difflib.get_close_matches(word, VERBS, n=1, cutoff=0.75)
    return close[0] if close else None


def _oncall(rest: str) -> SlashCommand:
    if not rest:
        return ShowOnCall()
    if rest.lower() in ("clear", "none", "off", "remove"):
        return ClearOnCall()
    target = parse_oncall(rest)
    if target is None and (plain := not_a_mention(rest)) is not None:
        raise UsageError(plain.replace("the person", "the person or user group") + ".")
    if target is None:
        raise UsageError(f"{code(rest)} is not a person or a user group. Use `/chargebox oncall @person`, "
                         "`/chargebox oncall @group` or `/chargebox oncall clear`.")
    return SetOnCall(target)


def _mute(rest: str) -> Mute:
    head, _, last = rest.rpartition(" ")
    try:
        duration = read_duration(last, least=MIN_MUTE, most=MAX_MUTE) if head else None
    except UsageError as exc:  # a duration, but not one a mute can be: its limits and why
        raise UsageError(f"A mute lasts from one minute to 30 days: {exc}.") from None
    if duration is None:
        raise UsageError("Say for how long: `/chargebox mute <id|name|all> <duration>`, in minutes, hours or days, "
                         "e.g. `30m`, `2h`, `1d`, `1d12h` (up to 30 days).")
    queries, all_boxes, phrase = _targets(head, verb="mute")
    return Mute(queries, duration, all_boxes, phrase)


def _report(rest: str) -> ShowReport:
    head, _, last = rest.rpartition(" ")
    shape = period_shape(last)
    if shape == "period":
        scope, period = head.strip(), last.lower()
    elif rest and shape == "meant":
        raise UsageError(BAD_PERIOD.format(period=code(last)))
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


def _targets(rest: str, *, verb: str) -> tuple[tuple[str, ...], bool, str | None]:
    if not rest:
        raise UsageError(f"Tell me which chargeboxes: `/chargebox {verb} <id or name> [more…]` or `all`.")
    if rest.lower() == "all":
        return (), True, None
    # Several ids may be given separated by spaces or commas; a name with spaces can be quoted, and
    # unquoted words are tried as one name first (the resolver decides: `phrase`).
    items = _split(rest)
    if len(items) > MAX_TARGETS:
        raise UsageError(f"At most {MAX_TARGETS} chargeboxes per command; use `all` to watch the whole fleet.")
    phrase = rest if len(items) > 1 and not any(c in rest for c in "\"“”,") else None
    return tuple(_query(i) for i in items), False, (_query(phrase) if phrase else None)


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


_OPERATIONS = _operations()  # the verbs whose words their own module reads
