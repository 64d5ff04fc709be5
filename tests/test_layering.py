"""The dependency rule: domain/ is pure; errors.py documents its whole tree."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import thorbot.errors as errors

PKG = Path(__file__).resolve().parents[1] / "thorbot"
FORBIDDEN = ("httpx", "redis", "slack_sdk", "slack_bolt", "aiohttp", "thorbot.adapters", "asyncio", "time")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_imports_no_io_libraries() -> None:
    for path in (PKG / "domain").glob("*.py"):
        for name in imported_modules(path):
            assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), f"{path.name} imports {name}"


def test_domain_never_reads_the_clock() -> None:
    for path in (PKG / "domain").glob("*.py"):
        source = path.read_text()
        assert "datetime.now(" not in source and ".utcnow(" not in source, path.name


def test_every_error_class_is_in_the_docstring_tree() -> None:
    doc = errors.__doc__ or ""
    for name, obj in vars(errors).items():
        if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__:
            assert name in doc, name
