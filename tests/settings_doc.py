"""docs/configuration.md, built from the settings class: each field's environment name, default and description.

`./scripts/settings-doc` writes the page; tests/test_readme.py fails while the page differs from what this builds.
A setting's words live in its `Field(description=...)` in thorbot/settings.py, and nowhere else.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from thorbot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "configuration.md"
REGENERATE = "./scripts/settings-doc"

HEADER = f"""# Configuration

<!-- Generated from thorbot/settings.py by {REGENERATE}: change a setting's description there, then run it. -->

Only environment variables (read once at start-up; an invalid value stops thorbot with a message), and `.env`
in the working directory when there is one: a variable present in the environment wins over `.env`, even
when it is empty; an empty value, on either side, means the default; `.env` values are taken as written
(`${{VAR}}` is not expanded) and the file must be UTF-8. [`.env.example`](../.env.example) lists every setting,
commented. `thorbot doctor` checks them all.

| variable | default | meaning |
|---|---|---|
"""

FOOTER = """
Don't set `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET`: Bolt would switch to OAuth mode.

Requests to `POST /slack/events` are verified against `SLACK_SIGNING_SECRET` on the raw body before
anything parses them (an unsigned request costs one short log line and a 401), and requests from a
workspace other than the one the bot token belongs to (`auth.test`) are refused. The Thor key, the
Slack tokens and the Redis password are redacted from every log line; the connectors' Nayax tokens
are dropped as each box is read, so they reach no log, no Slack message and no Redis key.
"""


def env_name(python_name: str, field: FieldInfo) -> str:
    """The one environment name of a setting (its upper-case alias)."""
    names = [c for c in getattr(field.validation_alias, "choices", []) if isinstance(c, str) and c.isupper()]
    if len(names) != 1:
        raise ValueError(f"setting {python_name} has no environment name (validation_alias=_env(...))")
    return names[0]


def shown_default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown_default"), str):
        return str(extra["shown_default"])
    value = field.default
    if value is PydanticUndefined:  # a default_factory: it must say what it makes
        raise ValueError("a setting with a default_factory needs json_schema_extra={'shown_default': ...}")
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return "empty"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def rows() -> list[tuple[str, str, str]]:
    """(environment name, default as shown, description) of every setting, in the class's order."""
    out = []
    for python_name, field in Settings.model_fields.items():
        name = env_name(python_name, field)
        if not field.description:
            raise ValueError(f"setting {name} has no description: add description=... to its Field in "
                             "thorbot/settings.py")
        try:
            default = shown_default(field)
        except ValueError as exc:
            raise ValueError(f"setting {name}: {exc}") from None
        out.append((name, default, field.description))
    return out


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def reference_markdown() -> str:
    """The whole of docs/configuration.md."""
    table = "".join(f"| `{name}` | {_cell(default)} | {_cell(meaning)} |\n" for name, default, meaning in rows())
    return HEADER + table + FOOTER


def main() -> int:
    PAGE.write_text(reference_markdown())
    print(f"{REGENERATE}: wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
