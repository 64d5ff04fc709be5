"""manifest.yml validates against Slack's schema and declares what the code uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT.parent / "shared" / "reference" / "slack-manifest-schema"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return data


def schema() -> dict[str, Any]:
    # Validate against the versioned file: the dispatcher $refs raw.githubusercontent.com (offline here).
    path = SCHEMA_DIR / "manifest.schema.1.0.0.json"
    if not path.exists():
        path = ROOT / "tests" / "data" / "manifest.schema.1.0.0.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_manifest_matches_slacks_schema() -> None:
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in Draft7Validator(schema()).iter_errors(manifest())]
    assert not errors, errors


def test_slash_command_matches_the_code_and_escapes_mentions() -> None:
    commands = manifest()["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/chargebox"]
    assert commands[0]["should_escape"] is True
    source = (ROOT / "thorbot" / "serve" / "app.py").read_text()
    assert '@app.command("/chargebox")' in source


def test_interactivity_and_scopes_cover_what_the_code_calls() -> None:
    data = manifest()
    assert data["settings"]["interactivity"]["is_enabled"] is True
    scopes = set(data["oauth_config"]["scopes"]["bot"])
    code = "\n".join(p.read_text() for p in (ROOT / "thorbot").rglob("*.py") if "sim" not in p.parts)
    needs = {"chat_postMessage": "chat:write", "chat_update": "chat:write", "conversations_history": "channels:history",
             "conversations_replies": "channels:history", "conversations_open": "im:write",
             "usergroups_users_list": "usergroups:read", "users_conversations": "channels:read",
             "conversations_info": "channels:read"}
    for method, scope in needs.items():
        if re.search(rf"\b{method}\b", code):
            assert scope in scopes, f"{method} needs {scope}"
    assert "commands" in scopes
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in data["settings"]["event_subscriptions"]["bot_events"]


def test_procfile_declares_web_and_worker() -> None:
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert lines["web"].strip() == "thorbot serve"
    assert lines["worker"].strip() == "thorbot worker"


def test_escalation_dms_can_be_read_in_the_messages_tab() -> None:
    """thorbot DMs the on-call person (conversations.open + chat.postMessage): those messages live in the
    app's Messages tab, which must be enabled (read-only: thorbot reads nothing people write there)."""
    home = yaml.safe_load((ROOT / "manifest.yml").read_text())["features"]["app_home"]
    assert home["messages_tab_enabled"] is True and home["messages_tab_read_only_enabled"] is True


def test_every_workflow_step_declared_is_handled_and_the_other_way_round() -> None:
    from thorbot.serve.registry import INTERACTIONS

    declared = set(manifest().get("functions", {}))
    handled = {key.removeprefix("function:") for key in INTERACTIONS if key.startswith("function:")}
    assert declared == handled and declared
