"""`/chargebox list` and subscription confirmations. Pure; summarises instead of overflowing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from thorbot.domain.blocks import Block, Payload, context, header, message, section
from thorbot.domain.card import health_line
from thorbot.domain.incidents import Condition, Observation, Thresholds, condition_of
from thorbot.domain.models import Chargebox
from thorbot.domain.status import icon, rank
from thorbot.domain.text import age, code, escape, pack_lines, plural, truncate
from thorbot.domain.usage import GRADE_ORDER, Health

MAX_PROBLEM_LINES = 60
MAX_HEALTHY_NAMES = 40
MAX_CONNECTORS_SHOWN = 3
SECTION_LIMIT = 3000


@dataclass(frozen=True)
class Entry:
    box_id: str
    name: str
    state: str
    detail: str = ""
    held: str | None = None  # "muted until …" / "snoozed until …" in this channel
    connectors: tuple[tuple[int, Health], ...] = ()  # connectors failing or to watch, worst first

    @property
    def worst(self) -> int:
        return min((GRADE_ORDER[h.grade] for _, h in self.connectors), default=len(GRADE_ORDER))


def entry_for(box_id: str, box: Chargebox | None, found: bool, now: datetime, limits: Thresholds,
              alias: str | None = None) -> Entry:
    """Classify one watched box for the list (`found=False`: Thor said 404; box None+found: unknown)."""
    if box is None:
        state = "gone" if not found else "unknown"
        return Entry(box_id, alias or box_id, state, "not in Thor" if state == "gone" else "live status unavailable")
    cond = condition_of(Observation(box_id, box), now, limits)
    state = {Condition.HEALTHY: "online", Condition.DISCONNECTED: "disconnected", Condition.SILENT: "silent",
             Condition.GONE: "gone", Condition.INACTIVE: "inactive"}[cond]
    detail = f"last heartbeat {age(box.last_heartbeat, now)}" if box.last_heartbeat else "no heartbeat"
    if box.occupied:
        detail += f" · {len(box.occupied)} charging"
    return Entry(box_id, box.name, state, detail)


def _connectors(entry: Entry) -> str:
    shown = [f"#{n} {health_line(h)}" for n, h in entry.connectors[:MAX_CONNECTORS_SHOWN]]
    more = len(entry.connectors) - MAX_CONNECTORS_SHOWN
    return "".join(f"\n      {line}" for line in shown) + (f"\n      _…and {more} more connectors_" if more > 0 else "")


def _sections(lines: list[str]) -> list[Block]:
    return [section(c) for c in pack_lines(lines, SECTION_LIMIT)]


def render_list(entries: list[Entry], *, whole_fleet: bool, note: str | None = None) -> Payload:
    if not entries and not whole_fleet:
        text = ("This channel watches no chargeboxes yet. Try `/chargebox subscribe <id or name>` or "
                "`/chargebox subscribe all`.")
        return message(text, [section(text)], response_type="ephemeral")
    ordered = sorted(entries, key=lambda e: (rank(e.state), e.worst, e.name.casefold()))
    counts: dict[str, int] = {}
    for entry in ordered:
        counts[entry.state] = counts.get(entry.state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items(), key=lambda kv: rank(kv[0])))
    scope = "the whole fleet" if whole_fleet else plural(len(entries), "chargebox")
    problems = [e for e in ordered if e.state != "online" or e.held or e.connectors]
    healthy = [e for e in ordered if e.state == "online" and not e.held and not e.connectors]
    lines = [f"{icon(e.state)} *{escape(truncate(e.name, 80))}* {code(e.box_id, 40)} — {e.state}, "
             f"{escape(e.detail)}" + (f" · :mute: {e.held}" if e.held else "") + _connectors(e)
             for e in problems[:MAX_PROBLEM_LINES]]
    if len(problems) > MAX_PROBLEM_LINES:
        lines.append(f"_…and {len(problems) - MAX_PROBLEM_LINES} more with problems._")
    if healthy:
        names = ", ".join(escape(truncate(e.name, 40)) for e in healthy[:MAX_HEALTHY_NAMES])
        more = f" and {len(healthy) - MAX_HEALTHY_NAMES} more" if len(healthy) > MAX_HEALTHY_NAMES else ""
        lines.append(f":large_green_circle: *{len(healthy)} online:* {names}{more}")
    blocks = [header("Subscriptions in this channel"), section(f"Watching {scope}: {summary or 'nothing yet'}")]
    if note:
        blocks.append(context(note))
    blocks.extend(_sections(lines)[:40])
    return message(f"Watching {scope}: {summary}", blocks, response_type="ephemeral")


def render_subscribed(added: list[Entry], already: list[Entry], problems: list[str], *,
                      whole_fleet_count: int | None = None) -> Payload:
    lines: list[str] = []
    if whole_fleet_count is not None:
        count = plural(whole_fleet_count, "chargebox")
        lines.append(f":bell: This channel now watches *the whole fleet* ({count} today, and any added later).")
    if added:
        lines.append(":bell: Now watching:")
        lines.extend(f"• {icon(e.state)} *{escape(truncate(e.name, 80))}* {code(e.box_id, 40)} — {e.state}, "
                     f"{escape(e.detail)}" for e in added[:40])
    if already:
        lines.append("Already watched here: " + ", ".join(escape(truncate(e.name, 40)) for e in already[:40]))
    lines.extend(problems[:20])
    if added or whole_fleet_count is not None:
        lines.append("_Alerts go to this channel when a box is offline for more than the grace period, goes "
                     "silent, or a connector keeps failing to start charges; a charge that looks stuck gets a "
                     "quieter notice. In a private channel, invite the bot first (`/invite @thorbot`)._")
    text = "\n".join(lines) or "Nothing changed."
    return message(text, _sections(lines)[:45] or [section(text)], response_type="ephemeral")
