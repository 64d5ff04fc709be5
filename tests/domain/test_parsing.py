"""Parsing Thor's chargebox JSON never raises past one box, whatever any field holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import assert_valid_message
from thorbot.domain.card import render_card
from thorbot.domain.incidents import BoxRecord, Observation, QuickJudge, Status, Thresholds, step
from thorbot.domain.models import parse_chargebox

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TH = Thresholds()

# Any JSON value, including the ones Python's json module and ijson produce for odd input:
# Infinity, 1e400 (inf), huge integers, NaN, deep nesting, control characters.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["Infinity", "-Infinity", "NaN", "1e400", "22000", "", " ", "true", "\x1b[31mred"]),
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=12)
BOX_FIELDS = ["alias", "active", "connected", "public", "reservable", "last_heartbeat", "timezone", "coordinates",
              "type", "connectors", "occupied_connectors", "reserved_connectors"]
CONNECTOR_FIELDS = ["power", "type", "format", "max_amperage", "power_type", "terminal_id", "token"]


def connector() -> st.SearchStrategy[Any]:
    return st.one_of(JSON, st.fixed_dictionaries({}, optional={f: JSON for f in CONNECTOR_FIELDS}))


RAW_BOX = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=20), st.integers(min_value=0, max_value=10**6))},
    optional={**{f: JSON for f in BOX_FIELDS}, "connectors": st.lists(connector(), max_size=4),
              "coordinates": st.fixed_dictionaries({}, optional={"latitude": JSON, "longitude": JSON}),
              "type": st.fixed_dictionaries({}, optional={"vehicle": JSON, "msg": JSON, "version": JSON})},
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=RAW_BOX, prev=st.sampled_from([None, "online", "offline"]), offset=st.integers(0, 5000))
def test_any_json_in_any_field_parses_renders_and_judges(raw: dict[str, Any], prev: str | None, offset: int) -> None:
    box = parse_chargebox(raw)
    assert box.id == str(raw["id"])
    now = NOW + timedelta(seconds=offset)
    assert_valid_message(render_card(box, now))
    record = None if prev is None else BoxRecord(status=Status(prev), since=NOW)
    judged, events = step(record, Observation(box.id, box), now, TH)
    assert judged.alias == box.alias  # the name it showed is the name it keeps
    assert judged.since <= now and all(e.incident.box_id == box.id for e in events)
    if record is None:
        assert not events  # a first sighting is never news
    quick = QuickJudge(now, TH).record(record, raw)
    if quick is not None:  # whatever the fast path decides, the full path decides the same
        assert quick == judged and not events


@settings(max_examples=200, deadline=None)
@given(raw=JSON)
def test_anything_that_is_not_a_box_is_a_value_error(raw: Any) -> None:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str | int) and not isinstance(raw.get("id"), bool) \
            and raw.get("id") != "":
        parse_chargebox(raw)
    else:
        with pytest.raises(ValueError):
            parse_chargebox(raw)


@pytest.mark.parametrize("bad", ["Infinity", float("inf"), 10**400, float("nan"), "1e400", {"kW": 22}, [1]],
                         ids=["Infinity", "inf", "10^400", "nan", "1e400", "object", "list"])
def test_an_unreadable_power_is_named_on_the_card_and_the_rest_is_shown(bad: object) -> None:
    raw = {"id": "B1", "alias": "Box one", "connected": True, "last_heartbeat": int(NOW.timestamp() * 1000),
           "connectors": [{"power": bad, "max_amperage": bad, "type": "type_2"}, {"power": 22000, "type": "ccs"}]}
    box = parse_chargebox(raw)
    assert box.connectors[0].power_w is None and box.connectors[1].power_w == 22000
    assert "connector #1 power" in box.unreadable and "connector #1 max_amperage" in box.unreadable
    text = str(render_card(box, NOW)["blocks"])
    assert "unreadable data" in text and "connector #1 power" in text and "22 kW" in text


def test_a_clean_box_has_nothing_unreadable() -> None:
    raw = {"id": "B1", "alias": "Box", "connected": True, "active": True, "last_heartbeat": 1_700_000_000_000,
           "connectors": [{"power": 22000, "max_amperage": 32, "type": "type_2", "terminal_id": None, "token": None}],
           "occupied_connectors": [1], "reserved_connectors": [], "coordinates": {"latitude": 1, "longitude": 2},
           "type": {"vehicle": "car", "msg": "JSON", "version": "1.6"}, "timezone": "Europe/Rome"}
    box = parse_chargebox(raw)
    assert box.unreadable == ()
    assert "unreadable" not in str(render_card(box, NOW)["blocks"])
