"""A chaos run: the simulated fleet, two real `thorbot worker` processes, and every fault at once.

Boxes drop off and come back on a seeded script while the run SIGKILLs workers (mostly the leader),
restarts Redis, makes Thor answer 500 or hang, and makes Slack answer 429, a proxy's HTML 502, or a
500 *after* storing the post. It also stalls leaders rather than killing them: SIGSTOP for longer
than the lease (then SIGCONT), the network between a worker and Redis held for longer than the lease
and then delivered late, and Redis-only partitions (Slack stays reachable): each worker reaches Redis
through its own stalling TCP proxy (sim/tcp_proxy.py). Then the faults stop, the fleet heals, and the run checks what a
channel saw against what thorbot recorded:

- every incident has exactly one alert per watching channel, naming its box;
- every incident has exactly one recovery per channel, in the thread of that alert;
- every incident matches a scripted outage (no cried wolf), and no incident is left open;
- every "Thor unreachable" notice has its "recovered" notice, each posted once;
- pages (#first pages a fake PagerDuty that answers 503 now and then, or takes an event and answers 500):
  every alert message in #first is exactly one PagerDuty alert (none lost, none doubled: a repeated
  trigger joins it), triggered first and resolved once everything it named resolved; no other alert.

Used by the test suite (short run) and `python -m benchmarks.soak` (long run). Time is real: the
workers are separate processes with their own clocks, so thresholds are seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis as sync_redis
from aiohttp import web

from thorbot.adapters import keys
from thorbot.adapters.redis_server import redis_executable
from thorbot.adapters.secrets_box import SecretBox
from thorbot.domain.incidents import Incident
from thorbot.domain.pager import PagerLink, page_key
from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.pagerduty import FakePagerDuty
from thorbot.sim.slack_server import FakeSlack, SlackMessage
from thorbot.sim.tcp_proxy import StallingProxy
from thorbot.sim.thor_server import PREFIX, FakeThor

THOR_KEY = "chaos-thor-key"
SLACK_TOKEN = "xoxb-chaos"
GRACE, RECOVERY_GRACE, POLL = 1.0, 1.0, 0.25
LEASE_TTL = 1.5
SECRETS_KEY = "Y2hhb3MtcnVuLXNlY3JldHMta2V5LW5vdC1yZWFsLTE="  # a Fernet key for the chaos run only
ROUTING_KEY = "CHAOSROUTINGKEY00000000000000000"
PAGED = "C0FIRST"  # the channel that pages
CLAIM_MARKER = b"HEXISTS"  # in the Lua script of a post's claim (adapters/store.py) and nowhere else


@dataclass(frozen=True)
class ChaosPlan:
    seed: int = 1
    boxes: int = 30
    seconds: float = 20.0
    kill_every: tuple[float, float] = (3.0, 6.0)
    redis_restarts: int = 1
    thor_fault_windows: int = 2
    slack_post_then_fail: float = 0.15
    slack_rate_limited: float = 0.1
    slack_html_502: float = 0.05
    settle_seconds: float = 30.0
    pauses: int = 1        # SIGSTOP of the leader for longer than the lease, then SIGCONT
    stalls: int = 2        # the leader's link to Redis held for longer than the lease, then delivered late
    partitions: int = 1    # a worker's link to Redis cut for a while (Slack stays reachable)
    pager_faults: float = 0.15  # share of PagerDuty requests that fail (half before, half after taking the event)


@dataclass
class ChaosReport:
    plan: ChaosPlan
    outages: int = 0
    incidents: int = 0
    detected_outages: int = 0
    alerts: int = 0
    recoveries: int = 0
    thor_notices: int = 0
    kills: int = 0
    leader_kills: int = 0
    redis_restarts: int = 0
    pauses: int = 0
    stalls: int = 0
    partitions: int = 0
    slack_faults: Counter[str] = field(default_factory=Counter)
    pages: int = 0          # PagerDuty alerts (one per alert message in the paged channel)
    page_repeats: int = 0   # triggers PagerDuty absorbed into an alert already open (retries after a lost answer)
    pager_faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    logs: str = ""

    def summary(self) -> str:
        return (f"seed {self.plan.seed}: {self.plan.boxes} boxes, {self.plan.seconds:.0f} s; {self.outages} outages → "
                f"{self.incidents} incidents, {self.alerts} alerts, {self.recoveries} recoveries, "
                f"{self.thor_notices} Thor notices; {self.kills} worker SIGKILLs ({self.leader_kills} of the leader), "
                f"{self.redis_restarts} Redis restarts, {self.pauses} leader pauses, {self.stalls} stalls and "
                f"{self.partitions} partitions of a worker's Redis link, Slack faults {dict(self.slack_faults)}; "
                f"{self.pages} pages ({self.page_repeats} repeats absorbed), pager faults {dict(self.pager_faults)}; "
                f"{len(self.violations)} violations")


class RedisProcess:
    """A redis-server on a fixed loopback port that can be restarted with its data (AOF + RDB)."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv
            [redis_executable(), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(sync_redis.RedisError), sync_redis.Redis(port=self.port) as client:
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("chaos Redis did not start")

    def stop(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(sync_redis.RedisError), sync_redis.Redis(port=self.port) as client:
            client.shutdown(save=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


class Workers:
    """`thorbot worker` processes, each with a known THORBOT_WORKER_ID so the leader can be found and killed,
    and each reaching Redis through its own stalling proxy."""

    def __init__(self, env: dict[str, str], log_dir: Path, redis_port: int) -> None:
        self.env, self.log_dir, self.redis_port = env, log_dir, redis_port
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.proxies: dict[str, StallingProxy] = {}
        self._count = 0

    async def start(self) -> str:
        self._count += 1
        name = f"w{self._count}"
        proxy = StallingProxy("127.0.0.1", self.redis_port)
        await proxy.start()
        self.proxies[name] = proxy
        log = (self.log_dir / f"{name}.log").open("wb")
        self.running[name] = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "thorbot.cli.main", "worker"],
            env={**self.env, "THORBOT_WORKER_ID": name, "REDIS_URL": proxy.url}, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return name

    async def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()
        await self.proxies.pop(name).stop()

    def pause(self, name: str) -> None:
        self.running[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        if name in self.running:
            self.running[name].send_signal(signal.SIGCONT)

    async def stop_all(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running.clear()
        for proxy in self.proxies.values():
            await proxy.stop()
        self.proxies.clear()

    def logs(self) -> str:
        files = sorted(self.log_dir.glob("*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in files)


class ChaoticSlack(FakeSlack):
    """The fake Slack, with seeded random faults on chat.postMessage."""

    def __init__(self, plan: ChaosPlan, rng: random.Random) -> None:
        super().__init__(SLACK_TOKEN)
        self.plan, self.rng = plan, rng
        self.chaos = False
        self.injected: Counter[str] = Counter()

    async def api(self, request: web.Request) -> web.Response:
        if self.chaos and request.match_info["method"] == "chat.postMessage":
            roll = self.rng.random()
            if roll < self.plan.slack_rate_limited:
                self.injected["429"] += 1
                self.faults.fail_next["chat.postMessage"].append(429)
            elif (roll := roll - self.plan.slack_rate_limited) < self.plan.slack_html_502:
                self.injected["HTML 502"] += 1
                self.faults.raw_next["chat.postMessage"].append((502, "text/html", "<html>502 Bad Gateway</html>"))
            elif roll - self.plan.slack_html_502 < self.plan.slack_post_then_fail:
                self.injected["500 after the post landed"] += 1
                self.faults.post_then_fail += 1
        return await super().api(request)


class ChaoticPagerDuty(FakePagerDuty):
    """The fake PagerDuty, with seeded random faults: 503 before taking an event, or 500 after taking it."""

    def __init__(self, plan: ChaosPlan, rng: random.Random) -> None:
        super().__init__({ROUTING_KEY})
        self.plan, self.rng = plan, rng
        self.chaos = False
        self.injected: Counter[str] = Counter()
        self.seen = 0

    async def enqueue(self, request: web.Request) -> web.Response:
        if self.chaos:
            self.seen += 1
            # The first two requests fail for sure (one after taking its event), so every run exercises both.
            roll = {1: self.plan.pager_faults * 0.75, 2: 0.0}.get(self.seen, self.rng.random())
            if roll < self.plan.pager_faults / 2:
                self.injected["503"] += 1
                self.faults.statuses.append(503)
            elif roll < self.plan.pager_faults:
                self.injected["500 after taking the event"] += 1
                self.faults.land_then.append(500)
        return await super().enqueue(request)


async def run_chaos(plan: ChaosPlan, workdir: Path | None = None) -> ChaosReport:
    """Run the plan end to end and return what was seen, with every violation of the invariants."""
    with tempfile.TemporaryDirectory(prefix="thorbot-chaos-") as tmp:
        return await _run(plan, Path(workdir or tmp))


async def _run(plan: ChaosPlan, tmp: Path) -> ChaosReport:
    rng = random.Random(plan.seed)
    report = ChaosReport(plan)
    fleet = Fleet.generate(plan.boxes, seed=plan.seed, now=datetime.now(tz=UTC))
    thor = FakeThor(fleet, THOR_KEY)
    slack = ChaoticSlack(plan, rng)
    pager = ChaoticPagerDuty(plan, random.Random(plan.seed + 1))
    thor_server = await LoopbackServer(thor.app()).start()
    slack_server = await LoopbackServer(slack.app()).start()
    pager_server = await LoopbackServer(pager.app()).start()
    thor.base_url, slack.base_url, pager.base_url = thor_server.url + PREFIX, slack_server.url, pager_server.url
    redis_proc = RedisProcess(tmp / "redis", _free_port())
    redis_proc.start()
    watchers = _subscribe(redis_proc.url, list(fleet.boxes))
    _connect_pager(redis_proc.url)
    (tmp / "logs").mkdir(exist_ok=True)
    env = {**_worker_env(thor.base_url, slack.base_url, redis_proc.url, tmp), "THORBOT_SECRETS_KEY": SECRETS_KEY,
           "THORBOT_PAGERDUTY_EVENTS_URL": pager.events_url, "THORBOT_ALLOW_LOOPBACK_URLS": "true"}
    workers = Workers(env, tmp / "logs", redis_proc.port)
    outages: dict[str, list[tuple[float, float]]] = defaultdict(list)
    try:
        await workers.start()
        await workers.start()
        await asyncio.sleep(2.0)  # both up, one leads, every box seen online once
        slack.chaos = pager.chaos = True
        story = asyncio.ensure_future(_drive_fleet(fleet, plan, rng, outages))
        await _inflict(plan, rng, report, workers, redis_proc, thor)
        await story
        slack.chaos = pager.chaos = False
        thor.faults.error, thor.faults.hang = None, False
        for proxy in workers.proxies.values():
            proxy.heal()
        for name in list(workers.running):
            workers.resume(name)
        while len(workers.running) < 2:
            await workers.start()
        _heal(fleet)
        await _settle(redis_proc.url, plan.settle_seconds)
        report.slack_faults, report.pager_faults = slack.injected, pager.injected
        _check(report, redis_proc.url, slack.messages, watchers, outages)
        _check_pages(report, redis_proc.url, slack.messages, pager)
    finally:
        await workers.stop_all()
        report.logs = workers.logs()
        redis_proc.stop()
        await pager_server.stop()
        await slack_server.stop()
        await thor_server.stop()
    return report


def _connect_pager(redis_url: str) -> None:
    """#first pages the fake PagerDuty (as `/chargebox pager` would store it)."""
    link = PagerLink(kind="pagerduty", sealed=SecretBox(SECRETS_KEY).seal(ROUTING_KEY))
    with sync_redis.Redis.from_url(redis_url) as client:
        client.hset(keys.PAGERS, PAGED, link.model_dump_json())


def _check_pages(report: ChaosReport, redis_url: str, messages: list[SlackMessage], pager: FakePagerDuty) -> None:
    """Each alert message in the paged channel is one PagerDuty alert, triggered first, resolved when all it named
    resolved; PagerDuty has no other alert."""
    with sync_redis.Redis.from_url(redis_url, decode_responses=True) as client:
        named = {m.ts: json.loads(client.get(keys.message(PAGED, m.ts)) or "[]") for m in messages
                 if m.channel == PAGED and m.thread_ts is None}
        shown = {ts: [Incident.model_validate_json(v) for v in client.mget([keys.incident(i) for i in ids]) if v]
                 for ts, ids in named.items() if ids}
    expected = {page_key(PAGED, ts): incidents for ts, incidents in shown.items()}
    for key, incidents in expected.items():
        alerts = pager.alerts.get(key, [])
        if len(alerts) != 1:
            report.violations.append(f"page {key}: {len(alerts)} PagerDuty alerts (want exactly 1)")
            continue
        events = alerts[0].events
        if not events or events[0] != "trigger":
            report.violations.append(f"page {key}: its first event is {events[:1]} (want the trigger)")
        if all(i.resolved is not None for i in incidents) and alerts[0].status != "resolved":
            report.violations.append(f"page {key}: still {alerts[0].status} after everything it named resolved "
                                     f"(events {events}; {', '.join(i.id for i in incidents)})")
    for key in pager.alerts:
        if key not in expected:
            report.violations.append(f"page {key}: a PagerDuty alert for no alert message")
    report.pages = sum(len(v) for v in pager.alerts.values())
    report.page_repeats = sum(a.triggers - 1 for v in pager.alerts.values() for a in v)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker_env(thor_url: str, slack_url: str, redis_url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({
        "THOR_API_KEY": THOR_KEY, "THOR_API_URL": thor_url, "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_API_URL": slack_url + "/api/", "REDIS_URL": redis_url, "THORBOT_DATA_DIR": str(tmp / "data"),
        "THORBOT_POLL_INTERVAL": str(POLL), "THORBOT_DISCONNECT_GRACE": str(GRACE),
        "THORBOT_RECOVERY_GRACE": str(RECOVERY_GRACE), "THORBOT_HEARTBEAT_STALE_AFTER": "3600",
        "THORBOT_LEASE_TTL": str(LEASE_TTL), "THORBOT_SLACK_CHANNEL_GAP": "0", "THORBOT_THOR_TIMEOUT": "1",
        "THORBOT_THOR_RETRIES": "0", "THORBOT_ESCALATE_AFTER": "0", "THORBOT_THOR_OUTAGE_CYCLES": "3",
        "THORBOT_LOG_LEVEL": "WARNING",
        # A cause reminder is due a day after a recovery: it would sit in the outbox past the run's end.
        "THORBOT_CAUSE_REMINDER": "0",
    })
    return env


def _subscribe(redis_url: str, box_ids: list[str]) -> dict[str, set[str]]:
    """Three channels: two overlapping halves of the fleet and one watching it all; box → channels."""
    third = max(1, len(box_ids) // 3)
    plan = {"C0FIRST": box_ids[: 2 * third], "C0SECOND": box_ids[third:]}
    with sync_redis.Redis.from_url(redis_url) as client:
        for channel, ids in plan.items():
            client.sadd(keys.subs(channel), *ids)
            client.sadd(keys.SUB_CHANNELS, channel)
        client.sadd(keys.SUB_ALL, "C0ALL")
        client.sadd(keys.SUB_CHANNELS, "C0ALL")
    watchers = {box_id: {"C0ALL"} for box_id in box_ids}
    for channel, ids in plan.items():
        for box_id in ids:
            watchers[box_id].add(channel)
    return watchers


async def _drive_fleet(fleet: Fleet, plan: ChaosPlan, rng: random.Random,
                       outages: dict[str, list[tuple[float, float]]]) -> None:
    """Each box drops for 2.5–5 s now and then, with at least 4 s between drops; heartbeats stay fresh."""
    started = time.time()
    next_drop = {box_id: started + rng.uniform(0.5, 12.0) for box_id in fleet.boxes}
    back_at: dict[str, float] = {}
    while time.time() - started < plan.seconds:
        now = time.time()
        for box_id, box in fleet.boxes.items():
            if box_id in back_at and now >= back_at[box_id]:
                box.connected = True
                del back_at[box_id]
                next_drop[box_id] = now + rng.uniform(4.0, 14.0)
            elif box_id not in back_at and now >= next_drop[box_id] and now - started < plan.seconds - 5:
                box.connected = False
                length = rng.uniform(2.5, 5.0)
                back_at[box_id] = now + length
                outages[box_id].append((now, now + length))
            if box.connected:
                box.last_heartbeat = datetime.now(tz=UTC)
        await asyncio.sleep(0.05)
    for box_id in back_at:  # cut short: record when it really came back
        outages[box_id][-1] = (outages[box_id][-1][0], time.time())


async def _inflict(plan: ChaosPlan, rng: random.Random, report: ChaosReport, workers: Workers,
                   redis_proc: RedisProcess, thor: FakeThor) -> None:
    """Kill, pause and cut off workers (mostly the leader), restart Redis and break Thor, on a seeded timeline."""
    started = time.monotonic()
    redis_at = sorted(rng.uniform(0.25, 0.75) * plan.seconds for _ in range(plan.redis_restarts))
    thor_at = sorted(rng.uniform(0.1, 0.8) * plan.seconds for _ in range(plan.thor_fault_windows))
    stall_at = sorted([(rng.uniform(0.1, 0.85) * plan.seconds, "pause") for _ in range(plan.pauses)]
                      + [(rng.uniform(0.1, 0.85) * plan.seconds, "stall") for _ in range(plan.stalls)]
                      + [(rng.uniform(0.1, 0.85) * plan.seconds, "partition") for _ in range(plan.partitions)])
    next_kill = rng.uniform(*plan.kill_every)
    while (elapsed := time.monotonic() - started) < plan.seconds:
        if redis_at and elapsed >= redis_at[0]:
            redis_at.pop(0)
            await asyncio.to_thread(redis_proc.stop)
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            await asyncio.to_thread(redis_proc.start)
            report.redis_restarts += 1
        if thor_at and elapsed >= thor_at[0]:
            thor_at.pop(0)
            if rng.random() < 0.5:
                thor.faults.error, thor.faults.error_status = "InternalServerError", 500
            else:
                thor.faults.hang = True
            await asyncio.sleep(rng.uniform(1.0, 2.5))
            thor.faults.error, thor.faults.hang = None, False
        if stall_at and elapsed >= stall_at[0][0]:
            await _stall(stall_at.pop(0)[1], rng, report, workers, redis_proc)
        if elapsed >= next_kill and workers.running:
            leader = _leader(redis_proc.url)
            victim = leader if leader in workers.running and rng.random() < 0.75 else rng.choice(list(workers.running))
            await workers.kill(victim)
            report.kills += 1
            report.leader_kills += victim == leader
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            await workers.start()
            next_kill = elapsed + rng.uniform(*plan.kill_every)
        await asyncio.sleep(0.1)
    for _, kind in stall_at:  # the timeline ran out before these (each stall takes seconds): run them now
        await _stall(kind, rng, report, workers, redis_proc)


async def _stall(kind: str, rng: random.Random, report: ChaosReport, workers: Workers,
                 redis_proc: RedisProcess) -> None:
    """Freeze the leader (or, for a partition, any worker) for longer than the lease, then let it go on."""
    leader = _leader(redis_proc.url)
    victim = leader if leader in workers.running else (rng.choice(list(workers.running)) if workers.running else None)
    if victim is None:
        return
    length = LEASE_TTL + rng.uniform(0.5, 2.5)
    if kind == "pause":
        workers.pause(victim)
        await asyncio.sleep(length)
        workers.resume(victim)
        report.pauses += 1
    elif kind == "stall":  # connections stay open; everything in flight is delivered late
        # The worst moment for it: while the leader's claim of a post is in flight (Redis grants it; the
        # answer arrives after the lease has moved on). Wait a little for one, else hold whatever flows.
        proxy = workers.proxies[victim]
        proxy.hold_answer_to(CLAIM_MARKER)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proxy.answer_held.wait(), timeout=3.0)
        proxy.hold()
        await asyncio.sleep(length + 1.0)
        proxy.release()
        report.stalls += 1
    else:
        workers.proxies[victim].partition()
        await asyncio.sleep(length)
        workers.proxies[victim].heal()
        report.partitions += 1


def _leader(redis_url: str) -> str | None:
    with contextlib.suppress(sync_redis.RedisError), sync_redis.Redis.from_url(redis_url, socket_timeout=1) as client:
        token = client.get(keys.LEASE)
        return token.decode().split(":", 1)[0] if token else None
    return None


def _heal(fleet: Fleet) -> None:
    for box in fleet.boxes.values():
        box.connected = True
        box.last_heartbeat = datetime.now(tz=UTC)


async def _settle(redis_url: str, seconds: float) -> None:
    """Wait until every incident is resolved and the outbox is empty (or give up after `seconds`)."""
    deadline = time.monotonic() + seconds
    await asyncio.sleep(RECOVERY_GRACE + 3 * POLL)
    while time.monotonic() < deadline:
        with sync_redis.Redis.from_url(redis_url, decode_responses=True) as client:
            records = [json.loads(v) for v in client.hvals(keys.BOXES)]
            if client.hlen(keys.OUTBOX) == 0 and not any(r.get("incident") for r in records):
                await asyncio.sleep(1.0)  # one more round: a recovery may have just been enqueued
                if client.hlen(keys.OUTBOX) == 0:
                    return
        await asyncio.sleep(0.25)


def _check(report: ChaosReport, redis_url: str, messages: list[SlackMessage], watchers: dict[str, set[str]],
           outages: dict[str, list[tuple[float, float]]]) -> None:
    with sync_redis.Redis.from_url(redis_url, decode_responses=True) as client:
        incident_keys = list(client.scan_iter(keys.PREFIX + "incident:*", count=1000))
        values = client.mget(incident_keys) if incident_keys else []
        incidents = [Incident.model_validate_json(v) for v in values if v]
        batches = {m.ts: _batch(client, m) for m in messages}
        pending = client.hlen(keys.OUTBOX)
    report.outages = sum(len(v) for v in outages.values())
    report.incidents = len(incidents)
    if pending:
        report.violations.append(f"{pending} job(s) still undelivered at the end")
    for message in messages:
        if batches[message.ts] is None:
            report.violations.append(f"message {message.ts} in {message.channel} has no delivery record")
    alerts: dict[tuple[str, str], list[SlackMessage]] = defaultdict(list)
    recoveries: dict[tuple[str, str], list[SlackMessage]] = defaultdict(list)
    notices: Counter[tuple[str, str]] = Counter()
    for message in messages:
        batch = batches[message.ts] or {}
        if message.thread_ts is None and any(j.startswith("alert:") for j in batch.get("jobs", [])):
            for incident_id in batch.get("incidents", []):
                alerts[(incident_id, message.channel)].append(message)
        for job_id in batch.get("jobs", []):
            kind = job_id.split(":", 1)[0]
            if kind == "recovery":
                recoveries[(job_id.removeprefix("recovery:").removesuffix(":" + message.channel),
                            message.channel)].append(message)
            elif kind in ("thor_down", "thor_up"):
                notices[(kind, message.channel)] += 1
                report.thor_notices += 1
    for (kind, channel), count in notices.items():
        other = notices[("thor_up" if kind == "thor_down" else "thor_down", channel)]
        if kind == "thor_down" and count != other:
            report.violations.append(f"{channel}: {count} 'Thor unreachable' notices but {other} 'recovered'")
    for incident in incidents:
        _check_incident(report, incident, watchers.get(incident.box_id, set()), alerts, recoveries, outages)
    report.alerts = sum(len(v) for v in alerts.values())
    report.recoveries = sum(len(v) for v in recoveries.values())
    report.detected_outages = len({(i.box_id, start) for i in incidents
                                   if (start := _matching_outage(i, outages)) is not None})


def _check_incident(report: ChaosReport, incident: Incident, channels: set[str],
                    alerts: dict[tuple[str, str], list[SlackMessage]],
                    recoveries: dict[tuple[str, str], list[SlackMessage]],
                    outages: dict[str, list[tuple[float, float]]]) -> None:
    name = f"incident {incident.id}"
    if _matching_outage(incident, outages) is None:
        report.violations.append(f"{name} matches no scripted outage (cried wolf)")
    if incident.resolved is None:
        report.violations.append(f"{name} is still open after the fleet healed")
    for channel in sorted(channels):
        posted = alerts.get((incident.id, channel), [])
        if len(posted) != 1:
            report.violations.append(f"{name}: {len(posted)} alerts in {channel} (want exactly 1)")
            continue
        alert = posted[0]
        shown = str(alert.blocks) + alert.text
        if incident.box_id not in shown and "shows them all" not in shown:  # a storm's group lists 40, counts the rest
            report.violations.append(f"{name}: the alert in {channel} does not name its box")
        if incident.resolved is None:
            continue
        replies = recoveries.get((incident.id, channel), [])
        if len(replies) != 1:
            report.violations.append(f"{name}: {len(replies)} recoveries in {channel} (want exactly 1)")
        elif replies[0].thread_ts != alert.ts:
            report.violations.append(f"{name}: its recovery in {channel} is in another alert's thread")


def _matching_outage(incident: Incident, outages: dict[str, list[tuple[float, float]]]) -> float | None:
    started = incident.started.timestamp()
    for start, end in outages.get(incident.box_id, []):
        if start - 1.0 <= started <= end + 1.0:  # a poll interval of slack either side
            return start
    return None


def _batch(client: sync_redis.Redis, message: SlackMessage) -> dict[str, Any] | None:
    payload = (message.metadata or {}).get("event_payload") or {}
    batch_id = payload.get("batch") if isinstance(payload, dict) else None
    raw = client.get(keys.batch(str(batch_id))) if batch_id else None
    return json.loads(raw) if raw else None
