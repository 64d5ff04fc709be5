from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from thorbot.domain.oncall import OnCall, parse_oncall, snooze_until


@pytest.mark.parametrize(("text", "expected"), [
    ("<@U123ABC|alice>", OnCall(kind="user", id="U123ABC")),
    ("<@W99ZZZ>", OnCall(kind="user", id="W99ZZZ")),
    ("<!subteam^S0ONCALL|@oncall>", OnCall(kind="group", id="S0ONCALL")),
    ("U0ABCDEFG", OnCall(kind="user", id="U0ABCDEFG")),
    ("@alice", None), ("<!channel>", None), ("<#C123|general>", None),
])
def test_parse_oncall(text: str, expected: OnCall | None) -> None:
    assert parse_oncall(text) == expected


def test_mentions() -> None:
    assert OnCall(kind="user", id="U1").mention == "<@U1>"
    assert OnCall(kind="group", id="S1").mention == "<!subteam^S1>"


def test_snooze_until_tomorrow_nine_in_the_box_time_zone() -> None:
    now = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    rome = snooze_until("tomorrow", now, "Europe/Rome")
    assert rome is not None and rome.isoformat() == "2026-11-24T09:00:00+01:00"  # 23:30 in Rome
    tokyo = snooze_until("tomorrow", now, "Asia/Tokyo")
    assert tokyo is not None and tokyo.isoformat() == "2026-11-25T09:00:00+09:00"  # already the 24th in Tokyo
    assert snooze_until("1h", now, None) == now + timedelta(hours=1)
    assert snooze_until("4h", now, "Nowhere/Else") == now + timedelta(hours=4)
    fallback = snooze_until("tomorrow", now, "Nowhere/Else")
    assert fallback is not None and fallback.isoformat() == "2026-11-24T09:00:00+00:00"
