"""How long a failed delivery waits before its next try: one policy for every retry in the outbox. Pure.

Full jitter above a floor ("Exponential Backoff And Jitter", AWS Architecture Blog): the n-th try waits a
random time between `floor` and min(cap, base x 2^n). Jobs that failed together (a pager or Slack that was
down for everyone) do not all come back in the same second, the wait grows with tries, and it never passes
the cap. A service that said when to come back (Retry-After) is believed, within `floor` and
`retry_after_max`: an absurd value must not park a message for hours. The random source is passed in, so
tests choose it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Random = Callable[[], float]  # uniform in [0, 1), like random.random


@dataclass(frozen=True)
class Backoff:
    base: float             # the ceiling of the first try's wait (it doubles with each try)
    cap: float              # the longest wait between two tries without a Retry-After
    floor: float            # the shortest wait: never hammer a service that just failed
    retry_after_max: float  # the longest Retry-After believed

    def delay(self, tries: int, rand: Random, retry_after: float | None = None) -> float:
        """Seconds to wait before the next try, after `tries` failed ones (0 or more)."""
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(retry_after, self.floor), self.retry_after_max)
        ceiling = min(self.cap, self.base * 2.0 ** min(max(tries, 0), 32))
        low = min(self.floor, ceiling)
        return low + min(max(rand(), 0.0), 1.0) * (ceiling - low)


# Slack: up to 5 minutes between tries (Slack's outages are rare and long; its 429s say how long to wait).
SLACK = Backoff(base=1.0, cap=300.0, floor=0.5, retry_after_max=300.0)
# Pages wake a person: at most 30 s between tries, so a page lands within half a minute of its pager coming
# back. A Retry-After beyond that is cut to 30 s too: a retry too soon costs one more 429, a page too late
# costs the outage that long (PagerDuty's rate window is a minute of about 120 events per routing key).
PAGES = Backoff(base=2.0, cap=30.0, floor=1.0, retry_after_max=30.0)
