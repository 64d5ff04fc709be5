"""The session rules of domain/sessions.py and domain/failed_starts.py: pure, with pinned time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from thorbot.domain.failed_starts import Attempt, FailureRules, judge_attempt
from thorbot.domain.incidents import Opened, Resolved
from thorbot.domain.session_messages import SessionView, render_stuck, stop_button
from thorbot.domain.sessions import Session, StallRules, is_failed, kwh, watch_session

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
RULES = StallRules(stall_after=timedelta(minutes=30), ignore_first=timedelta(minutes=10))


def reading(energy: int | None, *, started: datetime = T0) -> Session:
    return Session(transaction=7, box_id="B1", connector=1, started=started, energy_wh=energy)


def play(energies: Sequence[int | None], *, every: timedelta = timedelta(minutes=5),
         reachable: list[bool] | None = None) -> list[datetime]:
    """Feed one reading per poll; the times a notice was due."""
    watch, due = None, []
    for i, energy in enumerate(energies):
        now = T0 + every * i
        watch, stuck = watch_session(watch, reading(energy), now, RULES,
                                     box_reachable=reachable[i] if reachable else True)
        if stuck is not None:
            due.append(now)
    return due


def test_a_rising_charge_is_never_stuck() -> None:
    assert play([i * 500 for i in range(40)]) == []


def test_a_flat_charge_is_announced_once_after_the_stall_time() -> None:
    due = play([0, 500, 1000] + [1000] * 20)
    assert due == [T0 + timedelta(minutes=10 + 30)]  # flat since 10 min (its last rise), announced 30 min later


def test_the_first_minutes_do_not_count() -> None:
    """A car still negotiating draws nothing at first: flat time counts from `ignore_first`."""
    assert play([0] * 9) == [T0 + timedelta(minutes=40)]


def test_a_box_offline_does_not_make_its_charge_stuck() -> None:
    """Offline, the energy cannot rise in Thor's eyes; the outage has its own alert."""
    energies = [0, 500] + [500] * 12
    reachable = [True, True] + [False] * 8 + [True] * 4
    assert play(energies, reachable=reachable) == []


def test_a_charge_older_than_the_maximum_is_announced_even_when_rising() -> None:
    old = T0 - timedelta(hours=24)
    watch, stuck = watch_session(None, reading(100, started=old), T0, RULES)
    assert stuck is not None and stuck.reason == "too_long"
    _, again = watch_session(watch, reading(200, started=old), T0 + timedelta(minutes=5), RULES)
    assert again is None


@given(st.lists(st.one_of(st.none(), st.integers(0, 10**7)), max_size=30))
def test_at_most_one_notice_per_session(energies: list[int | None]) -> None:
    assert len(play(energies)) <= 1


def attempt(minutes: float, ok: bool) -> Attempt:
    return Attempt(box_id="B1", connector=2, at=T0 + timedelta(minutes=minutes), ok=ok,
                   energy_wh=5000 if ok else None)


def test_three_failures_in_the_window_open_one_incident_and_a_success_resolves_it() -> None:
    rules = FailureRules(count=3, window=timedelta(hours=24))
    record, events = None, []
    for a in [attempt(0, False), attempt(30, False), attempt(60, False), attempt(90, False), attempt(120, True)]:
        record, out = judge_attempt(record, a, rules, alias="Depot")
        events += out
    assert [type(e) for e in events] == [Opened, Resolved]
    opened = events[0].incident
    assert opened.kind == "failed_starts" and opened.connector == 2 and opened.started == T0
    assert events[1].incident.resolved == T0 + timedelta(minutes=120)


def test_failures_spread_wider_than_the_window_open_nothing() -> None:
    rules = FailureRules(count=3, window=timedelta(hours=24))
    record, events = None, []
    for hours in (0, 13, 26, 39):
        record, out = judge_attempt(record, attempt(hours * 60, False), rules, alias=None)
        events += out
    assert events == []


def test_the_failed_session_threshold_and_energy_words() -> None:
    assert is_failed(99, 100) and not is_failed(100, 100) and is_failed(None, 100)
    assert kwh(12345) == "12.3 kWh" and kwh(None) == "energy n/a"


def test_no_stop_button_anywhere_unless_someone_may_press_it() -> None:
    session = Session(transaction=7, box_id="B1", connector=1, started=T0, energy_wh=100, id_tag="04AABB")
    for offer in (False, True):
        view = SessionView(session, "RFID", stoppable=True, offer_stop=offer)
        notice = render_stuck(view, name="Box", reason="stalled", flat_since=T0, now=T0 + timedelta(hours=1))
        assert ("session_stop" in json.dumps(notice)) is offer
        assert (stop_button(view) is not None) is offer
