"""The composition root owns every client and the metrics registry (#29). No module of cli/, serve/, worker/ or
services/ builds a client of the outside: Thor's (`ThorClient`), Slack's Web API (`SlackApi`, slack_sdk's
`AsyncWebClient`), the pagers' (`PagerClient`), a bare HTTP client (`httpx.AsyncClient`, `aiohttp.ClientSession`)
or a Redis one (`Redis(...)`, `Redis.from_url`, a pool, the embedded server); runtime.py builds them, the one-shot
commands' too (`doctor_parts`, `status_thor`), and hands them in. Nor is there a process-global `Metrics`: no
module reaches `metrics.current` (or imports `current` from adapters.metrics), and only runtime.py builds a
`Metrics` (`open_context`'s `AppContext.metrics`, handed to the clients, serve's routes and the worker's health).

The checker is a function of a module's source, read with the AST (aliases of imported names too), and is tested
on planted violations, so it cannot pass vacuously."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_structure import PKG, module_name

ROOMS = ("cli", "serve", "worker", "services")
CLIENTS = frozenset({"ThorClient", "SlackApi", "AsyncWebClient", "PagerClient", "AsyncClient", "ClientSession",
                     "Redis", "StrictRedis", "from_url", "from_pool", "ConnectionPool", "EmbeddedRedis"})
ROOT = "thorbot.runtime"


def _aliases(tree: ast.AST) -> dict[str, str]:
    """`from x import Y as Z`: Z stands for Y."""
    return {a.asname: a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            for a in node.names if a.asname}


def _called(node: ast.Call, aliases: dict[str, str]) -> str:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return aliases.get(name, name)


def client_violations(source: str, module: str) -> list[str]:
    """Where `source` (a module of cli/, serve/, worker/ or services/) builds a client itself."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    return [f"{module}:{node.lineno} builds a client ({ast.unparse(node.func)})" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _called(node, aliases) in CLIENTS]


def _is_metrics_module(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "metrics") or \
        (isinstance(node, ast.Attribute) and node.attr == "metrics")


def metrics_violations(source: str, module: str) -> list[str]:
    """Where `source` (any module) reaches a process-global registry (`metrics.current`, `from …metrics import
    current`), or, outside the root, builds a `Metrics`."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "current" and _is_metrics_module(node.value):
            found.append(f"{module}:{node.lineno} reaches a process-global registry ({ast.unparse(node)})")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("metrics") and \
                any(a.name == "current" for a in node.names):
            found.append(f"{module}:{node.lineno} imports a process-global registry (current)")
        elif module.startswith("thorbot.") and module != ROOT and isinstance(node, ast.Call) and \
                _called(node, aliases) == "Metrics":
            found.append(f"{module}:{node.lineno} builds a Metrics (only the root does)")
    return found


def _modules(*rooms: str) -> list[Path]:
    return sorted(p for room in rooms for p in (PKG / room).rglob("*.py"))


TOP = PKG.parent


@pytest.mark.parametrize("path", _modules(*ROOMS), ids=lambda p: str(p.relative_to(PKG)))
def test_no_room_builds_a_client(path: Path) -> None:
    assert client_violations(path.read_text(), module_name(path)) == []


EVERY_MODULE = sorted([*PKG.rglob("*.py"), *(TOP / "tests").rglob("*.py"), *(TOP / "benchmarks").rglob("*.py")])


def test_no_module_keeps_or_reaches_a_process_global_registry() -> None:
    found = [v for path in EVERY_MODULE
             for v in metrics_violations(path.read_text(), ".".join(path.relative_to(TOP).with_suffix("").parts))]
    assert found == []


CLIENT_PLANTED = [
    "thor = ThorClient(settings.thor_api_url, key)\n",
    "slack = SlackApi(slack_client(settings))\n",
    "from slack_sdk.web.async_client import AsyncWebClient\nweb = AsyncWebClient(token='t')\n",
    "pager = PagerClient(url, outbound, timeout=10.0)\n",
    "import httpx\nhttp = httpx.AsyncClient(timeout=5)\n",
    "from httpx import AsyncClient as Http\nhttp = Http()\n",
    "import aiohttp\nsession = aiohttp.ClientSession()\n",
    "from thorbot.adapters.redis_client import Redis\nr = Redis(host='x')\n",
    "def f(url: str) -> object:\n    return Redis.from_url(url)\n",
    "server = EmbeddedRedis(path)\n",
]


@pytest.mark.parametrize("source", CLIENT_PLANTED)
def test_the_client_checker_finds_each_planted_violation(source: str) -> None:
    assert any("builds a client" in v for v in client_violations(source, "thorbot.serve.planted"))


METRICS_PLANTED = [
    ("from thorbot.adapters import metrics\nmetrics.current.slash_ack.observe(1.0)\n", "thorbot.serve.planted"),
    ("import thorbot.adapters.metrics\nthorbot.adapters.metrics.current.exposition()\n", "tests.planted"),
    ("from thorbot.adapters.metrics import current\n", "benchmarks.planted"),
    ("current = Metrics()\n", "thorbot.adapters.metrics"),
    ("from thorbot.adapters import metrics\nOWN = metrics.Metrics()\n", "thorbot.worker.planted"),
]


@pytest.mark.parametrize(("source", "module"), METRICS_PLANTED)
def test_the_metrics_checker_finds_each_planted_violation(source: str, module: str) -> None:
    assert metrics_violations(source, module) != []


def test_the_checkers_pass_what_the_root_hands_in() -> None:
    source = ("from thorbot.adapters.thor import ThorClient\nfrom thorbot.runtime import status_thor\n"
              "async def f(settings, thor: ThorClient) -> None:\n    view = thor.interactive()\n"
              "    async with status_thor(settings) as other:\n        await other.list_raw()\n")
    assert client_violations(source, "thorbot.cli.planted") == []
    assert metrics_violations("own = Metrics()\n", ROOT) == []
    assert metrics_violations("def f(ctx) -> None:\n    ctx.metrics.slash_ack.observe(1.0)\n", "thorbot.serve.x") == []
