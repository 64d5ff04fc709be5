"""The leader lease by the worker's own clock (worker/lease.py) and the settings it must fit."""

from __future__ import annotations

import pytest

from thorbot.settings import Settings
from thorbot.worker.lease import Lease, LostLease


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_renewal_holds_from_when_it_was_sent_not_when_it_was_answered() -> None:
    ticks = Ticks()
    timing = Settings(lease_ttl=10.0).lease_timing()
    lease = Lease("w1:abc", timing, ticks)
    assert not lease.holds()
    sent = lease.sending()
    ticks.now += 6.0  # the answer took 6 s to come back
    lease.renewed(sent)
    assert lease.holds()
    ticks.now = sent + timing.ttl - timing.margin  # by then another worker could have the lease
    assert not lease.holds()
    with pytest.raises(LostLease):
        lease.check()


def test_every_call_of_a_leader_times_out_well_inside_the_lease() -> None:
    for ttl in (1.25, 1.5, 10.0, 30.0, 180.0, 3600.0):
        timing = Settings(lease_ttl=ttl).lease_timing()
        assert timing.redis_timeout <= ttl / 5 and timing.slack_timeout <= ttl / 5 and timing.redis_timeout <= 10
        assert timing.margin > timing.slack_timeout  # a post begun before the deadline lands before the lease moves
    assert Settings(poll_interval=60).lease_timing().ttl == 180


def test_a_lease_too_short_for_its_calls_is_refused() -> None:
    with pytest.raises(ValueError, match="THORBOT_LEASE_TTL 1 s is too short"):
        Settings(lease_ttl=1.0)
