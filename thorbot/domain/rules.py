"""Every rule's thresholds and windows in one value, built from the settings once (runtime.rules_from)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from thorbot.domain.failed_starts import FailureRules
from thorbot.domain.incidents import Thresholds
from thorbot.domain.sessions import StallRules
from thorbot.domain.usage import OccupiedRules, QuietRules, SlowRules


@dataclass(frozen=True)
class UsageRules:
    """Connectors that fail drivers while their box looks fine (domain/usage.py)."""

    quiet: QuietRules = QuietRules()
    occupied: OccupiedRules = OccupiedRules()
    slow: SlowRules = SlowRules()


@dataclass(frozen=True)
class Rules:
    incidents: Thresholds       # disconnect grace, heartbeat staleness, recovery grace
    stall: StallRules           # when a running charge may be stuck
    failures: FailureRules      # what a failed start is, and how many open an incident
    escalate_after: timedelta   # an unacknowledged alert is re-notified after this (0: never)…
    escalate_max: int           # …at most this many times
    stop_confirm_within: timedelta  # a remote stop not confirmed within this is "not confirmed"
    usage: UsageRules = UsageRules()  # quiet connectors, occupied without a charge, charging slowly

    @property
    def escalates(self) -> bool:
        return self.escalate_max > 0 and self.escalate_after > timedelta(0)
