"""domain/when.py: every duration, time of day and date a person types is read with limits, across daylight
saving, and never raises anything but UsageError. Explicit clocks: nothing here reads the wall time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thorbot.domain.digest import parse_plan, parse_time
from thorbot.domain.maintenance import WindowRequest, parse_window
from thorbot.domain.rotation import parse_until
from thorbot.domain.slash_commands import Mute, parse_command
from thorbot.domain.when import (
    YEAR,
    Bounds,
    check_day,
    local_moment,
    read_clock,
    read_date,
    read_duration,
    read_moment,
    window_end,
)
from thorbot.errors import UsageError

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # a Monday; Rome's clocks change on 2027-03-28 and 2027-10-31
MONTH = timedelta(days=30)


@pytest.mark.parametrize(("text", "expected"), [
    ("2h", timedelta(hours=2)), ("1h30m", timedelta(minutes=90)), ("1d12h", timedelta(hours=36)),
    ("90s", timedelta(seconds=90)), (" 30M ", timedelta(minutes=30)), ("30d", MONTH), ("45min", timedelta(minutes=45)),
    ("soon", None), ("1w", None), ("", None), ("h", None), ("2 h", None),
])
def test_durations_as_typed(text: str, expected: timedelta | None) -> None:
    assert read_duration(text, most=MONTH) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("999999999999d", "at most 30 days"), ("9" * 400 + "m", "at most 30 days"), ("30d1m", "at most 30 days"),
    ("0m", "at least one minute"), ("30s", "at least one minute"), ("-2h", "negative"), ("−2h", "negative"),
    ("١٢h", "digits 0–9"), ("１２h", "digits 0–9"), ("²h", "digits 0–9"),
])
def test_durations_out_of_bounds_say_why(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        read_duration(text, most=MONTH)


@pytest.mark.parametrize(("text", "expected"), [("09:00", time(9)), ("9:05", time(9, 5)), ("23:59", time(23, 59)),
                                                ("00:00", time(0)), ("noon", None), ("0900", None)])
def test_times_of_day(text: str, expected: time | None) -> None:
    assert read_clock(text) == expected


@pytest.mark.parametrize("text", ["24:00", "9:75", "99:99", "١٢:٠٠"])
def test_times_that_do_not_exist_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        read_clock(text)


def test_the_digest_times_are_read_by_the_same_reader() -> None:
    assert [parse_time(t) for t in ("9", "0930", "9.30", "9h30", "21:15")] == ["09:00", "09:30", "09:30", "09:30",
                                                                                "21:15"]
    assert parse_time("٠٩:٣٠") is None and parse_time("24:00") is None  # Python's int() would read the first
    with pytest.raises(UsageError):
        parse_plan(["daily", "٠٩:٣٠"], "UTC")


@pytest.mark.parametrize(("text", "says"), [("2027-02-30", "February 2027 has 28 days"),
                                            ("2028-02-30", "February 2028 has 29 days"),
                                            ("2027-13-01", "no month 13"), ("0000-01-01", "no year 0"),
                                            ("２０２７-０１-０１", "digits 0–9")])
def test_dates_the_calendar_has_not_are_refused(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        read_date(text)


@pytest.mark.parametrize(("day", "says"), [(date(1, 1, 1), "more than a year ago"),
                                           (date(9999, 12, 31), "more than a year ahead")])
def test_far_dates_are_refused_before_any_datetime_is_made_of_them(day: date, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        check_day(day, NOW, ZoneInfo("America/New_York"), Bounds())


def test_a_local_time_the_clocks_skip_is_refused_with_the_reason() -> None:
    with pytest.raises(UsageError) as refused:
        local_moment(date(2027, 3, 28), time(2, 30), ROME)
    assert str(refused.value) == ("02:30 does not exist on 2027-03-28 in Europe/Rome: clocks go forward at 02:00 "
                                  "(to 03:00)")
    with pytest.raises(UsageError, match="clocks go forward at 02:00"):
        local_moment(date(2027, 3, 14), time(2, 0), ZoneInfo("America/New_York"))


def test_a_local_time_the_clocks_pass_twice_is_its_first_occurrence() -> None:
    assert local_moment(date(2027, 10, 31), time(2, 30), ROME) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert local_moment(date(2027, 10, 31), time(3, 0), ROME) == datetime(2027, 10, 31, 2, 0, tzinfo=UTC)


def test_a_window_is_its_length_in_elapsed_time_across_a_change_of_clocks() -> None:
    start = datetime(2027, 10, 31, 2, 30, tzinfo=ROME)  # the first 02:30 (summer time)
    assert window_end(start, timedelta(hours=1)) - start == timedelta(hours=1)
    naive_sum = start + timedelta(hours=1)  # Python adds aware datetimes of one zone like wall clocks…
    assert naive_sum.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=2)  # …03:30 winter time: 2 h


@pytest.mark.parametrize(("words", "expected"), [
    ("Depot 2027-10-31 02:30 1h", (datetime(2027, 10, 31, 0, 30, tzinfo=UTC), timedelta(hours=1))),
    ("Depot 2027-03-28 03:00 1h", (datetime(2027, 3, 28, 1, 0, tzinfo=UTC), timedelta(hours=1))),
    ("Depot 2027-03-27 23:30 4h", (datetime(2027, 3, 27, 22, 30, tzinfo=UTC), timedelta(hours=4))),
    ("Depot 2028-03-01 09:00 1h", (datetime(2028, 3, 1, 8, 0, tzinfo=UTC), timedelta(hours=1))),  # a year ahead
])
def test_maintenance_windows_across_daylight_saving_last_as_typed(words: str,
                                                                 expected: tuple[datetime, timedelta]) -> None:
    request = parse_window(words.split(), ROME, NOW)
    assert isinstance(request, WindowRequest)
    assert (request.start, request.end - request.start) == expected


@pytest.mark.parametrize(("words", "says"), [
    ("Depot 2027-03-28 02:30 1h", "02:30 does not exist on 2027-03-28 in Europe/Rome: clocks go forward at 02:00"),
    ("Depot 9999-12-31 22:00 1h", "more than a year ahead"),
    ("Depot 9999-12-31 23:59 1h", "more than a year ahead"),
    ("Depot 2028-03-03 09:00 1h", "more than a year ahead"),
    ("Depot 0001-01-01 00:00 1h", "has passed already"),
    ("Depot now 999999999999d", "at most 30 days"),
    ("Depot now 0m", "at least one minute"),
    ("Depot now -1h", "negative"),
    ("Depot now ١٢h", "digits 0–9"),
    ("Depot 2027-02-30 09:00 1h", "February 2027 has 28 days"),
    ("Depot tomorrow 24:00 1h", "not a time of day"),
    ("Depot 2027-04-01 ٠٩:٠٠ 1h", "digits 0–9"),
])
def test_maintenance_windows_refused_with_a_reason(words: str, says: str) -> None:
    answer = parse_window(words.split(), ROME, NOW)
    assert isinstance(answer, str) and says in answer


@pytest.mark.parametrize(("text", "says"), [
    ("mute all 999999999999d", "at most 30 days"), ("mute x 0m", "at least one minute"),
    ("mute x -5m", "negative"), ("mute x ١٢h", "digits 0–9"), ("mute x 9999999999999999999999h", "at most 30 days"),
])
def test_mutes_out_of_bounds_are_usage_errors(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse_command(text)


def test_a_mute_within_bounds() -> None:
    assert parse_command("mute all 1d12h") == Mute((), timedelta(hours=36), True, None)


@pytest.mark.parametrize(("words", "says"), [
    ("tomorrow", None), ("fri 18:00", None), ("4h", None),
    ("2027-03-28 02:30", "clocks go forward at 02:00"), ("9999-12-31", "at most 31 days"),
    ("0001-01-01 00:00", "passed already"), ("999999999999h", "at most 31 days"), ("١٢h", "digits 0–9"),
    ("tomorrow 24:00", "not a time of day"), ("2027-02-30", "February 2027 has 28 days"),
])
def test_override_ends_are_bounded(words: str, says: str | None) -> None:
    answer = parse_until(words.split(), ROME, NOW)
    if says is None:
        assert isinstance(answer, datetime) and NOW < answer <= NOW + timedelta(days=31)
    else:
        assert isinstance(answer, str) and says in answer


def test_next_occurrences_skip_to_the_next_day_or_week() -> None:
    local_noon = datetime(2027, 3, 1, 11, 0, tzinfo=ROME).astimezone(UTC)  # Monday 11:00 in Rome
    assert read_moment(["10:00"], ROME, local_noon, Bounds()) == (datetime(2027, 3, 2, 9, tzinfo=UTC), 1)
    assert read_moment(["mon", "10:00"], ROME, local_noon, Bounds()) == (datetime(2027, 3, 8, 9, tzinfo=UTC), 2)
    assert read_moment(["fri"], ROME, local_noon, Bounds(), default_clock=time(9)) == (
        datetime(2027, 3, 5, 8, tzinfo=UTC), 1)
    assert read_moment(["Depot"], ROME, local_noon, Bounds()) is None
    assert YEAR >= timedelta(days=366)


# Anything a person might type: the readers return or refuse with a UsageError, never anything else.
_WORDS = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"-?[0-9١٢３]{0,14}(d|h|m|s|min)?[0-9]{0,14}[dhms]?", fullmatch=True),
    st.from_regex(r"[0-9]{1,4}-[0-9]{1,3}-[0-9]{1,3}", fullmatch=True),
    st.from_regex(r"[0-9١]{1,3}[:.h]?[0-9]{0,3}", fullmatch=True),
    st.sampled_from(["now", "tomorrow", "fri", "mon", "9999-12-31", "0001-01-01", "24:00", "02:30", "2027-03-28"]),
)
_ZONES = st.sampled_from([ROME, ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("UTC"),
                          ZoneInfo("America/St_Johns"), ZoneInfo("Pacific/Pago_Pago")])
_NOWS = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(text=_WORDS)
def test_the_readers_raise_nothing_but_usage_errors(text: str) -> None:
    for read in (lambda t: read_duration(t, most=MONTH), read_clock, lambda t: read_clock(t, loose=True), read_date,
                 parse_time):
        try:
            read(text)
        except UsageError:
            pass


@settings(max_examples=400, deadline=None)
@given(words=st.lists(_WORDS, max_size=5), zone=_ZONES, now=_NOWS)
def test_moments_and_commands_raise_nothing_but_usage_errors(words: list[str], zone: ZoneInfo,
                                                             now: datetime) -> None:
    for bounds in (Bounds(), Bounds(back=timedelta(0), ahead=timedelta(days=31))):
        try:
            read_moment(words, zone, now, bounds, default_clock=time(9))
        except UsageError:
            pass
    assert isinstance(parse_window(["box", *words], zone, now), WindowRequest | str)
    assert isinstance(parse_until(words, zone, now), datetime | str)
    try:
        parse_command("mute box " + " ".join(words))
    except UsageError:
        pass
