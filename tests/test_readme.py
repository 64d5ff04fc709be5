"""The README documents every setting and the two quick-start commands exist."""

from __future__ import annotations

import os
import re
from pathlib import Path

from thorbot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def setting_names() -> list[str]:
    """The environment name of every setting; fails if one has none (then nothing would be checked for it)."""
    names = []
    for python_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = [c for c in getattr(alias, "choices", []) if isinstance(c, str) and c.isupper()]
        assert len(env) == 1, f"setting {python_name} has no environment name"
        names += env
    assert len(names) == len(Settings.model_fields) >= 40
    return names


def configuration_table() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Configuration"):readme.index("## Deploy: put it in your workspace")]


def test_every_setting_is_documented() -> None:
    table = configuration_table()
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.M))
    for name in setting_names():
        assert name in rows, f"{name} is not in the README's configuration table"


def test_quick_start_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    for script in re.findall(r"^\./(scripts/\w+)", readme, flags=re.M):
        assert os.access(ROOT / script, os.X_OK), script
    assert "./scripts/demo" in readme and "./scripts/test" in readme


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    for name in setting_names():
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
