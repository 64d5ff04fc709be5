"""The dependency rule: domain/ is pure; errors.py documents its whole tree.

domain/ may import the standard library (minus I/O, time and dynamic imports), pydantic, and other
domain modules (plus thorbot.errors). It never reads the clock: time comes in as an argument. The
checker below is itself tested on sources that break each rule, so it cannot pass vacuously.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import thorbot.errors as errors

PKG = Path(__file__).resolve().parents[1] / "thorbot"
# Outside services, and stdlib modules that do I/O, sleep, or load code by name.
FORBIDDEN = ("httpx", "redis", "slack_sdk", "slack_bolt", "aiohttp", "ijson", "rich", "prompt_toolkit", "asyncio",
             "time", "socket", "subprocess", "os", "pathlib", "threading", "importlib", "urllib.request",
             "http", "requests")
ALLOWED_THORBOT = ("thorbot.domain", "thorbot.errors")
CLOCK_CALLS = {("datetime", "now"), ("datetime", "today"), ("datetime", "utcnow"), ("date", "today"),
               ("time", "time"), ("time", "monotonic"), ("time", "perf_counter")}


def violations(source: str, module: str = "thorbot.domain.example") -> list[str]:
    """Every way `source` (a domain module) breaks the dependency rule."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                found.append(f"imports {name}")
            elif name.startswith("thorbot") and name != "thorbot" and not name.startswith(ALLOWED_THORBOT):
                found.append(f"imports {name} (above the domain)")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("__import__", "open", "eval", "exec"):
                found.append(f"calls {func.id}()")
            if isinstance(func, ast.Attribute):
                owner = func.value.attr if isinstance(func.value, ast.Attribute) else getattr(func.value, "id", "")
                if (owner, func.attr) in CLOCK_CALLS:
                    found.append(f"reads the clock: {owner}.{func.attr}()")
    return sorted(set(found))


@pytest.mark.parametrize(("source", "expected"), [
    ("import httpx", "imports httpx"),
    ("from redis.asyncio import Redis", "imports redis.asyncio"),
    ("from thorbot import adapters", "imports thorbot.adapters (above the domain)"),
    ("from thorbot.adapters.store import Store", "imports thorbot.adapters.store (above the domain)"),
    ("from thorbot import runtime", "imports thorbot.runtime (above the domain)"),
    ("from ..worker import loop", "imports thorbot.worker (above the domain)"),
    ("import importlib", "imports importlib"),
    ("mod = __import__('thorbot.adapters')", "calls __import__()"),
    ("from datetime import datetime\nx = datetime.now()", "reads the clock: datetime.now()"),
    ("import datetime\nx = datetime.datetime.now()", "reads the clock: datetime.now()"),
    ("from datetime import date\nx = date.today()", "reads the clock: date.today()"),
    ("import time\nx = time.time()", "reads the clock: time.time()"),
    ("x = open('/etc/passwd').read()", "calls open()"),
])
def test_the_checker_catches_each_kind_of_violation(source: str, expected: str) -> None:
    assert expected in violations(source)


def test_the_checker_passes_pure_code() -> None:
    pure = ("from __future__ import annotations\nfrom datetime import UTC, datetime, timedelta\n"
            "from pydantic import BaseModel\nfrom thorbot.domain.text import escape\n"
            "from thorbot.errors import UsageError\n"
            "def later(now: datetime) -> datetime:\n    return now + timedelta(seconds=1)\n")
    assert violations(pure) == []


@pytest.mark.parametrize("path", sorted((PKG / "domain").glob("*.py")), ids=lambda p: p.name)
def test_domain_module_is_pure(path: Path) -> None:
    assert violations(path.read_text(), f"thorbot.domain.{path.stem}") == []


def test_every_error_class_is_in_the_docstring_tree() -> None:
    doc = errors.__doc__ or ""
    for name, obj in vars(errors).items():
        if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__:
            assert name in doc, name
