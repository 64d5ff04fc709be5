"""The alert state machine on a simulated clock (time is passed in), plus properties over random sequences."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thorbot.domain.incidents import BoxRecord, Event, Observation, Opened, Resolved, Status, Thresholds, step
from thorbot.domain.models import Chargebox, ConnectorSpec, connector_specs

TH = Thresholds(grace=timedelta(seconds=120), stale_after=timedelta(seconds=900),
                recovery_grace=timedelta(seconds=60))
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Box:
    """Drives one box through observations on its own simulated clock."""

    def __init__(self, th: Thresholds = TH, start: datetime = START) -> None:
        self.at, self.th = start, th
        self.record: BoxRecord | None = None
        self.events: list[Event] = []

    def now(self) -> datetime:
        return self.at

    def see(self, *, connected: bool | None = True, heartbeat_age: float = 10, active: bool = True,
            missing: bool = False, occupied: frozenset[int] = frozenset()) -> list[Event]:
        box = None if missing else Chargebox(
            id="B1", alias="Box one", connected=connected, active=active, occupied=occupied,
            last_heartbeat=self.now() - timedelta(seconds=heartbeat_age), has_heartbeat_field=True)
        self.record, events = step(self.record, Observation("B1", box), self.now(), self.th)
        self.events.extend(events)
        return events

    def wait(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def box() -> Box:
    b = Box()
    b.see()
    return b


def test_a_20_second_blip_is_not_an_incident(box: Box) -> None:
    box.wait(60)
    assert box.see(connected=False) == []
    box.wait(20)
    assert box.see() == []
    assert box.record is not None and box.record.status is Status.ONLINE and box.events == []


def test_disconnection_past_grace_opens_one_incident_dated_from_the_drop(box: Box) -> None:
    box.wait(60)
    drop = box.now()
    box.see(connected=False, occupied=frozenset({2}))
    box.wait(119)
    assert box.see(connected=False) == []
    box.wait(1)
    [event] = box.see(connected=False)
    assert isinstance(event, Opened) and event.incident.kind == "offline" and event.incident.started == drop
    box.wait(600)
    assert box.see(connected=False) == []


def test_recovery_waits_for_recovery_grace_and_reports_downtime(box: Box) -> None:
    drop = box.now()
    box.see(connected=False)
    box.wait(300)
    box.see(connected=False)
    back = box.now()
    assert box.see() == [] and box.record is not None and box.record.status is Status.RECOVERING
    box.wait(59)
    assert box.see() == []
    box.wait(1)
    [event] = box.see()
    assert isinstance(event, Resolved) and event.incident.resolved == back
    assert event.incident.downtime() == back - drop


def test_flapping_during_recovery_keeps_one_incident(box: Box) -> None:
    box.see(connected=False)
    box.wait(200)
    box.see(connected=False)
    for _ in range(5):
        box.wait(20)
        box.see()
        box.wait(20)
        box.see(connected=False)
    assert [type(e) for e in box.events] == [Opened]


def test_stale_heartbeat_while_connected_is_silent(box: Box) -> None:
    box.wait(60)
    assert box.see(heartbeat_age=900) == []
    [event] = box.see(heartbeat_age=901)
    assert isinstance(event, Opened) and event.incident.kind == "silent"
    assert box.see(heartbeat_age=2000) == []
    box.wait(60)
    box.see(heartbeat_age=5)
    box.wait(60)
    assert [type(e) for e in box.see(heartbeat_age=5)] == [Resolved]


def test_silent_then_disconnected_is_still_one_incident(box: Box) -> None:
    box.see(heartbeat_age=1000)
    box.wait(300)
    box.see(connected=False)
    box.wait(300)
    box.see(connected=False)
    assert [type(e) for e in box.events] == [Opened]


@pytest.mark.parametrize("kwargs", [{"missing": True}, {"active": False}])
def test_deleted_or_inactive_box_gets_one_notice(box: Box, kwargs: dict[str, bool]) -> None:
    [event] = box.see(**kwargs)  # type: ignore[arg-type]
    assert isinstance(event, Opened) and event.incident.kind in ("gone", "inactive")
    for _ in range(10):
        box.wait(60)
        assert box.see(**kwargs) == []  # type: ignore[arg-type]
    assert [type(e) for e in box.see()] == [Resolved]


def test_first_sighting_of_a_box_already_down_is_not_news() -> None:
    b = Box()
    assert b.see(connected=False) == []
    b.wait(3600)
    assert b.see(connected=False) == []
    b.see()
    b.wait(10)
    b.see(connected=False)
    b.wait(200)
    assert [type(e) for e in b.see(connected=False)] == [Opened]


def test_zero_grace_alerts_at_once_and_zero_recovery_grace_resolves_at_once() -> None:
    b = Box(Thresholds(grace=timedelta(0), recovery_grace=timedelta(0)))
    b.see()
    assert [type(e) for e in b.see(connected=False)] == [Opened]
    assert [type(e) for e in b.see()] == [Resolved]


OBS = st.sampled_from(["up", "down", "silent", "gone", "inactive", "unknown"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(OBS, st.integers(min_value=0, max_value=400)), max_size=60))
def test_random_sequences_never_double_open_or_recover_unannounced(seq: list[tuple[str, int]]) -> None:
    now = START
    record: BoxRecord | None = None
    open_id: str | None = None
    for kind, gap in seq:
        now += timedelta(seconds=gap)
        box = None if kind == "gone" else Chargebox(
            id="B", connected={"down": False, "unknown": None}.get(kind, True), active=kind != "inactive",
            last_heartbeat=now - timedelta(seconds=2000 if kind == "silent" else 5), has_heartbeat_field=True)
        record, events = step(record, Observation("B", box), now, TH)
        for event in events:
            if isinstance(event, Opened):
                assert open_id is None, "two open incidents"
                open_id = event.incident.id
            else:
                assert open_id == event.incident.id, "recovery without an alert"
                assert event.incident.resolved is not None and event.incident.resolved >= event.incident.started
                open_id = None
        assert (record.incident is None) == (open_id is None)


STALE_MS = int(TH.stale_after.total_seconds() * 1000)


@st.composite
def online_entry(draw: st.DrawFn) -> tuple[dict[str, object], BoxRecord | None, datetime]:
    """A raw list entry of a box that is online (the case the fast path exists for), and its previous record."""
    now = START + timedelta(seconds=draw(st.integers(0, 3_000)), microseconds=draw(st.integers(0, 999_999)))
    now_ms = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    raw: dict[str, object] = {"id": "B", "connected": True,
                              "last_heartbeat": draw(st.integers(now_ms - STALE_MS + 1, now_ms + 60_000))}
    if draw(st.booleans()):
        raw["active"] = True
    alias = draw(st.sampled_from(["Box one", "Other", "Ünïcode ⚡ box"]))
    raw["alias"] = alias
    prev = draw(st.sampled_from([None, BoxRecord(status=Status.ONLINE, since=START, alias=alias)]))
    return raw, prev, now


@settings(max_examples=300, deadline=None)
@given(case=online_entry())
def test_the_fast_path_decides_every_online_box_and_agrees_with_step(
        case: tuple[dict[str, object], BoxRecord | None, datetime]) -> None:
    from thorbot.domain.incidents import quick_record
    from thorbot.domain.models import parse_chargebox

    raw, prev, now = case
    quick = quick_record(prev, raw, now, TH)
    assert quick is not None, "an online box must be judged on the fast path"
    record, events = step(prev, Observation("B", parse_chargebox(raw)), now, TH)
    assert record == quick and events == []


CONNECTED = st.sampled_from([True, True, True, False, None, 1, 0, "true", "false", "x"])
ACTIVE = st.sampled_from([True, True, None, False, 1, 0, "true"])
ALIAS = st.sampled_from(["Box one", "Other", None, "", " Box one ", 5])
PREV_KINDS = ["online-other-alias", "suspect", "offline", "incident", "silent"]
PREV = st.sampled_from([None, "online", *PREV_KINDS])


@st.composite
def any_entry(draw: st.DrawFn) -> tuple[dict[str, object], str | None, datetime]:
    """Any raw entry, biased towards what the fast path might take: connected, fresh heartbeats."""
    now = START + timedelta(seconds=draw(st.integers(0, 3_000)))
    now_ms = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    heartbeat = draw(st.one_of(st.integers(now_ms - 2 * STALE_MS, now_ms + 60_000), st.none(), st.just(0),
                               st.floats(allow_nan=True, allow_infinity=True), st.just("1700000000000")))
    raw: dict[str, object] = {"id": "B"}
    if draw(st.booleans()):
        # Half the time, a plain online box with at most one field changed: the fast path's own boundary.
        raw.update({"connected": True, "active": True, "alias": "Box one",
                    "last_heartbeat": draw(st.integers(now_ms - STALE_MS + 1, now_ms))})
        field = draw(st.sampled_from(["none", "connected", "active", "alias", "last_heartbeat", "drop"]))
        replacement = {"connected": CONNECTED, "active": ACTIVE, "alias": ALIAS, "last_heartbeat": st.just(heartbeat)}
        if field in replacement:
            raw[field] = draw(replacement[field])
        elif field == "drop":
            del raw[draw(st.sampled_from(["connected", "active", "alias", "last_heartbeat"]))]
        return raw, draw(st.sampled_from([None, "online", "online", *PREV_KINDS])), now
    for key, value in (("connected", draw(CONNECTED)), ("active", draw(ACTIVE)), ("alias", draw(ALIAS)),
                       ("last_heartbeat", heartbeat)):
        if draw(st.integers(0, 9)):  # each field present nine times in ten
            raw[key] = value
    return raw, draw(PREV), now


@settings(max_examples=500, deadline=None)
@given(case=any_entry())
def test_whenever_the_fast_path_decides_it_agrees_with_step(case: tuple[dict[str, object], str | None, datetime]
                                                           ) -> None:
    from thorbot.domain.incidents import Incident, quick_record
    from thorbot.domain.models import parse_chargebox

    raw, prev_kind, now = case
    prev: BoxRecord | None = None
    if prev_kind is not None:
        alias = "Other" if prev_kind == "online-other-alias" else "Box one"
        status = {"suspect": Status.SUSPECT, "offline": Status.OFFLINE, "silent": Status.SILENT}.get(prev_kind,
                                                                                                    Status.ONLINE)
        incident = Incident(id="i", box_id="B", kind="offline", started=START, opened=START) \
            if prev_kind == "incident" else None
        prev = BoxRecord(status=Status.OFFLINE if incident else status, since=START, alias=alias, incident=incident)
    quick = quick_record(prev, raw, now, TH)
    record, events = step(prev, Observation("B", parse_chargebox(raw)), now, TH)
    if quick is not None:
        assert record == quick and events == []
        return
    # Not taken: only an entry the fast path is not meant for may go the full way. A plain online box
    # (connected, active, a fresh integer heartbeat, the name it had, no incident) must be decided fast.
    now_ms = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    heartbeat = raw.get("last_heartbeat")
    plain = (raw.get("connected") is True and raw.get("active", True) is True and raw.get("alias") == "Box one"
             and type(heartbeat) is int and now_ms - STALE_MS < heartbeat <= now_ms
             and prev_kind in (None, "online"))
    assert not plain, f"the fast path refused a plain online box: {raw} after {prev_kind}"


@pytest.mark.parametrize("delta_ms", [-2, -1, 0, 1, 2])
@pytest.mark.parametrize("micros", [0, 123_456, 999_999])
def test_fast_path_matches_step_at_the_stale_boundary(delta_ms: int, micros: int) -> None:
    from thorbot.domain.incidents import quick_record
    from thorbot.domain.models import parse_chargebox

    now = START + timedelta(microseconds=micros)
    now_ms = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    raw = {"id": "B", "alias": "Box one", "connected": True, "active": True,
           "last_heartbeat": now_ms - 900_000 + delta_ms}
    prev = BoxRecord(status=Status.ONLINE, since=START, alias="Box one")
    record, events = step(prev, Observation("B", parse_chargebox(raw)), now, TH)
    assert (quick_record(prev, raw, now, TH) is not None) == (record == prev and events == [])


def test_equal_connector_specs_are_one_object_the_worker_keeps_for_many_boxes() -> None:
    raw = {"connectors": [{"power": 22000, "power_type": "AC_3_PHASE"}, {"power": 50000, "power_type": "DC"}]}
    first, second = connector_specs(raw), connector_specs(json.loads(json.dumps(raw)))
    assert first == (ConnectorSpec(22000.0, False), ConnectorSpec(50000.0, True)) and first is second
