"""The leader lease as this worker knows it, by its own monotonic clock.

A lease renewal that Redis granted is good until the moment the renewing request was *sent* plus the
lease TTL, less a safety margin; a reply that arrives later than that (the network held it, or the
process was paused: SIGSTOP, a long GC, a frozen VM) is worthless, whatever it says, because by then
another worker may hold the lease. The worker checks this deadline immediately before each post, so
a leader that was paused or cut off never posts what the new leader is about to post; the margin
leaves room for a post started just before the deadline to land before the lease can pass on (the
Slack client's timeout is within it), so the new leader's look-up finds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from thorbot.settings import LeaseTiming


class LostLease(Exception):
    """Another worker holds the lease now (or may): stop; it carries on from the outbox."""


class Lease:
    def __init__(self, token: str, timing: LeaseTiming, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self.timing = timing
        self.monotonic = monotonic
        self.until = float("-inf")

    def sending(self) -> float:
        """Call just before sending a request that renews the lease; pass the result to `renewed`."""
        return self.monotonic()

    def renewed(self, sent_at: float) -> None:
        self.until = sent_at + self.timing.ttl - self.timing.margin

    def lost(self) -> None:
        self.until = float("-inf")

    def holds(self) -> bool:
        return self.monotonic() < self.until

    def check(self) -> None:
        """Raise LostLease unless this worker still knows it holds the lease."""
        if not self.holds():
            raise LostLease()
