"""The outbox's one backoff policy (domain/backoff.py), with the random source chosen by the test."""

from __future__ import annotations

import random

import pytest

from thorbot.domain.backoff import PAGES, SLACK, Backoff


def test_a_page_never_waits_more_than_30_s_between_tries() -> None:
    draws = random.Random(7)
    for tries in range(200):
        for rand in (lambda: 0.0, lambda: 0.999999, draws.random):
            assert PAGES.floor <= PAGES.delay(tries, rand) <= 30.0
    assert PAGES.delay(10**9, lambda: 1.0) == 30.0  # no overflow on an absurd count


@pytest.mark.parametrize("policy", [PAGES, SLACK])
def test_the_wait_grows_with_tries_until_the_cap(policy: Backoff) -> None:
    waits = [policy.delay(tries, lambda: 0.9) for tries in range(12)]
    assert waits == sorted(waits) and waits[0] < waits[3] and waits[-1] <= policy.cap
    assert max(policy.delay(t, lambda: 1.0) for t in range(40)) == policy.cap


def test_jitter_spreads_jobs_that_failed_together() -> None:
    draws = random.Random(1)
    waits = {round(PAGES.delay(4, draws.random), 3) for _ in range(50)}
    assert len(waits) > 40 and min(waits) >= PAGES.floor and max(waits) <= 2.0 * 2**4


@pytest.mark.parametrize(("policy", "said", "waits"), [
    (PAGES, 12.0, 12.0),     # believed
    (PAGES, 0.0, 1.0),       # never sooner than the floor
    (PAGES, 3600.0, 30.0),   # an absurd value is clamped: a page waits at most 30 s
    (SLACK, 45.0, 45.0),
    (SLACK, 0.0, 0.5),       # the Slack outbox's old floor on a 429
    (SLACK, 86400.0, 300.0),
])
def test_retry_after_is_honoured_within_bounds(policy: Backoff, said: float, waits: float) -> None:
    assert policy.delay(0, lambda: 0.0, said) == waits
    assert policy.delay(9, lambda: 1.0, said) == waits  # it replaces the backoff, whatever the tries


@pytest.mark.parametrize("said", [float("nan"), float("inf")])
def test_an_unreadable_retry_after_falls_back_to_the_backoff(said: float) -> None:
    assert PAGES.delay(2, lambda: 1.0, said) == PAGES.delay(2, lambda: 1.0)
