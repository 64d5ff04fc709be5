from __future__ import annotations

from datetime import timedelta

import pytest

from thorbot.domain.models import Chargebox
from thorbot.domain.search import match_boxes
from thorbot.domain.slash_commands import (
    Help,
    ListSubscriptions,
    Mute,
    ShowCard,
    Subscribe,
    Unsubscribe,
    parse_command,
)
from thorbot.domain.text import clean_input, escape, kilowatts, parse_duration
from thorbot.errors import UsageError


@pytest.mark.parametrize(("watts", "label"), [(22000, "22 kW"), (3700, "3.7 kW"), (7360, "7.4 kW"),
                                              (150000, "150 kW"), (None, "power n/a"), (0, "power n/a")])
def test_kilowatts(watts: int | None, label: str) -> None:
    assert kilowatts(watts) == label


def test_escape_only_three_characters() -> None:
    assert escape("<!channel> & \"q\" 'a'") == "&lt;!channel&gt; &amp; \"q\" 'a'"


def test_clean_input_drops_controls_keeps_emoji() -> None:
    assert clean_input("  box\x00\x07\u202e1 🔌 ") == "box1 🔌"


@pytest.mark.parametrize(("text", "command"), [
    ("", Help()), ("help", Help()), ("abc", ShowCard("abc")), ("status abc", ShowCard("abc")),
    ("list", ListSubscriptions()), ("subscriptions", ListSubscriptions()),
    ("subscribe a b,c", Subscribe(("a", "b", "c"))), ("subscribe all", Subscribe((), True)),
    ('subscribe "parking lot a" b', Subscribe(("parking lot a", "b"))),
    ("unsubscribe all", Unsubscribe((), True)), ("unsubscribe x", Unsubscribe(("x",))),
    ("parking lot A", ShowCard("parking lot A")),
])
def test_parse_command(text: str, command: object) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["A" * 201, "subscribe", 'subscribe "open', "subscribe " + " ".join(["x"] * 51)])
def test_parse_command_refuses_with_a_reason(text: str) -> None:
    with pytest.raises(UsageError):
        parse_command(text)


def test_parse_duration() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration("soon") is None


def test_match_boxes_ranks_exact_then_prefix_then_substring() -> None:
    boxes = [Chargebox(id="1", alias="Depot north"), Chargebox(id="2", alias="North depot"),
             Chargebox(id="3", alias="Café Depot")]
    assert [b.id for b in match_boxes(boxes, "depot")] == ["1", "3", "2"]
    assert [b.id for b in match_boxes(boxes, "north depot")] == ["2"]
    assert [b.id for b in match_boxes(boxes, "cafe")] == ["3"]
    assert match_boxes(boxes, "zzz") == []


@pytest.mark.parametrize(("text", "minutes"), [("mute B1 1m", 1), ("mute B1 30d", 30 * 24 * 60),
                                               ("mute all 1h30m", 90)])
def test_mute_accepts_one_minute_to_thirty_days(text: str, minutes: int) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, Mute) and parsed.duration == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["mute B1 59s", "mute B1 30d1m", "mute B1 31d", "mute B1 365d", "mute B1 0m"])
def test_mute_refuses_anything_outside_one_minute_to_thirty_days(text: str) -> None:
    with pytest.raises(UsageError, match="from one minute to 30 days"):
        parse_command(text)
