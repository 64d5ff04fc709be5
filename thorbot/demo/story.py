"""The demo's scripted story: which boxes it happens to, what happens when, and when it has played out.

It starts once the worker has seen the whole fleet (T0), and is scheduled in the fleet's simulated
time, so a seed gives the same story (same boxes, same incidents, same impact lines) however fast
the machine is. At `--speed 10` it plays out in about 90 s:

- T0 + 30 s: a box with a driver charging drops off for 4 minutes → an alert, then its recovery.
- T0 + 1 min: another box's charge stops drawing energy → a "may be stuck" notice; the demo then
  presses *Stop charge…* on it and confirms → the audit, then "Confirmed".
- T0 + 3½ min: a third box's connector #1 fails three starts in a row → a "failed starts" alert;
  at T0 + 8 min a driver charges there for 4 min → its recovery when that charge is read as finished.
- A ghost: a busy box (a charge every 20 minutes on each connector for 28 days) whose connector #1 has
  charged nobody for 8 hours while its siblings kept charging. The worker seeds its baseline from
  Thor's finished charges and, at its first judging after that (within 10 minutes), alerts "not
  charging anyone"; at T0 + 13 min a driver charges there → its recovery.
- A driver's report: at T0 + 4½ min a driver scans the sticker on a fourth box's connector #1 and reports a dead
  screen on its page (over HTTP, as a phone would) → a "reported by drivers" alert quoting them; at T0 + 9 min
  someone charges there for 4 min → "charging again after a driver's report".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from thorbot.sim.fleet import Fleet
from thorbot.sim.slack_server import SlackMessage

OUTAGE_AT, OUTAGE_FOR = timedelta(seconds=30), timedelta(minutes=4)
# The failed starts begin after the outage's alert is out (grace + a poll), so each gets its own message.
STALL_AT, FAIL_AT, GOOD_SESSION_AT = timedelta(minutes=1), timedelta(minutes=3, seconds=30), timedelta(minutes=8)
GHOST_SILENT_FOR, GHOST_CHARGES_AT = timedelta(hours=8), timedelta(minutes=13)
DRIVER_REPORTS_AT, DRIVER_CHARGES_AT = timedelta(minutes=4, seconds=30), timedelta(minutes=9)
DRIVER_WORDS = "The screen is black and the card reader ignores my card."
STORY_LENGTH = timedelta(minutes=15)  # the last recovery comes about 14 min after T0


@dataclass(frozen=True)
class Cast:
    outage: str    # drops off, with a driver charging
    stalled: str   # its charge stalls, and is stopped from Slack
    failing: str   # connector #1 fails three starts, then charges fine
    ghost: str | None = None  # connector #1 charges nobody (its box looks fine), then charges again
    reported: str | None = None  # a driver reports connector #1 from its sticker's page, then it charges again


def ghost_for(fleet: Fleet) -> str | None:
    """The ghost: the first box (by name) with two connectors or more."""
    boxes = sorted((b for b in fleet.boxes.values() if len(b.connectors) >= 2), key=lambda b: b.alias)
    return boxes[0].id if boxes else None


def ghost_history(fleet: Fleet, now: datetime, seed: int) -> str | None:
    """Before the worker starts: 28 days of the ghost's charges in Thor, connector #1's ending 8 h ago."""
    ghost = ghost_for(fleet)
    if ghost is None:
        return None
    box, rng = fleet.boxes[ghost], random.Random(seed)
    fleet.scripted.add(ghost)
    at = now - timedelta(days=28)
    while at < now - timedelta(minutes=10):
        for number, connector in enumerate(box.connectors, start=1):
            if number == 1 and at > now - GHOST_SILENT_FOR:
                continue
            minutes = rng.uniform(10, 18)
            fleet.add_finished(ghost, number, at + timedelta(minutes=rng.uniform(0, 2)), minutes,
                               0.8 * connector.power * minutes / 60)
        at += timedelta(minutes=20)
    return ghost


def cast(fleet: Fleet) -> Cast | None:
    """Three different boxes, picked by the fleet's seed, and the ghost; None for a fleet too small."""
    ghost = ghost_for(fleet)
    boxes = sorted((b for b in fleet.boxes.values() if b.id != ghost), key=lambda b: b.alias)
    if len(boxes) < 3:
        return None
    picked = fleet.rng.sample(boxes, 3)
    rest = [b for b in boxes if b not in picked]
    return Cast(outage=picked[0].id, stalled=picked[1].id, failing=picked[2].id, ghost=ghost,
                reported=rest[0].id if rest else None)


def schedule(fleet: Fleet, story: Cast, t0: datetime) -> None:
    """Put the story into the fleet's schedule, relative to T0 in simulated time."""
    fleet.scripted |= {story.outage, story.stalled, story.failing}
    for box_id in fleet.scripted:  # start from quiet boxes: a charge already running would block the story's
        for session in [s for s in fleet.sessions.values() if s.box_id == box_id]:
            fleet.end_session(session.transaction)
        fleet.boxes[box_id].reserved.clear()
    fleet.start_session(story.outage, 1, mode="local", minutes=60)
    fleet.start_session(story.stalled, 1, mode="local", minutes=600)
    fleet.schedule_outage(story.outage, t0 + OUTAGE_AT, OUTAGE_FOR)
    fleet.at(t0 + STALL_AT, "stall", story.stalled)
    fleet.at(t0 + FAIL_AT, "fail", story.failing, connector=1, attempts=3)
    fleet.at(t0 + GOOD_SESSION_AT, "session", story.failing, connector=1, mode="local", minutes=4)
    if story.reported is not None:
        fleet.scripted.add(story.reported)
        fleet.at(t0 + DRIVER_CHARGES_AT, "session", story.reported, connector=1, mode="local", minutes=4)
    if story.ghost is not None:
        fleet.scripted.add(story.ghost)
        fleet.at(t0 + GHOST_CHARGES_AT, "session", story.ghost, connector=1, mode="local", minutes=5)


@dataclass
class Progress:
    """What the channel has shown of the story so far."""

    alerted: bool = False
    recovered: bool = False
    stuck_notice: SlackMessage | None = None
    stop_pressed: bool = False
    stop_confirmed: bool = False
    failed_starts: bool = False
    charging_again: bool = False
    ghost_alerted: bool = False
    ghost_recovered: bool = False
    ghost_expected: bool = False
    driver_reported: bool = False  # the page took the driver's report (demo/console.py posts it)
    driver_alerted: bool = False
    driver_recovered: bool = False
    seen: set[str] = field(default_factory=set)

    def update(self, messages: list[SlackMessage], names: dict[str, str], story: Cast) -> None:
        self.ghost_expected = story.ghost is not None
        for message in messages:
            if message.ts in self.seen:
                continue
            self.seen.add(message.ts)
            text = f"{message.text} {message.blocks}"
            if names[story.outage] in text and "offline" in text and not message.thread_ts:
                self.alerted = True
            if names[story.outage] in text and "back online" in text:
                self.recovered = True
            if names[story.stalled] in text and "session_stop" in text and not message.thread_ts:
                self.stuck_notice = message
            if names[story.failing] in text and "failed starts" in text and not message.thread_ts:
                self.failed_starts = True
            if names[story.failing] in text and "charging again" in text:
                self.charging_again = True
            if "Confirmed:" in text and names[story.stalled] in text:
                self.stop_confirmed = True
            if story.reported is not None and names[story.reported] in text:
                self.driver_alerted |= "reported by drivers" in text and not message.thread_ts
                self.driver_recovered |= "after a driver's report" in text and bool(message.thread_ts)
            if story.ghost is not None and names[story.ghost] in text:
                self.ghost_alerted |= "not charging anyone" in text and not message.thread_ts
                self.ghost_recovered |= "charging again" in text and bool(message.thread_ts)

    @property
    def done(self) -> bool:
        return self.recovered and self.stop_confirmed and self.charging_again and (
            self.ghost_recovered or not self.ghost_expected) and (self.driver_recovered or not self.driver_reported)
