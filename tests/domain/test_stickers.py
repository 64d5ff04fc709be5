"""Stickers' codes (domain/stickers.py): unguessable, stable, one per box and connector, revocable, unforgeable."""

from __future__ import annotations

import base64
import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thorbot.domain.csv_writer import guard
from thorbot.domain.models import Chargebox, Connector
from thorbot.domain.slash_commands import Stickers, parse_command
from thorbot.domain.stickers import (
    CODE_LENGTH,
    MAC_BYTES,
    belongs_to,
    box_tag,
    code_for,
    find_box,
    labels_csv,
    labels_for,
    public_url_problem,
    read_code,
    sticker_keys,
    sticker_url,
)
from thorbot.errors import UsageError
from thorbot.settings import Settings

KEY = b"sticker-key-for-tests-only-0123456789abcdef"
OTHER_KEY = b"another-sticker-key-for-tests-0123456789abcd"
ODD_IDS = ["EaJ7cU9NJ3YkTNgy", "", " ", "a/b?c#d&e=f", "../../etc", "北京-1", "emoji 🔌", "x" * 500, "nul\x00id",
           "line\nbreak", "=cmd|' /C calc'!A0", "%2F%00", "a,b\"c"]


def located(code: str, boxes: list[str], keys: tuple[bytes, ...] = (KEY,)) -> str | None:
    parsed = read_code(code)
    if parsed is None:
        return None
    return find_box(keys, parsed, [(k, b) for k, key in enumerate(keys) for b in boxes
                                   if box_tag(key, b) == parsed.tag])


def test_a_code_is_short_url_safe_and_carries_at_least_64_unguessable_bits() -> None:
    code = code_for(KEY, "EaJ7cU9NJ3YkTNgy", 1)
    assert len(code) == CODE_LENGTH and code.isascii() and code.isalnum() and code == code.lower()
    assert MAC_BYTES * 8 >= 80  # the MAC alone: 2**80 tries to forge one box's connector
    parsed = read_code(code)
    assert parsed is not None and parsed.connector == 1 and parsed.epoch == 0 and len(parsed.mac) * 8 >= 64


def test_the_same_key_gives_the_same_code_every_time() -> None:
    assert code_for(KEY, "box-1", 2) == code_for(bytes(KEY), "box-1", 2)  # derived: no state, no clock, no random
    assert code_for(KEY, "box-1", 2, 3) == code_for(KEY, "box-1", 2, 3)


def test_codes_differ_per_connector_box_epoch_and_key() -> None:
    codes = {code_for(KEY, box, n, epoch) for box in ("box-1", "box-2", "box-10") for n in (1, 2, 3)
             for epoch in (0, 1)}
    assert len(codes) == 3 * 3 * 2
    assert code_for(KEY, "box-1", 1) != code_for(OTHER_KEY, "box-1", 1)


@pytest.mark.parametrize("box_id", ODD_IDS)
def test_box_ids_with_any_characters_round_trip(box_id: str) -> None:
    others = [b for b in ODD_IDS if b != box_id]
    for n in (1, 7, 255):
        code = code_for(KEY, box_id, n)
        assert located(code, [*others, box_id]) == box_id
        assert located(code, others) is None
        assert read_code(code.upper()) == read_code(code)  # typed off the label in capitals: still the code


def test_a_revoked_epoch_is_a_different_code_still_naming_its_box() -> None:
    old, new = code_for(KEY, "box-1", 1, 0), code_for(KEY, "box-1", 1, 1)
    assert old != new
    old_parsed, new_parsed = read_code(old), read_code(new)
    assert old_parsed is not None and new_parsed is not None
    assert (old_parsed.epoch, new_parsed.epoch) == (0, 1)
    assert belongs_to(KEY, old_parsed, "box-1") and belongs_to(KEY, new_parsed, "box-1")


def test_every_single_character_change_is_rejected() -> None:
    code = code_for(KEY, "box-1", 2)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i in range(len(code)):
        for c in alphabet:
            if c != code[i]:
                assert located(code[:i] + c + code[i + 1:], ["box-1", "box-2"]) is None, (i, c)


def test_a_code_moved_to_another_connector_or_epoch_or_box_is_rejected() -> None:
    parsed = read_code(code_for(KEY, "box-1", 2))
    assert parsed is not None
    raw = bytearray(base64.b32decode(code_for(KEY, "box-1", 2).upper() + "===="))
    for at, value in ((4, 3), (5, 1), (6, 1)):  # connector 2 → 3; epoch 0 → 256; epoch 0 → 1
        forged = bytearray(raw)
        forged[at] = value
        text = base64.b32encode(bytes(forged)).decode().rstrip("=").lower()
        assert located(text, ["box-1"]) is None
    assert not belongs_to(KEY, parsed, "box-2") and not belongs_to(OTHER_KEY, parsed, "box-1")


@pytest.mark.parametrize("text", ["", "a", "0" * CODE_LENGTH, "1" * CODE_LENGTH, "a" * (CODE_LENGTH - 1),
                                  "a" * (CODE_LENGTH + 1), "é" * CODE_LENGTH, "a-" * (CODE_LENGTH // 2),
                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaab"])
def test_things_that_are_not_codes_are_read_as_none(text: str) -> None:
    assert located(text, ["box-1"]) is None


def test_a_code_with_connector_zero_is_not_read() -> None:
    raw = bytes(4) + bytes([0]) + bytes(2) + bytes(10)
    assert read_code(base64.b32encode(raw).decode().rstrip("=").lower()) is None


@given(st.text(max_size=40))
def test_reading_any_text_never_raises(text: str) -> None:
    assert located(text, ["box-1"]) is None


def test_connector_and_epoch_bounds() -> None:
    for bad in (0, 256, -1):
        with pytest.raises(ValueError):
            code_for(KEY, "b", bad)
    with pytest.raises(ValueError):
        code_for(KEY, "b", 1, 65536)


def test_a_rotated_key_reads_codes_of_either_key() -> None:
    old = code_for(OTHER_KEY, "box-1", 1)
    assert located(old, ["box-1"], (KEY, OTHER_KEY)) == "box-1"
    assert located(old, ["box-1"], (KEY,)) is None


def test_sticker_keys_need_32_characters_each() -> None:
    assert sticker_keys("k" * 32) == (b"k" * 32,)
    assert sticker_keys(" " + "a" * 40 + " , " + "b" * 32) == (b"a" * 40, b"b" * 32)
    for bad in ("", "short", "k" * 32 + ",", "k" * 31):
        with pytest.raises(ValueError, match="at least 32"):
            sticker_keys(bad)


@pytest.mark.parametrize(("url", "ok"), [
    ("https://thorbot.example.com", True), ("https://example.com/bot/", True), ("http://127.0.0.1:8080", True),
    ("http://thorbot.example.com", False), ("ftp://x.example", False), ("https://", False),
    ("https://u:p@x.example", False), ("https://x.example/?a=1", False), ("https://x.example/#f", False),
    ("https://x.example:99999", False), ("https://bü.example", False), ("thorbot.example.com", False),
])
def test_public_url(url: str, ok: bool) -> None:
    assert (public_url_problem(url) is None) is ok


def test_labels_and_their_csv() -> None:
    box = Chargebox(id="=HYPERLINK(\"x\")", alias="Torino, Via Roma", connectors=(
        Connector(number=1, type="type_2"), Connector(number=2, type="ccs"), Connector(number=3, type=None)))
    labels = labels_for(box, KEY, 0, "https://bot.example/")
    assert [(label.connector, label.connector_type) for label in labels] == [(1, "Type 2"), (2, "CCS"),
                                                                            (3, "unknown type")]
    assert labels[0].url == sticker_url("https://bot.example", code_for(KEY, box.id, 1))
    assert labels[0].url.startswith("https://bot.example/r/")
    rows = list(csv.reader(io.StringIO(labels_csv(labels))))
    assert rows[0] == ["box_id", "connector", "url"]
    assert rows[1:] == [[guard(box.id), str(label.connector), label.url] for label in labels]
    assert rows[1][0].startswith("'=")  # a box id a spreadsheet would run is text (the one CSV writer's guard)


def test_chargebox_stickers_is_parsed_with_its_box() -> None:
    assert parse_command("stickers EaJ7cU9NJ3YkTNgy") == Stickers("EaJ7cU9NJ3YkTNgy")
    assert parse_command('Sticker "Depot north" letter') == Stickers("Depot north", "letter")
    assert parse_command('stickers "Depot north" A4') == Stickers("Depot north", "a4")
    assert parse_command("stickers letter") == Stickers("letter")  # a box named so
    for text in ("stickers", "stickers all"):
        with pytest.raises(UsageError, match="thorbot stickers all"):
            parse_command(text)


def test_the_sticker_key_is_a_secret_every_log_line_hides() -> None:
    settings = Settings(_env_file=None, sticker_key="a" * 32 + "," + "b" * 40)  # type: ignore[call-arg]
    assert {"a" * 32, "b" * 40} <= set(settings.secret_values())
    assert settings.sticker_keys() == (b"a" * 32, b"b" * 40)
