"""The notification rules of domain/notify.py, one test per rule in its docstring, with pinned time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from thorbot.domain.notify import (
    AfterHold,
    Job,
    JobKind,
    Skip,
    ThorHealth,
    Watchers,
    after_failed_poll,
    after_good_poll,
    after_hold,
    escalation_due,
    escalation_jobs,
    incident_jobs,
    ready_to_send,
    released_alert,
    skip_reason,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


KIND_FIELDS: dict[JobKind, dict[str, object]] = {
    JobKind.ALERT: {"incident_id": "i", "box_id": "B1"}, JobKind.RECOVERY: {"incident_id": "i", "box_id": "B1"},
    JobKind.THOR_DOWN: {"code": "timeout", "since": NOW, "cycles": 3}, JobKind.THOR_UP: {"since": NOW},
    JobKind.ESCALATE: {"message_ts": "1.1", "count": 1}, JobKind.ESCALATE_DM: {"message_ts": "1.1", "count": 1},
}


def job(kind: JobKind, channel: str = "C1", *, created: datetime = NOW, **extra: object) -> Job:
    fields = {**KIND_FIELDS[kind], **extra}
    return TypeAdapter(Job).validate_python({"id": f"{kind.value}:{channel}:{created.timestamp()}:"
                                                   f"{fields.get('incident_id', '')}", "kind": kind,
                                             "channel": channel, "created": created, **fields})


def test_fan_out_reaches_every_channel_watching_the_box_once_with_stable_ids() -> None:
    by_box = {"B1": {"C1", "C2"}, "B2": {"C3"}}
    assert Watchers.of(by_box, {"CALL"}).channels("B1") == ["C1", "C2", "CALL"]
    assert Watchers.of(by_box, {"CALL"}).channels("B9") == ["CALL"]
    assert Watchers.of(by_box).channels("B9") == [] and not Watchers.of(by_box).watches("B9")
    jobs = incident_jobs(JobKind.ALERT, "B1@1:offline", "B1", ["C1", "C2"], NOW)
    assert [(j.kind, j.channel) for j in jobs] == [(JobKind.ALERT, "C1"), (JobKind.ALERT, "C2")]
    assert jobs == incident_jobs(JobKind.ALERT, "B1@1:offline", "B1", ["C1", "C2"], NOW)  # stored once
    assert {j.id for j in jobs}.isdisjoint(
        j.id for j in incident_jobs(JobKind.RECOVERY, "B1@1:offline", "B1", ["C1", "C2"], NOW))


def test_a_thor_outage_is_told_once_after_the_threshold_and_its_end_only_to_those_told() -> None:
    channels = Watchers.of({"B1": {"C1"}}, {"CALL"}).subscribed()
    assert channels == ["C1", "CALL"]
    health, told = ThorHealth(), []
    for cycle in range(1, 6):
        health, jobs = after_failed_poll(health, code="InternalServerError", permanent=False,
                                         now=NOW + timedelta(minutes=cycle), outage_cycles=3, channels=channels)
        told.append(len(jobs))
    assert told == [0, 0, 2, 0, 0] and health.failures == 5 and health.since == NOW + timedelta(minutes=1)
    # A channel that subscribed during the outage was not told of it, so it hears nothing of its end.
    reset, ended = after_good_poll(health, now=NOW + timedelta(minutes=9))
    assert reset == ThorHealth() and [j.channel for j in ended] == ["C1", "CALL"]
    assert {j.kind for j in ended} == {JobKind.THOR_UP}
    assert after_good_poll(ThorHealth(), now=NOW) == (None, [])


def test_a_permanent_thor_error_is_told_at_once_and_a_short_blip_never() -> None:
    _, jobs = after_failed_poll(ThorHealth(), code="APIKeyNotFound", permanent=True, now=NOW, outage_cycles=3,
                                channels=["C1"])
    assert [j.kind for j in jobs] == [JobKind.THOR_DOWN]
    health, jobs = after_failed_poll(ThorHealth(), code="timeout", permanent=False, now=NOW, outage_cycles=3,
                                     channels=["C1"])
    assert jobs == []
    reset, ended = after_good_poll(health, now=NOW)
    assert reset == ThorHealth() and ended == []


def test_an_unwatched_channel_hears_nothing_more_of_the_box() -> None:
    for kind in (JobKind.ALERT, JobKind.RECOVERY):
        assert skip_reason(job(kind), now=NOW, watching=False) is Skip.UNWATCHED
    assert skip_reason(job(JobKind.THOR_DOWN), now=NOW, watching=False) is None


def test_a_held_box_is_recorded_not_posted_and_only_its_alert_is_held() -> None:
    assert skip_reason(job(JobKind.ALERT), now=NOW, held=True) is Skip.HELD
    assert skip_reason(job(JobKind.ALERT), now=NOW, held=False) is None
    assert skip_reason(job(JobKind.RECOVERY), now=NOW, held=True) is None


@pytest.mark.parametrize(("facts", "verdict"), [
    ({}, AfterHold.POST),
    ({"held": True}, AfterHold.KEEP),            # the hold was extended, or another one covers the box now
    ({"recovering": True}, AfterHold.KEEP),      # back, waiting out the recovery grace: likely nothing to say
    ({"incident_open": False}, AfterHold.DROP),  # resolved (or forgotten) while held: never posted
    ({"watching": False}, AfterHold.DROP),
    ({"incident_open": False, "held": True}, AfterHold.DROP),
])
def test_a_held_alert_is_posted_when_its_hold_ends_only_if_the_box_is_still_down(facts: dict[str, bool],
                                                                                   verdict: AfterHold) -> None:
    assert after_hold(**{"incident_open": True, "watching": True, "held": False, **facts}) is verdict  # type: ignore[arg-type]
    released = released_alert("C1", "i1", "B1", NOW)
    assert released.kind is JobKind.ALERT and released.id != job(JobKind.ALERT).id and released.created == NOW


def test_a_recovery_is_posted_only_where_its_alert_was() -> None:
    assert skip_reason(job(JobKind.RECOVERY), now=NOW, alert_posted=False) is Skip.NEVER_ALERTED
    assert skip_reason(job(JobKind.RECOVERY), now=NOW, alert_posted=True) is None


@pytest.mark.parametrize(("minutes", "count", "flags", "due"), [
    (14, 0, {}, False), (15, 0, {}, True), (29, 1, {}, False), (30, 1, {}, True), (60, 3, {}, False),
    (20, 0, {"acknowledged": True}, False), (20, 0, {"resolved": True}, False), (20, 0, {"held": True}, False),
])
def test_escalation_waits_after_times_n_plus_one_until_max(minutes: int, count: int, flags: dict[str, bool],
                                                            due: bool) -> None:
    base = {"acknowledged": False, "resolved": False, "held": False, **flags}
    assert escalation_due(alerted=NOW - timedelta(minutes=minutes), now=NOW, count=count,
                          after=timedelta(minutes=15), max_count=3, **base) is due
    assert not escalation_due(alerted=NOW - timedelta(days=1), now=NOW, count=0, after=timedelta(0), max_count=3,
                              acknowledged=False, resolved=False, held=False)


def test_escalation_goes_to_the_thread_and_a_person_by_dm_once() -> None:
    thread, dm = escalation_jobs("C1", "1.2", 2, NOW)
    assert (thread.kind, dm.kind, thread.message_ts, thread.count) == (JobKind.ESCALATE, JobKind.ESCALATE_DM, "1.2", 2)
    assert skip_reason(thread, now=NOW, target_is_person=False) is None
    assert skip_reason(dm, now=NOW, target_is_person=False) is Skip.GROUP_TARGET
    assert skip_reason(dm, now=NOW) is None
    assert skip_reason(dm.model_copy(update={"attempted": True}), now=NOW) is Skip.DM_RETRY
    assert skip_reason(thread.model_copy(update={"attempted": True}), now=NOW) is None  # looked up, then posted
    assert skip_reason(thread, now=NOW, still_needed=False) is Skip.SETTLED


def test_a_channel_is_served_oldest_first_and_a_waiting_job_holds_back_the_rest() -> None:
    alert = job(JobKind.ALERT, incident_id="i1")
    recovery = job(JobKind.RECOVERY, created=NOW + timedelta(seconds=30), incident_id="i1")
    down = job(JobKind.THOR_DOWN)
    other = job(JobKind.ALERT, "C2", created=NOW + timedelta(seconds=40))
    later = NOW + timedelta(minutes=5)
    ready = ready_to_send([(recovery, NOW), (alert, later), (down, NOW), (other, NOW)], NOW + timedelta(minutes=1))
    assert ready == {"C1": [down], "C2": [other]}  # the alert waits for its retry, so its recovery waits too
    ready = ready_to_send([(recovery, NOW), (alert, later), (down, NOW)], later)
    assert ready == {"C1": [down, alert, recovery]}


def test_a_message_slack_has_not_taken_for_24_hours_is_dropped() -> None:
    assert skip_reason(job(JobKind.ALERT, created=NOW - timedelta(hours=24, seconds=1)), now=NOW) is Skip.DEAD
    assert skip_reason(job(JobKind.ALERT, created=NOW - timedelta(hours=23)), now=NOW) is None
