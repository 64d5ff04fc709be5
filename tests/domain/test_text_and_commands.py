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
from thorbot.domain.text import clean_input, escape, kilowatts, parse_duration, plural
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


FLEET = [Chargebox(id="box-a", alias="Parking lot A – Depot #1"),
         Chargebox(id="box-b", alias="Parking lot B – Depot #1"),
         Chargebox(id="box-c", alias="Tokyo – Hotel garage #1"), Chargebox(id="box-d", alias="Tokyo – Hotel garage #2"),
         Chargebox(id="box-e", alias="Café Müller-Straße"), Chargebox(id="box-f", alias="Depot"),
         Chargebox(id="box-g", alias="Marina North"), Chargebox(id="Zq81xK", alias="Station square")]


@pytest.mark.parametrize(("typed", "expected"), [
    ("parking lot a", ["box-a"]),                 # not B: "a" is a word here, not a letter inside "parking"
    ("Parking Lot A – depot #1", ["box-a"]),      # the exact name
    ("parking lot a - depot #1", ["box-a"]),      # a hyphen for the en dash
    ("depot", ["box-f"]),                         # an exact name wins over names containing it
    ("tokyo hotel", ["box-c", "box-d"]),          # both: the caller asks which
    ("tokyo hotel garage 2", ["box-d"]),          # "#2" and "2" alike
    ("hotel garage #1", ["box-c"]),
    ("CAFÉ MÜLLER STRASSE", ["box-e"]),           # case, accents and ß folded
    ("cafe muller", ["box-e"]),
    ("muller cafe", ["box-e"]),                   # whole words in any order
    ("marina", ["box-g"]),
    ("north", ["box-g"]),
    ("lot", ["box-a", "box-b"]),
    ("tok gar", ["box-c", "box-d"]),              # word starts
    ("Zq81xK", ["Zq81xK"]),                       # the id
    ("zq81", ["Zq81xK"]),                         # the start of an id
    ("park lot c", []),
    ("zzz", []),
])
def test_the_name_matcher(typed: str, expected: list[str]) -> None:
    assert [b.id for b in match_boxes(FLEET, typed)] == expected


@pytest.mark.parametrize(("text", "minutes"), [("mute B1 1m", 1), ("mute B1 30d", 30 * 24 * 60),
                                               ("mute all 1h30m", 90)])
def test_mute_accepts_one_minute_to_thirty_days(text: str, minutes: int) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, Mute) and parsed.duration == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["mute B1 59s", "mute B1 30d1m", "mute B1 31d", "mute B1 365d", "mute B1 0m"])
def test_mute_refuses_anything_outside_one_minute_to_thirty_days(text: str) -> None:
    with pytest.raises(UsageError, match="from one minute to 30 days"):
        parse_command(text)


@pytest.mark.parametrize(("typed", "suggestion"), [("lsit", "`/chargebox list`"), ("subscibe tokyo", "subscribe tokyo"),
                                                  ("reprot 7d", "report 7d"), ("oncal", "oncall")])
def test_a_mistyped_command_gets_a_did_you_mean(typed: str, suggestion: str) -> None:
    with pytest.raises(UsageError, match="Did you mean") as caught:
        parse_command(typed)
    assert suggestion in str(caught.value)


def test_names_are_not_taken_for_typos_and_quotes_force_a_name() -> None:
    for name in ("Lisboa", "Marina", "Depot north", "Milano parking"):
        assert parse_command(name) == ShowCard(name)
    assert parse_command('"lsit"') == ShowCard("lsit")


def test_unquoted_words_are_also_offered_as_one_name() -> None:
    assert parse_command("subscribe tokyo hotel garage") == Subscribe(("tokyo", "hotel", "garage"), False,
                                                                      "tokyo hotel garage")
    assert parse_command('subscribe "tokyo hotel" depot').phrase is None  # type: ignore[union-attr]
    assert parse_command("mute tokyo hotel 2h").phrase == "tokyo hotel"  # type: ignore[union-attr]


def test_one_pluralising_helper() -> None:
    assert [plural(n, "chargebox") for n in (0, 1, 2, 1200)] == ["0 chargeboxes", "1 chargebox", "2 chargeboxes",
                                                                 "1,200 chargeboxes"]
    assert plural(1, "outage") == "1 outage" and plural(3, "box") == "3 boxes"
