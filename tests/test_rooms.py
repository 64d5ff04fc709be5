"""The rooms and the arrows between them (docs/architecture.md), enforced for every room.

A module may import its own room and the rooms its room's row allows, and only the outside packages the
"Outside packages" table gives its room; anything else is a violation. Every import counts: lazy, under
TYPE_CHECKING, relative, and loaded by name (tests/test_structure.py `imported`). The checker is a function of
a module's source, tested on planted violations, so it cannot pass vacuously.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict

import pytest

from tests.test_structure import DYNAMIC, PKG, import_graph, imported, imports_of, module_name

DOC = PKG.parent / "docs" / "architecture.md"

# room → the other rooms it may import (top-level modules count as rooms of one: settings, context, …).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "redact": set(),
    "gc_pause": set(),
    "domain": {"errors"},
    "settings": {"domain", "adapters.redis_client"},  # a module name: that module only
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
        for name in sorted(imports):
            theirs = room(name)
            if theirs != mine and theirs not in ALLOWED[mine] and name.removeprefix("thorbot.") not in ALLOWED[mine]:
                found.append(f"{module} imports {name}: {mine}/ may not import {theirs}")
    return found


def doc_table(heading: str, doc: str | None = None) -> list[list[str]]:
    """The rows (cells) of the first table after `heading` in docs/architecture.md, its header left out."""
    text = doc if doc is not None else DOC.read_text()
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def outside_packages(doc: str | None = None) -> dict[str, set[str]]:
    """The "Outside packages" table: package → the rooms that may import it ("*": every room)."""
    table: dict[str, set[str]] = {}
    for cells in doc_table("### Outside packages", doc):
        rooms = {"*"} if cells[-1] == "every room" else {r.removesuffix("/").removesuffix(".py") for r in
                                                         ticked(cells[-1])}
        table.update((package, rooms) for package in ticked(cells[0]))
    return table


def package_of(name: str, table: dict[str, set[str]]) -> str | None:
    """The table's row for an imported name: the longest package it is or is inside (`aiohttp.web` before
    `aiohttp`); None for the standard library and thorbot."""
    rows = [p for p in table if name == p or name.startswith(p + ".")]
    if rows:
        return max(rows, key=len)
    top = name.split(".")[0]
    return None if top in sys.stdlib_module_names or top == "thorbot" else top


def check_source(source: str, module: str, package: bool = False, modules: set[str] | None = None,
                 table: dict[str, set[str]] | None = None) -> list[str]:
    """Every way `source`, the text of `module`, breaks the room rules: another room its row does not allow, an
    outside package its room may not import, a module loaded by a computed name."""
    known = modules if modules is not None else {module_name(p) for p in PKG.rglob("*.py")}
    table = table if table is not None else outside_packages()
    mine = room(module)
    found = violations({module: {i for i in imports_of(source, module, package) if i in known and i != module}})
    for item in sorted(imported(source, module, package), key=lambda i: i.name):
        if item.name == DYNAMIC:
            found.append(f"{module} loads a module by a computed name")
            continue
        row = package_of(item.name, table)
        if row is not None and not table.get(row, set()) & {mine, "*"}:
            where = "a package in no row of the outside packages table" if row not in table else \
                f"{mine}/ may not import {row}"
            found.append(f"{module} imports {item.name}: {where}")
    return found


def test_every_room_imports_only_what_its_row_allows() -> None:
    assert violations(import_graph()) == []


def test_every_module_imports_only_what_its_room_allows() -> None:
    modules, table = {module_name(p) for p in PKG.rglob("*.py")}, outside_packages()
    found = [v for path in sorted(PKG.rglob("*.py"))
             for v in check_source(path.read_text(), module_name(path), path.name == "__init__.py", modules, table)]
    assert found == []


def test_the_outside_packages_table_keeps_clients_in_adapters() -> None:
    """The issue's rule, whatever the table says: no clients of outside services in the handlers and the job."""
    table = outside_packages()
    for package in ("redis", "httpx", "aiohttp", "slack_sdk"):
        assert not table[package] & {"serve", "worker", "services", "context", "settings", "domain", "*"}, package
    assert "worker" not in table["slack_bolt"] and "worker" not in table["aiohttp.web"]


# Each hole in the rules, planted in a module's source (the real tree is not touched) and caught.
@pytest.mark.parametrize(("module", "source", "expected"), [
    ("thorbot.worker.health", "from .. import runtime\n", "worker/ may not import runtime"),
    ("thorbot.serve.__init__", "from ..worker import loop\n", "serve/ may not import worker"),
    ("thorbot.adapters.store", "from ..services import lookup\n", "adapters/ may not import services"),
    ("thorbot.domain.card", "def f() -> None:\n    from thorbot.adapters import slack\n",
     "domain/ may not import adapters"),
    ("thorbot.services.lookup", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
     "    from thorbot.context import AppContext\n", "services/ may not import context"),
    ("thorbot.worker.loop", "import importlib\nm = importlib.import_module('thorbot.serve.app')\n",
     "worker/ may not import serve"),
    ("thorbot.worker.loop", "import importlib\nm = importlib.import_module('thorbot.serve.app')\n",
     "worker/ may not import importlib"),
    ("thorbot.sim.fleet", "m = __import__('thorbot.runtime')\n", "sim/ may not import runtime"),
    ("thorbot.serve.cards", "def f(name: str) -> object:\n    return __import__(name)\n",
     "loads a module by a computed name"),
    ("thorbot.worker.outbox", "from slack_bolt.async_app import AsyncApp\n", "worker/ may not import slack_bolt"),
    ("thorbot.worker.health", "import httpx\n", "worker/ may not import httpx"),
    ("thorbot.serve.web", "from redis.asyncio import Redis\n", "serve/ may not import redis"),
    ("thorbot.settings", "from redis.connection import parse_url\n", "settings/ may not import redis"),
    ("thorbot.serve.web", "from aiohttp import ClientSession\n", "serve/ may not import aiohttp"),
    ("thorbot.services.reports", "def f() -> None:\n    import redis.asyncio\n", "services/ may not import redis"),
    ("thorbot.settings", "from thorbot.adapters.store import Store\n", "settings/ may not import adapters"),
    ("thorbot.domain.card", "import requests\n", "a package in no row"),
])
def test_the_checker_finds_a_planted_hole(module: str, source: str, expected: str) -> None:
    package = module.endswith(".__init__")
    module = module.removesuffix(".__init__")
    found = check_source(source, module, package)
    assert any(expected in f for f in found), found


def test_the_checker_passes_what_the_rooms_allow() -> None:
    assert check_source("from aiohttp import web\nfrom slack_bolt.async_app import AsyncApp\n"
                        "from thorbot.adapters.redis_client import Redis\n", "thorbot.serve.web") == []
    assert check_source("from thorbot.adapters.redis_client import parse_redis_url\n", "thorbot.settings") == []


def real_arrows() -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = defaultdict(set)
    for module, imports in import_graph().items():
        arrows[room(module)].update(room(i) for i in imports if room(i) != room(module))
    return {mine: theirs for mine, theirs in arrows.items() if theirs}


def listed_arrows(doc: str) -> dict[str, set[str]]:
    """The fenced list under "The arrows that exist" in docs/architecture.md."""
    block = doc[doc.index("The arrows that exist"):].split("```")[1]
    return {mine.strip(): {r.strip() for r in theirs.split(",")}
            for mine, theirs in (line.split("→") for line in block.strip().splitlines())}


def test_the_arrows_the_document_lists_are_the_real_ones() -> None:
    assert listed_arrows(DOC.read_text()) == real_arrows()


def test_the_arrow_check_notices_a_missing_arrow() -> None:
    doc = DOC.read_text().replace("settings → adapters, domain", "settings → domain")
    assert listed_arrows(doc) != real_arrows()


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


def documented_paths(doc: str) -> set[str]:
    """Every module the rooms table names, as a path under thorbot/: a file named in a room's row is in that room
    (`usage.py` in the sim/ row is sim/usage.py, not serve/usage.py)."""
    paths: set[str] = set()
    for cells in doc_table("## The rooms", doc):
        rooms = ticked(cells[0])
        for name in rooms:
            if name.endswith(".py"):
                paths.add(name)
        for folder in (r for r in rooms if r.endswith("/")):
            paths.update(n if "/" in n else folder + n for n in ticked(cells[1]) if n.endswith(".py"))
    return paths


def undocumented(paths: list[str], doc: str) -> list[str]:
    return [p for p in paths if p not in documented_paths(doc)]


def test_the_architecture_document_lists_every_module() -> None:
    paths = [str(p.relative_to(PKG)) for p in sorted(PKG.rglob("*.py")) if p.name != "__init__.py"]
    assert undocumented(paths, DOC.read_text()) == []


def test_the_document_check_compares_paths_not_names() -> None:
    """serve/usage.py shares its name with worker/usage.py and sim/usage.py, both documented: it is still missing."""
    doc = DOC.read_text()
    assert "`usage.py`" in doc
    assert undocumented(["serve/usage.py", "sim/usage.py", "worker/usage.py", "settings.py"], doc) == \
        ["serve/usage.py"]
