"""Stores by aggregate (#29): services/, worker/ and serve/ take stores, never a Redis client or a key name. No
module there imports `thorbot.adapters.keys`, `thorbot.adapters.redis_client` or redis itself, and none reaches a
`.redis` attribute (a store's client, the context's); every read and write goes through a store of adapters/
(subscription_store, record_store, outbox_store, lease_store, store's CycleCommitter, report_source, …). cli/ opens
Redis only through the composition root (`runtime.open_redis`): it never imports redis nor builds a client.

Explicit exceptions, not converted: cli/ may still hand the root's client to adapters (backup, restore, doctor's
checks, `HealthStore(ctx.redis)`); demo/ (pregenerated history) and sim/ (the chaos rig) write keys directly, as
test rigs do; benchmarks/ seeds Redis directly to measure. Each reaches Redis only through adapters/ or the root.

The checker is a function of a module's source, read with the AST (lazy imports too), and is tested on planted
violations, so it cannot pass vacuously."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_structure import PKG, imported, module_name

ROOMS = ("services", "worker", "serve")
FORBIDDEN_IMPORTS = ("thorbot.adapters.keys", "thorbot.adapters.redis_client", "redis")
CLIENT_MAKERS = ("from_url", "from_pool", "Redis", "StrictRedis", "ConnectionPool")


def _bad(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in forbidden)


def violations(source: str, module: str) -> list[str]:
    """Where `source` (the text of `module`, in services/, worker/ or serve/) reaches Redis but through a store:
    an import of adapters.keys, adapters.redis_client or redis, or any `.redis` attribute."""
    found = [f"{module} imports {i.name}" for i in sorted(imported(source, module), key=lambda i: i.name)
             if _bad(i.name, FORBIDDEN_IMPORTS)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "redis":
            found.append(f"{module}:{node.lineno} reaches a Redis client ({ast.unparse(node)})")
    return found


def cli_violations(source: str, module: str) -> list[str]:
    """Where `source` (a cli/ module) opens Redis itself rather than through runtime.open_redis: an import of redis,
    or a call that builds a client or a pool."""
    found = [f"{module} imports {i.name}" for i in sorted(imported(source, module), key=lambda i: i.name)
             if _bad(i.name, ("redis",))]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in CLIENT_MAKERS:
                found.append(f"{module}:{node.lineno} builds a Redis client ({ast.unparse(func)})")
    return found


def _modules(*rooms: str) -> list[Path]:
    return sorted(p for room in rooms for p in (PKG / room).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(*ROOMS), ids=lambda p: str(p.relative_to(PKG)))
def test_services_worker_and_serve_take_stores_only(path: Path) -> None:
    assert violations(path.read_text(), module_name(path)) == []


@pytest.mark.parametrize("path", _modules("cli"), ids=lambda p: str(p.relative_to(PKG)))
def test_cli_opens_redis_only_through_the_root(path: Path) -> None:
    assert cli_violations(path.read_text(), module_name(path)) == []


PLANTED = [
    ("from thorbot.adapters import keys\n", "imports thorbot.adapters.keys"),
    ("from thorbot.adapters.keys import OUTBOX\n", "imports thorbot.adapters.keys"),
    ("def f() -> None:\n    from ..adapters import keys\n", "imports thorbot.adapters.keys"),
    ("from thorbot.adapters.redis_client import Redis\n", "imports thorbot.adapters.redis_client"),
    ("import redis\n", "imports redis"),
    ("from redis.asyncio import Redis\n", "imports redis"),
    ("async def f(self) -> None:\n    await message_cause(self.store.redis, [])\n", "reaches a Redis client"),
    ("async def f(oncall) -> None:\n    await oncall.redis.hget('k', 'f')\n", "reaches a Redis client"),
    ("def f(ctx) -> object:\n    return ctx.stores.redis\n", "reaches a Redis client"),
]


@pytest.mark.parametrize(("source", "said"), PLANTED)
def test_the_checker_finds_each_planted_violation(source: str, said: str) -> None:
    found = violations(source, "thorbot.worker.planted")
    assert any(said in v for v in found), found


CLI_PLANTED = [
    ("import redis\n", "imports redis"),
    ("from redis.asyncio import Redis\n", "imports redis"),
    ("from thorbot.adapters.redis_client import Redis\nr = Redis(host='x')\n", "builds a Redis client"),
    ("def f(url: str) -> object:\n    return Redis.from_url(url)\n", "builds a Redis client"),
    ("pool = ConnectionPool(host='x')\n", "builds a Redis client"),
]


@pytest.mark.parametrize(("source", "said"), CLI_PLANTED)
def test_the_cli_checker_finds_each_planted_violation(source: str, said: str) -> None:
    found = cli_violations(source, "thorbot.cli.planted")
    assert any(said in v for v in found), found


def test_the_checkers_pass_stores() -> None:
    source = ("from thorbot.adapters.record_store import RecordStore\n"
              "from thorbot.adapters.store import RedisDown\n"
              "class H:\n    def __init__(self, records: RecordStore) -> None:\n        self.records = records\n"
              "    async def f(self) -> None:\n        await self.records.incidents([])\n")
    assert violations(source, "thorbot.worker.planted") == []
    assert cli_violations("from thorbot.runtime import open_redis\nasync def f(s) -> None:\n"
                          "    async with open_redis(s) as redis:\n        print(redis)\n",
                          "thorbot.cli.planted") == []
