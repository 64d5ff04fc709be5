"""The house's shape: no import cycles, every Slack listener registered in one file, one Slack adapter."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "thorbot"


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


DYNAMIC = "<a computed name>"  # importlib.import_module / __import__ of a name that is not a literal


@dataclass(frozen=True)
class Imported:
    """One name a module imports, absolute: `a.b` for `import a.b`, and for `from a import b` (where b may be a
    module or a name defined in a, so `parent` records `a`, the module certainly imported)."""

    name: str
    parent: str | None = None


def _absolute(name: str, level: int, module: str, package: bool) -> str:
    if not level:
        return name
    parts = module.split(".") if package else module.split(".")[:-1]  # the package `module` is in (or is)
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _loads_by_name(func: ast.expr) -> bool:
    """`importlib.import_module(...)`, `import_module(...)`, `__import__(...)`, `builtins.__import__(...)`."""
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in ("import_module", "__import__")


def imported(source: str, module: str, package: bool = False) -> set[Imported]:
    """Everything `source` (the text of `module`; `package` if it is an `__init__.py`) imports, anywhere in it:
    at the top, inside functions (lazy), under `if TYPE_CHECKING:`, relative (`from .. import runtime`), and
    loaded by name (`importlib.import_module("thorbot.x")`, `__import__`); a name computed at run time is
    DYNAMIC."""
    found: set[Imported] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(Imported(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, module, package)
            found.update(Imported(f"{base}.{a.name}", base) for a in node.names)
        elif isinstance(node, ast.Call) and _loads_by_name(node.func):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value.lstrip(".")
                found.add(Imported(_absolute(name, len(arg.value) - len(name), module, package)))
            else:
                found.add(Imported(DYNAMIC))
    return found


def imports_of(source: str, module: str, package: bool = False) -> set[str]:
    """Every thorbot name `source` imports (see `imported`), for the graph of modules."""
    names = {n for i in imported(source, module, package) for n in (i.name, i.parent) if n}
    return {name for name in names if name == "thorbot" or name.startswith("thorbot.")}


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in root.rglob("*.py")}
    return {name: {i for i in imports_of(path.read_text(), name, path.name == "__init__.py") if i in modules
                   and i != name}
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
