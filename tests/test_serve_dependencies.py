"""serve/'s handlers get what they need, nothing more (#29): no function or class in thorbot/serve/ takes or stores the
whole AppContext (the composition root, runtime.py, builds each feature with exactly the parts its constructor
names), and serve/ never holds a Redis client or a key name (everything goes through the stores in adapters/).

The checker is a function of a module's source, read with the AST (annotations, imports, lazy imports too), and is
tested on planted violations, so it cannot pass vacuously."""

from __future__ import annotations

import ast

import pytest

from tests.test_structure import PKG, imported, module_name

SERVE = PKG / "serve"
FORBIDDEN_IMPORTS = ("thorbot.adapters.keys", "thorbot.adapters.redis_client", "thorbot.context")
CONTEXT = "AppContext"


def _names(annotation: ast.expr | None) -> set[str]:
    """Every name an annotation mentions: `AppContext`, `ctx.AppContext`, `"AppContext"`, `AppContext | None`."""
    if annotation is None:
        return set()
    found: set[str] = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation
            try:
                found |= _names(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                continue
    return found


def violations(source: str, module: str) -> list[str]:
    """Where `source` (the text of `module`, in serve/) takes or stores the whole context, or reaches Redis's own
    names: a parameter, an annotated attribute or variable, or a return annotated AppContext; an import of
    adapters.keys, adapters.redis_client or the context module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None and CONTEXT in _names(arg.annotation):
                    found.append(f"{module}:{node.lineno} parameter {arg.arg!r} takes the whole {CONTEXT}")
            if not isinstance(node, ast.Lambda) and CONTEXT in _names(node.returns):
                found.append(f"{module}:{node.lineno} {node.name} returns the whole {CONTEXT}")
        elif isinstance(node, ast.AnnAssign) and CONTEXT in _names(node.annotation):
            found.append(f"{module}:{node.lineno} stores the whole {CONTEXT}")
    for name in sorted(i.name for i in imported(source, module)):
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IMPORTS):
            found.append(f"{module} imports {name}")
    return found


@pytest.mark.parametrize("path", sorted(SERVE.glob("*.py")), ids=lambda p: p.name)
def test_serve_takes_only_what_it_uses(path: object) -> None:
    assert isinstance(path, type(SERVE))
    assert violations(path.read_text(), module_name(path)) == []


PLANTED = [
    ("async def f(ctx: AppContext) -> None: ...\n", "parameter 'ctx'"),
    ("def f(*, context: 'AppContext | None' = None) -> None: ...\n", "parameter 'context'"),
    ("import thorbot.context as c\ndef f(x: c.AppContext) -> None: ...\n", "parameter 'x'"),
    ("class H:\n    def __init__(self, ctx: AppContext) -> None:\n        self.ctx = ctx\n", "parameter 'ctx'"),
    ("class H:\n    ctx: AppContext\n", "stores the whole"),
    ("def f() -> AppContext: ...\n", "returns the whole"),
    ("from thorbot.adapters import keys\n", "imports thorbot.adapters.keys"),
    ("from thorbot.adapters.keys import RECENT\n", "imports thorbot.adapters.keys"),
    ("from thorbot.adapters.redis_client import RedisError\n", "imports thorbot.adapters.redis_client"),
    ("def f() -> None:\n    from ..adapters import keys\n", "imports thorbot.adapters.keys"),
    ("from thorbot.context import AppContext\n", "imports thorbot.context"),
]


@pytest.mark.parametrize(("source", "said"), PLANTED)
def test_the_checker_finds_each_planted_violation(source: str, said: str) -> None:
    found = violations(source, "thorbot.serve.planted")
    assert any(said in v for v in found), found


def test_the_checker_passes_explicit_parts() -> None:
    source = ("from thorbot.adapters.record_store import RecordStore\nfrom thorbot.adapters.store import RedisDown\n"
              "class H:\n    def __init__(self, records: RecordStore, *, timezone: str) -> None:\n"
              "        self.records = records\n")
    assert violations(source, "thorbot.serve.planted") == []
