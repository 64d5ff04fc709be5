"""The suite itself: no test depends on wall time or on what an earlier run left behind."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parent


def test_property_tests_have_no_deadline_and_replay_no_saved_examples() -> None:
    # A loaded CI machine is slow: a deadline would fail by chance, and a saved failing example would then
    # fail every later run in that clone.
    assert settings.default.deadline is None
    assert settings.default.database is None


def test_no_test_sets_a_deadline_of_its_own() -> None:
    for path in TESTS.rglob("*.py"):
        for match in re.finditer(r"@settings\([^)]*deadline\s*=\s*([^,)\s]+)", path.read_text(encoding="utf-8")):
            assert match.group(1) == "None", f"{path.name} sets a Hypothesis deadline: {match.group(0)}"
