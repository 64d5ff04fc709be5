"""The house's shape: no import cycles, every Slack listener registered in one file, one Slack adapter."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "thorbot"


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str) -> set[str]:
    """Every thorbot module `source` imports, at any depth (lazy imports inside functions count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + [node.module])
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from thorbot import adapters`
    return {name for name in found if name.startswith("thorbot")}


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in root.rglob("*.py")}
    return {name: {i for i in imports_of(path.read_text(), name) if i in modules and i != name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_there_is_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    lazy = imports_of("def f():\n    from thorbot.cli.main import main\n", "thorbot.demo.run")
    assert "thorbot.cli.main" in lazy


LISTENER = re.compile(r"\bapp\.(command|action|event|middleware|error|view|shortcut|options|message)\b")


def test_every_slack_listener_is_registered_in_serve_app_py() -> None:
    """serve/app.py wires them; serve/dispatch.py is the one binder (it enforces the registry of ways in)."""
    allowed = {PKG / "serve" / "app.py", PKG / "serve" / "dispatch.py"}
    offenders = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                 if LISTENER.search(p.read_text()) and p not in allowed]
    assert offenders == []


@pytest.mark.parametrize("name", ["SlackApiError", "SlackClientError", "slack_sdk.errors"])
def test_only_the_slack_adapter_knows_slack_sdk_errors(name: str) -> None:
    offenders = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                 if name in p.read_text() and p != PKG / "adapters" / "slack.py"]
    assert offenders == []
