"""The worker: hold the leader lease, poll every interval (with jitter), deliver the outbox.

Only the lease holder polls and delivers, so several `thorbot worker` processes (a deploy overlap
on Heroku) still produce one alert per incident. A standby takes over when the lease expires
(3 × poll interval by default). SIGTERM lets the current cycle finish, then releases the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from thorbot.adapters.store import RedisDown
from thorbot.context import Stores
from thorbot.gc_pause import no_cycle_collection
from thorbot.redact import redact
from thorbot.settings import Settings
from thorbot.worker.digests import Digester
from thorbot.worker.escalation import Escalator
from thorbot.worker.health import CycleHealth
from thorbot.worker.holds import HeldAlerts
from thorbot.worker.lease import Lease, LostLease
from thorbot.worker.outbox import Outbox
from thorbot.worker.pages import Rotations
from thorbot.worker.poller import Poller, PollReport

log = logging.getLogger(__name__)
DELIVERY_TICK = 1.0
SWEEP_CHECK = timedelta(hours=1)
REDIS_BACKOFF_MAX = 30.0


class Worker:
    """One `thorbot worker`: its parts come assembled (runtime.build_worker)."""

    def __init__(self, worker_id: str, settings: Settings, stores: Stores, clock: Callable[[], datetime],
                 lease: Lease, poller: Poller, outbox: Outbox, digester: Digester,
                 escalator: Escalator, rotations: Rotations, health: CycleHealth, held_alerts: HeldAlerts,
                 closing: Sequence[Callable[[], Awaitable[None]]] = ()) -> None:
        self.id = worker_id
        self.settings = settings
        self.lease_store = stores.lease
        self.committer = stores.cycle
        self.housekeeping = stores.housekeeping
        self.clock = clock
        self.lease = lease
        self.token = lease.token
        self.poller = poller
        self.outbox = outbox
        self.digester = digester
        self.escalator = escalator
        self.rotations = rotations
        self.health = health
        self.held_alerts = held_alerts
        self._closing = list(closing)  # what to close when the worker stops (the pager's HTTP client)
        self.is_leader = False
        self._poll_soon = asyncio.Event()
        self.cycles = 0
        self.last_report: PollReport | None = None
        self._next_sweep_check: datetime | None = None

    def poll_soon(self) -> None:
        """Poll at the next turn of the loop rather than at the next interval (the demo, after subscribing)."""
        self._poll_soon.set()

    async def tick(self, *, poll: bool) -> PollReport | None:
        """One step: keep the lease; if leader, poll (when due) and deliver what is due."""
        ttl = self.lease.timing.ttl
        was_leader = self.is_leader
        sent = self.lease.sending()
        self.is_leader = await self.lease_store.hold_lease(self.token, ttl, alive=(self.id, self.clock()))
        if self.is_leader:
            self.lease.renewed(sent)
        else:
            self.lease.lost()
        if self.is_leader and not was_leader:
            log.info("worker %s is now the leader", self.id)
        if not self.is_leader:
            if was_leader:
                self.health.not_leader()
            return None
        report = None
        if poll:
            with no_cycle_collection():
                started = time.perf_counter()
                report = await self.poller.run_once(self.clock(), self.token)
                self.cycles += 1
                self.last_report = report
                await self.health.cycle_done(report, time.perf_counter() - started)
        if self.escalator.rules.escalates:
            await self.escalator.run(self.clock())
        await self.digester.run(self.clock(), self.token)
        await self.rotations.run(self.clock(), self.token, self.committer.commit)
        await self.held_alerts.run(self.clock(), self.token)
        await self._housekeeping()
        try:
            await self.outbox.deliver_due()
        except LostLease:
            self.is_leader = False
            self.lease.lost()
            log.warning("worker %s lost the lease while delivering (paused, cut off, or replaced); it posts nothing "
                        "more and the new leader carries on", self.id)
            return report
        await self.poller.seed_usage(self.clock(), self.token)  # off the poll's path, one bounded Thor call
        return report

    async def _housekeeping(self) -> None:
        """The daily sweep of what no TTL bounds (adapters/housekeeping.py); asked of Redis at most hourly."""
        now = self.clock()
        if self._next_sweep_check is not None and now < self._next_sweep_check:
            return
        self._next_sweep_check = now + SWEEP_CHECK
        if await self.housekeeping.due(self.token):
            swept = await self.housekeeping.sweep(now)
            log.info("daily sweep: %d old history entries, %d long-unwatched boxes, %d connector records, "
                     "%d unwatched boxes' usage removed", swept.history_entries, swept.forgotten_boxes,
                     swept.connectors, swept.usage)

    async def run(self, stop: asyncio.Event) -> None:
        next_poll = time.monotonic()
        interval = self.settings.poll_interval
        redis_down = 0  # consecutive cycles Redis was unreachable: one log line each, exponential backoff
        try:
            while not stop.is_set():
                due = time.monotonic() >= next_poll or self._poll_soon.is_set()
                if due:
                    self._poll_soon.clear()
                try:
                    await self.tick(poll=due)
                    if redis_down:
                        log.info("Redis is reachable again; the worker carries on")
                    redis_down = 0
                except RedisDown as exc:
                    redis_down += 1
                    self.is_leader = False
                    self.lease.lost()
                    # Never longer than the lease: Redis back after a restart or a partition, a standby must
                    # not sit out a long backoff while no worker delivers (a dead leader's lease is long gone).
                    ceiling = max(1.0, min(REDIS_BACKOFF_MAX, self.lease.timing.ttl))
                    backoff = min(ceiling, 2.0 ** (redis_down - 1))
                    log.error("Redis unreachable (%s: %s); retrying in %.0f s", type(exc).__name__,
                              redact(str(exc))[:160], backoff)
                    await _sleep_unless(stop, backoff)
                    continue
                except Exception:
                    log.exception("worker cycle failed; carrying on")
                if due:
                    next_poll = time.monotonic() + interval * random.uniform(0.9, 1.1)
                wait = max(0.05, min(DELIVERY_TICK, next_poll - time.monotonic()))
                await _sleep_unless(stop, wait, wake=self._poll_soon)
        finally:
            if self.is_leader:
                with contextlib.suppress(*RedisDown):
                    await self.lease_store.release_lease(self.token)
                    log.info("worker %s released the lease", self.id)
            await self.aclose()

    async def aclose(self) -> None:
        for close in self._closing:
            with contextlib.suppress(Exception):
                await close()
        self._closing = []


async def _sleep_unless(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    waiters = [asyncio.ensure_future(stop.wait())] + ([asyncio.ensure_future(wake.wait())] if wake else [])
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
