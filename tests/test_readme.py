"""The README documents every setting and the two quick-start commands exist."""

from __future__ import annotations

import os
import re
from pathlib import Path

from thorbot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names = [c for c in getattr(alias, "choices", []) if isinstance(c, str) and c.isupper()]
        for name in names:
            assert f"`{name}`" in readme, f"{name} is not in the README's configuration table"


def test_quick_start_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    for script in re.findall(r"^\./(scripts/\w+)", readme, flags=re.M):
        assert os.access(ROOT / script, os.X_OK), script
    assert "./scripts/demo" in readme and "./scripts/test" in readme
