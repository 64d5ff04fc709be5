"""The README (read in ten minutes: what thorbot does, the two quick-start commands, every command, deploy) and the
docs site: docs/configuration.md is generated from the settings class and documents every setting."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from tests.settings_doc import REGENERATE, reference_markdown
from thorbot.cli.main import _parser
from thorbot.domain.slash_commands import VERBS, _operations
from thorbot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250


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
    return (ROOT / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)` \|", configuration_table(), flags=re.M)
    names = setting_names()
    for name in names:
        assert name in rows, f"{name} is not in docs/configuration.md: run {REGENERATE}"
    for name in rows:
        assert name in names, f"docs/configuration.md documents {name}, which is no setting: run {REGENERATE}"
    assert len(rows) == len(set(rows))


def test_the_configuration_page_is_what_the_settings_class_makes() -> None:
    assert configuration_table() == reference_markdown(), (
        f"docs/configuration.md differs from thorbot/settings.py's fields: run {REGENERATE}")


def test_every_setting_has_a_description() -> None:
    for python_name, field in Settings.model_fields.items():
        assert field.description and len(field.description) >= 10, f"{python_name}: add description=... to its Field"


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
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for needed in ("thorbot doctor", "manifest.yml", "Signing Secret", "url_verification", "/invite @thorbot",
                   ".env.example", "honcho start", "requirements.txt", "ssl_cert_reqs=none", "thorbot socket",
                   "Messages tab", "compose.yaml", "operations.md#a-vm-step-by-step"):
        assert needed in guide, needed
    assert (ROOT / "requirements.txt").read_text().splitlines()[-1] == "."


def test_the_readme_reads_in_ten_minutes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES, "the README is for a newcomer: move the details to docs/"
    assert "docs/images/report-page.png" in readme and "Apache License 2.0" in readme
    deploy = readme[readme.index("## Deploy"):readme.index("## Read more")]
    for needed in ("Heroku", "container", "VM", "manifest.yml", ".env.example", "thorbot doctor", "/invite @thorbot"):
        assert needed in deploy, needed


def test_the_readme_lists_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    aliases = {"subscriptions", "status", "sticker"}  # other words for list, the card, stickers
    for verb in sorted((set(VERBS) | set(_operations())) - aliases - {"help"}):
        assert re.search(rf"`/chargebox {verb}\b", readme) or f"/ `{verb}`" in readme, f"/chargebox {verb}"
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in commands.items():
        assert f"`thorbot {name}" in readme, f"thorbot {name}"
        for option in sub._option_string_actions:
            if name in ("demo", "report") and option.startswith("--") and option != "--help":
                assert option in readme, f"thorbot {name} {option}"
    for word in ("ev-chart", "--format csv", "--quarter"):
        assert word in readme, word


def test_the_readme_links_to_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r'<img src="([^"]+)"', readme)
    local = [t.split("#")[0] for t in targets if not t.startswith(("http://", "https://", "#"))]
    assert len(local) >= 20
    for target in local:
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
    for target in targets:  # a link into a page of docs/ names a heading that page has
        if target.startswith("docs/") and "#" in target:
            page, anchor = target.split("#")
            headings = re.findall(r"^#+ (.+)$", (ROOT / page).read_text(), flags=re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"README links to {target}: no such heading"


def test_requirements_pin_what_the_lock_pins() -> None:
    lock = {m.group(1).lower(): m.group(2) for m in
            re.finditer(r"^([A-Za-z0-9_.-]+)==([^ ;\\\n]+)", (ROOT / "requirements.lock").read_text(), flags=re.M)}
    pins = {m.group(1).lower(): m.group(2) for m in
            re.finditer(r"^([A-Za-z0-9_.-]+)==([^ ;\n]+)", (ROOT / "requirements.txt").read_text(), flags=re.M)}
    assert pins and all(lock.get(name) == version for name, version in pins.items())


def test_the_version_moves_with_the_changelog() -> None:
    """One version everywhere: the package, `thorbot --version` and the newest release in CHANGELOG.md."""
    import tomllib

    from thorbot import __version__

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (root / "CHANGELOG.md").read_text(), re.M)
    assert project == __version__ == released[0], (project, __version__, released[:1])
