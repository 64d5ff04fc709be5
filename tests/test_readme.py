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


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        for name in [c for c in getattr(alias, "choices", []) if isinstance(c, str) and c.isupper()]:
            assert re.search(rf"^#? ?{name}=", example, flags=re.M), f"{name} is not in .env.example"


def test_the_deployment_guide_covers_each_step() -> None:
    readme = (ROOT / "README.md").read_text()
    guide = readme[readme.index("## Deploy: put it in your workspace"):readme.index("## Thor API assumptions")]
    for needed in ("thorbot doctor", "manifest.yml", "Signing Secret", "url_verification", "/invite @thorbot",
                   ".env.example", "honcho start", "requirements.txt", "ssl_cert_reqs=none", "thorbot socket",
                   "Messages tab"):
        assert needed in guide, needed
    assert (ROOT / "requirements.txt").read_text().splitlines()[-1] == "."


def test_requirements_pin_what_the_lock_pins() -> None:
    lock = {m.group(1).lower(): m.group(2) for m in
            re.finditer(r"^([A-Za-z0-9_.-]+)==([^ ;\\\n]+)", (ROOT / "requirements.lock").read_text(), flags=re.M)}
    pins = {m.group(1).lower(): m.group(2) for m in
            re.finditer(r"^([A-Za-z0-9_.-]+)==([^ ;\n]+)", (ROOT / "requirements.txt").read_text(), flags=re.M)}
    assert pins and all(lock.get(name) == version for name, version in pins.items())
