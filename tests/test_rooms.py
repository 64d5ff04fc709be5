"""The rooms and the arrows between them (docs/architecture.md), enforced for every room.

A module may import its own room and the rooms its room's row allows; anything else is a violation.
The checker is tested on planted violations, so it cannot pass vacuously.
"""

from __future__ import annotations

import pytest

from tests.test_structure import import_graph

# room → the other rooms it may import (top-level modules count as rooms of one: settings, context, …).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "redact": set(),
    "gc_pause": set(),
    "domain": {"errors"},
    "settings": {"domain"},
    "adapters": {"domain", "errors", "redact"},
    "services": {"adapters", "domain", "errors", "gc_pause", "redact"},
    "context": {"adapters", "domain", "services", "settings"},
    "serve": {"adapters", "context", "domain", "errors", "redact", "services", "settings"},
    "worker": {"adapters", "context", "domain", "errors", "gc_pause", "redact", "services", "settings"},
    "sim": {"adapters", "domain", "errors"},
    "runtime": {"adapters", "context", "domain", "errors", "redact", "serve", "services", "settings", "worker"},
    "cli": {"adapters", "context", "demo", "domain", "errors", "redact", "runtime", "serve", "services", "settings",
            "thorbot", "worker"},
    "demo": {"adapters", "cli", "context", "domain", "errors", "redact", "runtime", "serve", "services", "settings",
             "sim", "worker"},
    "thorbot": set(),  # the package itself: its version string
}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "thorbot"


def violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imports in sorted(graph.items()):
        mine = room(module)
        if mine not in ALLOWED:
            found.append(f"{module}: room {mine!r} is in no row of the table (docs/architecture.md)")
            continue
        for imported in sorted(imports):
            theirs = room(imported)
            if theirs != mine and theirs not in ALLOWED[mine]:
                found.append(f"{module} imports {imported}: {mine}/ may not import {theirs}")
    return found


def test_every_room_imports_only_what_its_row_allows() -> None:
    assert violations(import_graph()) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"thorbot.serve.cards": {"thorbot.worker.outbox"}}, "serve/ may not import worker"),
    ({"thorbot.worker.loop": {"thorbot.serve.app"}}, "worker/ may not import serve"),
    ({"thorbot.adapters.store": {"thorbot.worker.lease"}}, "adapters/ may not import worker"),
    ({"thorbot.adapters.thor": {"thorbot.services.lookup"}}, "adapters/ may not import services"),
    ({"thorbot.sim.fleet": {"thorbot.serve.web"}}, "sim/ may not import serve"),
    ({"thorbot.sim.chaos": {"thorbot.runtime"}}, "sim/ may not import runtime"),
    ({"thorbot.services.reports": {"thorbot.context"}}, "services/ may not import context"),
    ({"thorbot.domain.card": {"thorbot.adapters.slack"}}, "domain/ may not import adapters"),
    ({"thorbot.plugins.x": set()}, "is in no row"),
])
def test_the_checker_finds_a_planted_violation(graph: dict[str, set[str]], expected: str) -> None:
    [found] = violations(graph)
    assert expected in found


def test_the_architecture_document_lists_every_module() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "architecture.md").read_text()
    missing = [str(p.relative_to(root / "thorbot")) for p in sorted((root / "thorbot").rglob("*.py"))
               if p.name != "__init__.py" and f"`{p.name}`" not in doc]
    assert missing == []
