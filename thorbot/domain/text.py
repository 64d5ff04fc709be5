"""Small pure text helpers: escaping, durations, units and human names."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from thorbot.domain.when import read_duration
from thorbot.errors import UsageError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

CONNECTOR_TYPES = {
    "type_2": "Type 2",
    "ccs": "CCS",
    "chademo": "CHAdeMO",
    "type_1": "Type 1",
    "type_3a": "Type 3A",
    "type_3c": "Type 3C",
    "schuko": "Schuko",
    "commando": "Commando (IEC 60309)",
}
POWER_TYPES = {"AC_1_PHASE": "AC 1-phase", "AC_3_PHASE": "AC 3-phase", "DC": "DC"}
FORMATS = {"CABLE": "cable", "SOCKET": "socket"}


@functools.cache
def zone_names() -> frozenset[str]:
    """Every IANA zone this machine knows, minus the files that are not zones to people ("Factory",
    "posixrules", "localtime"): the only names thorbot accepts."""
    return frozenset(available_timezones()) - {"Factory", "posixrules", "localtime"}


def is_zone(name: str) -> bool:
    return name in zone_names()


@functools.cache
def _by_lower() -> dict[str, str]:
    return {z.lower(): z for z in zone_names()}


def canonical_zone(name: str) -> str | None:
    """The zone as IANA spells it ("europe/rome" → "Europe/Rome"), or None when it is not one."""
    return name if is_zone(name) else _by_lower().get(name.strip().lower()) if len(name) <= 64 else None


def load_zone(name: str | None) -> ZoneInfo | None:
    """An IANA time zone by name, or None for anything else (Thor's field is free text: thor-api notes §2)."""
    if not name or not is_zone(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


BAD_ZONE = "{zone} is not a time zone name; use one like `Europe/Rome`, `America/New_York` or `UTC`."


def escape(text: str) -> str:
    """Escape Slack mrkdwn control characters so untrusted text can never form a mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean_input(text: str) -> str:
    """Drop control and bidi characters and normalise width forms; keep emoji and accents."""
    text = unicodedata.normalize("NFKC", text)
    return _CONTROL.sub("", text).replace("\n", " ").replace("\t", " ").strip()


def plural(count: int, word: str, many: str | None = None) -> str:
    """"1 chargebox", "2 chargeboxes", "0 outages": one helper for every count shown to people."""
    if count == 1:
        return f"1 {word}"
    if many is None:
        many = word + ("es" if word.endswith(("x", "s", "ch", "sh")) else "s")
    return f"{count:,} {many}"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def pack_lines(lines: list[str], limit: int = 3000) -> list[str]:
    """Join lines into as few texts as possible, each at most `limit` characters (Block Kit section)."""
    packed: list[str] = []
    for line in lines:
        line = truncate(line, limit)
        if packed and len(packed[-1]) + 1 + len(line) <= limit:
            packed[-1] = f"{packed[-1]}\n{line}"
        else:
            packed.append(line)
    return packed


def code(text: str, limit: int = 80) -> str:
    """Inline code for untrusted text: escaped, no backticks to break out, bounded length."""
    return "`" + escape(truncate(text.replace("`", "'"), limit)) + "`"


def connector_type_name(raw: str | None) -> str:
    if raw is None:
        return "unknown type"
    return CONNECTOR_TYPES.get(raw.lower(), raw)


def power_type_name(raw: str | None) -> str:
    if raw is None:
        return "AC/DC n/a"
    return POWER_TYPES.get(raw.upper(), raw)


def format_name(raw: str | None) -> str | None:
    return None if raw is None else FORMATS.get(raw.upper(), raw.lower())


def kilowatts(watts: int | None) -> str:
    """Power for people: 22000 -> "22 kW", 3680 -> "3.7 kW" (input is watts; see models.Connector)."""
    if watts is None or watts <= 0:
        return "power n/a"
    kw = watts / 1000
    if kw >= 100 or kw == int(kw):
        return f"{kw:.0f} kW"
    return f"{kw:.1f} kW".replace(".0 kW", " kW")


def duration(seconds: float) -> str:
    """A compact human duration: "45 s", "2 min", "3 h 5 min", "2 days 4 h"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    unit = "day" if days == 1 else "days"
    return f"{days} {unit} {hours} h" if hours else f"{days} {unit}"


def age(then: datetime | None, now: datetime) -> str:
    """How long ago, for a heartbeat: "just now", "2 min ago", "in the future" for clock skew."""
    if then is None:
        return "never"
    delta = (now - then).total_seconds()
    if delta < -60:
        return "in the future (clock skew)"
    if delta < 10:
        return "just now"
    return f"{duration(delta)} ago"


def slack_date(when: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """A <!date^…> token: each reader sees their own local time; the fallback names the zone."""
    when_utc = when.astimezone(UTC)
    fallback = when_utc.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when_utc.timestamp())}^{fmt}|{fallback}>"


def parse_duration(text: str) -> timedelta | None:
    """Parse "90s", "30m", "2h", "1d", "1h30m" (up to ten years); None when it is not one. What people type
    for a command goes through domain/when.py with the command's own limits."""
    try:
        return read_duration(text, least=timedelta(seconds=1), most=timedelta(days=3650))
    except UsageError:
        return None
