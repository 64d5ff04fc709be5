"""The status card, rendered with frozen time and validated as Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import assert_valid_message
from thorbot.domain.card import render_card
from thorbot.domain.models import parse_chargebox
from thorbot.domain.text import CONNECTOR_TYPES

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def raw_box(**overrides: Any) -> dict[str, Any]:
    box: dict[str, Any] = {
        "id": "EaJ7cU9NJ3YkTNgy", "alias": "Parking lot A - box 1", "active": True, "connected": True,
        "public": False, "reservable": True, "last_heartbeat": int((NOW - timedelta(minutes=2)).timestamp() * 1000),
        "timezone": "Europe/Rome", "coordinates": {"latitude": 45.07, "longitude": 7.68},
        "type": {"vehicle": "car", "msg": "JSON", "version": "1.6"},
        "connectors": [
            {"power": 22000, "type": "type_2", "format": "SOCKET", "max_amperage": 32, "power_type": "AC_3_PHASE",
             "terminal_id": "NYX-1", "token": "nayax-secret-token-1"},
            {"power": 50000, "type": "ccs", "format": "CABLE", "max_amperage": 125, "power_type": "DC",
             "terminal_id": None, "token": None},
        ],
        "occupied_connectors": [2], "reserved_connectors": [],
    }
    box.update(overrides)
    return box


def render(now: datetime = NOW, **overrides: Any) -> dict[str, Any]:
    payload = render_card(parse_chargebox(raw_box(**overrides)), now)
    assert_valid_message(payload)
    return payload


def text_of(payload: dict[str, Any]) -> str:
    return str(payload["blocks"])


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (timedelta(seconds=3), "just now"),
        (timedelta(seconds=42), "42 s ago"),
        (timedelta(minutes=2, seconds=5), "2 min ago"),
        (timedelta(hours=3, minutes=5), "3 h 5 min ago"),
        (timedelta(hours=5), "5 h ago"),
        (timedelta(days=2, hours=4), "2 days 4 h ago"),
        (timedelta(days=1), "1 day ago"),
    ],
)
def test_heartbeat_age_reads_like_a_person_would_say_it(ago: timedelta, expected: str) -> None:
    payload = render(last_heartbeat=int((NOW - ago).timestamp() * 1000))
    assert f"last heartbeat {expected}" in text_of(payload)
    assert f"<!date^{int((NOW - ago).timestamp())}^" in text_of(payload)


@pytest.mark.parametrize("missing", [None, 0, "garbage"])
def test_missing_heartbeat_is_said_plainly(missing: object) -> None:
    assert "no heartbeat recorded" in text_of(render(last_heartbeat=missing))


def test_absent_heartbeat_field() -> None:
    box = raw_box()
    del box["last_heartbeat"]
    payload = render_card(parse_chargebox(box), NOW)
    assert "no heartbeat recorded" in text_of(payload)


def test_card_shows_everything_an_operator_needs() -> None:
    blocks = text_of(render())
    for expected in ["Parking lot A - box 1", "EaJ7cU9NJ3YkTNgy", "*Connected*", "Type 2", "socket", "22 kW",
                     "32 A", "AC 3-phase", "CCS", "cable", "50 kW", "125 A", "DC", "occupied", "free",
                     "1.6 · JSON", "car", "Europe/Rome", "local time 13:00", "openstreetmap.org", "NYX-1",
                     "*Reservable*\\nYes", "*Public*\\nNo"]:
        assert expected in blocks, expected


def test_disconnected_and_silent_states() -> None:
    assert ":red_circle: *Disconnected*" in text_of(render(connected=False))
    stale = int((NOW - timedelta(hours=2)).timestamp() * 1000)
    assert "Connected, but silent" in text_of(render(last_heartbeat=stale))


@pytest.mark.parametrize("raw_type", sorted(CONNECTOR_TYPES))
def test_every_known_connector_type_has_its_name(raw_type: str) -> None:
    payload = render(connectors=[{"type": raw_type, "power": 7400, "power_type": "AC_1_PHASE"}])
    assert CONNECTOR_TYPES[raw_type] in text_of(payload)


def test_unknown_enum_values_show_raw_not_crash() -> None:
    payload = render(connectors=[{"type": "nacs_<x>", "format": "WIRELESS", "power_type": "AC_2_PHASE",
                                  "power": "n/a"}], type={"vehicle": "scooter", "msg": None})
    blocks = text_of(payload)
    assert "nacs_&lt;x&gt;" in blocks and "wireless" in blocks and "AC_2_PHASE" in blocks
    assert "power n/a" in blocks and "scooter" in blocks


@pytest.mark.parametrize(("power_type", "label"), [("AC_1_PHASE", "AC 1-phase"), ("AC_3_PHASE", "AC 3-phase"),
                                                   ("DC", "DC")])
def test_power_types(power_type: str, label: str) -> None:
    assert label in text_of(render(connectors=[{"type": "type_2", "power_type": power_type}]))


@pytest.mark.parametrize("lists", [{}, {"occupied_connectors": None, "reserved_connectors": None},
                                   {"occupied_connectors": [], "reserved_connectors": []}])
def test_empty_or_absent_occupied_and_reserved(lists: dict[str, Any]) -> None:
    box = raw_box()
    box.pop("occupied_connectors")
    box.pop("reserved_connectors")
    box.update(lists)
    payload = render_card(parse_chargebox(box), NOW)
    assert_valid_message(payload)
    assert "occupied" not in payload["blocks"][4]["text"]["text"]


def test_occupied_and_reserved_as_objects() -> None:
    payload = render(occupied_connectors=[{"connector": 1, "transaction": 5}], reserved_connectors=[{"id": 2}])
    lines = payload["blocks"][4]["text"]["text"].split("\n")
    assert "occupied" in lines[0] and "reserved" in lines[1]


def test_many_connectors_stay_within_block_limits() -> None:
    connector = {"type": "type_2", "format": "SOCKET", "power": 22000, "max_amperage": 32,
                 "power_type": "AC_3_PHASE", "terminal_id": "T" * 40}
    payload = render(connectors=[connector] * 400, alias="x" * 500)
    assert len(payload["blocks"]) <= 50


def test_no_connectors() -> None:
    assert "lists no connectors" in text_of(render(connectors=[]))


def test_nayax_token_never_rendered() -> None:
    payload = render()
    assert "nayax-secret-token-1" not in str(payload)


def test_hostile_alias_is_escaped() -> None:
    payload = render(alias="<!channel> & <@U1>")
    assert "<!channel>" not in payload["text"] and "&lt;!channel&gt; &amp; &lt;@U1&gt;" in payload["text"]
