"""Reliability reports for `thorbot serve`, built where they cannot starve the Slack endpoint.

A twelve-month report over thousands of boxes is seconds of CPU. Built on serve's event loop, a few
at once would hold every other user's acknowledgement past Slack's 3 seconds. So:

- a report is built in a separate process (a pool of `processes`, spawned on first use, reading Redis
  itself): the event loop only awaits its result;
- identical requests that overlap share one build, and a finished report is reused for `cache_ttl`
  seconds (the figures of the minute before are as good for a report);
- `inline=True` builds on the loop (the CLI, which has nothing else to answer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, ParamSpec, TypeVar

from thorbot.adapters.history_store import year_start
from thorbot.adapters.report_source import ReportConnection, ReportSource
from thorbot.domain.evchart import Export, evchart
from thorbot.domain.hours import ALWAYS, PostedHours
from thorbot.domain.incidents import BoxRecord
from thorbot.domain.report_view import home_blocks, render_report, report_csv
from thorbot.domain.text import plural
from thorbot.domain.uptime import Period, Report, ReportBuilder, Sessions
from thorbot.domain.uptime_columns import ChunkColumns, add_columns
from thorbot.gc_pause import no_cycle_collection

MUTES_NOTE = ("Mutes no longer count as maintenance: a mute is a channel's choice not to be told. Schedule "
              "maintenance with `/chargebox maintenance`; outages are excluded by their cause.")
OVER_CAP_NOTE = ("Scheduled maintenance beyond the 72 hours a port may exclude in a calendar year counts as outage "
                 "({boxes}).")
CHUNK = 200  # boxes read and measured at a time: a year of a 10,000-box fleet never sits in memory at once
FACTS_WHOLE = 2 * CHUNK  # more boxes than this: their first sightings, names, ports and hours read whole, once


async def gather_report(source: ReportSource, period: Period, now: datetime, box_ids: list[str] | None = None,
                        records: dict[str, BoxRecord] | None = None, hours: PostedHours = ALWAYS) -> Report:
    """Everything a report needs from Redis (history with causes, maintenance windows, open incidents, names,
    session counts), measured by the pure core a chunk of boxes at a time: `box_ids` None means every box
    thorbot has seen. A caller that has just read the box records passes them. `hours`: the posted hours of
    operation (THORBOT_HOURS_OF_OPERATION, in the period's zone)."""
    with no_cycle_collection():
        return await _gather_report(source, period, now, box_ids, records, hours)


async def _gather_report(source: ReportSource, period: Period, now: datetime, box_ids: list[str] | None,
                         records: dict[str, BoxRecord] | None, hours: PostedHours) -> Report:
    history = source.history
    if records is None:
        records = await source.records()
    ids = box_ids if box_ids is not None else sorted(set(await history.box_ids()) | set(records))
    wanted = set(ids)
    open_incidents = {b: [r.incident] for b, r in records.items() if r.incident is not None and b in wanted}
    names = {b: r.alias for b, r in records.items() if r.alias}
    # Unknown time before a box's first sighting is cut away per box (and for the fleet) by the builder.
    unknown = await history.unknown(period.window, now)
    months = period.monthly or not period.label.startswith("last ") or period.window.start < now - timedelta(days=34)
    builder = ReportBuilder(period, unknown, now, with_sessions=True)
    windows = await history.maintenance(datetime.fromtimestamp(year_start(period.window), tz=UTC))
    facts = await history.box_facts() if len(ids) > FACTS_WHOLE else None

    async def read(chunk: list[str]) -> tuple[dict[str, Sessions], ChunkColumns]:
        sessions = await history.sessions(chunk, period.window, monthly=months)
        return sessions, await history.columns(chunk, period.window, open_incidents, names, hours=hours,
                                               maintenance=windows, facts=facts)

    # The next chunk is asked for before this one is awaited: Redis reads it while this one is measured.
    chunks = [ids[start:start + CHUNK] for start in range(0, len(ids), CHUNK)]
    pending = asyncio.ensure_future(read(chunks[0])) if chunks else None
    for k in range(len(chunks)):
        following = asyncio.ensure_future(read(chunks[k + 1])) if k + 1 < len(chunks) else None
        assert pending is not None
        sessions, columns = await pending
        add_columns(builder, columns, sessions)
        pending = following
    report = builder.finish()
    unconfirmed = await history.unconfirmed_reports(period.window, wanted)
    if unconfirmed[0]:
        report = dataclasses.replace(report, unconfirmed=unconfirmed)
    over = sum(1 for b in report.boxes if b.over_cap > 0)
    if over:
        report = dataclasses.replace(report, notes=(*report.notes, OVER_CAP_NOTE.format(boxes=plural(over, "box",
                                                                                                    "boxes"))))
    if await history.mutes(period.window.start):  # once, where it matters: a period with mutes in it
        report = dataclasses.replace(report, notes=(*report.notes, MUTES_NOTE))
    if report.sessions is not None and not report.sessions.attempts:  # no charges seen: omit the figures
        report = dataclasses.replace(report, sessions=None,
                                     boxes=tuple(dataclasses.replace(b, sessions=None) for b in report.boxes))
    return report


async def gather_evchart(source: ReportSource, period: Period, now: datetime, box_ids: list[str] | None = None,
                         hours: PostedHours = ALWAYS, network_provider: str = "") -> Export:
    """The EV-ChART export of a quarter (domain/evchart.py), from Redis alone."""
    history = source.history
    records = await source.records()
    ids = box_ids if box_ids is not None else sorted(set(await history.box_ids()) | set(records))
    wanted = set(ids)
    open_incidents = {b: [r.incident] for b, r in records.items() if r.incident is not None and b in wanted}
    boxes = []
    windows = await history.maintenance(datetime.fromtimestamp(year_start(period.window), tz=UTC))
    for start in range(0, len(ids), CHUNK):
        boxes += await history.histories(ids[start:start + CHUNK], period.window, open_incidents, {},
                                         hours=hours, maintenance=windows)
    return evchart(boxes, period, await history.unknown(period.window, now), now, network_provider)


Key = tuple[object, ...]


def _lower_priority() -> None:
    """In the report process: reports are batch work; the scheduler should prefer everything else (serve).
    And Ctrl-C is serve's to handle: it closes the pool, which ends this process quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(19)


P = ParamSpec("P")
T = TypeVar("T")


class _QuietPool(concurrent.futures.ProcessPoolExecutor):
    """A pool whose processes never see Ctrl-C. A terminal sends SIGINT to the whole foreground process group,
    so a report process would die printing a KeyboardInterrupt traceback, even while it starts (before any
    initializer runs). The pool spawns its processes inside `submit`, from the calling thread: with SIGINT
    blocked in that thread, the child starts with it blocked (the mask survives fork and exec, and Python
    leaves it so). In serve, a SIGINT arriving meanwhile is not lost: another thread takes it, or it waits,
    pending, until the mask is restored."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> concurrent.futures.Future[T]:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


Kind = Literal["message", "csv", "home", "evchart"]


@dataclass(frozen=True)
class CsvFile:
    text: str
    boxes: int
    label: str


def render(kind: Kind, report: Report, options: tuple[str, ...]) -> Any:
    """What leaves the building process: the rendered answer, small to hand back (a 3,000-box Report
    itself would cost serve's loop ~40 ms just to unpickle)."""
    if kind == "message":
        scope, scope_name, period_text = options
        return render_report(report, scope=scope, scope_name=scope_name or None, period_text=period_text)
    if kind == "csv":
        return CsvFile(report_csv(report), len(report.boxes), report.period.label)
    return home_blocks(report)


async def _produce(source: ReportSource, kind: Kind, period: Period, now: Any, box_ids: list[str] | None,
                   options: tuple[str, ...], hours: PostedHours = ALWAYS) -> Any:
    if kind == "evchart":
        return await gather_evchart(source, period, now, box_ids, hours, *options)
    return render(kind, await gather_report(source, period, now, box_ids, hours=hours), options)


def _produce_in_child(connection: ReportConnection, kind: Kind, period: Period, now: Any,
                      box_ids: list[str] | None, options: tuple[str, ...], hours: PostedHours) -> tuple[Any, int]:
    async def build() -> Any:
        async with ReportSource.reconnect(connection) as source:
            return await _produce(source, kind, period, now, box_ids, options, hours)

    return asyncio.run(build()), os.getpid()


class ReportBuilds:
    def __init__(self, source: ReportSource, *, processes: int = 1, cache_ttl: float = 60.0, inline: bool = False,
                 monotonic: Callable[[], float] = time.monotonic, hours: PostedHours = ALWAYS) -> None:
        self.source = source
        self.hours = hours
        self._processes = processes
        self._inline = inline
        self._ttl = cache_ttl
        self._monotonic = monotonic
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._inflight: dict[Key, asyncio.Future[Any]] = {}
        self._cache: dict[Key, tuple[float, Any]] = {}
        self.builds = 0  # how many reports were really built (the rest were shared or cached)
        self.built_in: int | None = None  # the process that built the last one

    async def message(self, period: Period, now: Any, box_ids: list[str] | None, *, scope: str,
                      scope_name: str | None, period_text: str) -> dict[str, Any]:
        """The report as `/chargebox report` shows it."""
        answer: dict[str, Any] = await self._get("message", period, now, box_ids,
                                                 (scope, scope_name or "", period_text))
        return answer

    async def csv(self, period: Period, now: Any, box_ids: list[str] | None) -> CsvFile:
        answer: CsvFile = await self._get("csv", period, now, box_ids, ())
        return answer

    async def evchart(self, period: Period, now: Any, box_ids: list[str] | None, network_provider: str) -> Export:
        answer: Export = await self._get("evchart", period, now, box_ids, (network_provider,))
        return answer

    async def home(self, period: Period, now: Any) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = await self._get("home", period, now, None, ())
        return answer

    async def _get(self, kind: Kind, period: Period, now: Any, box_ids: list[str] | None,
                   options: tuple[str, ...]) -> Any:
        key: Key = (kind, period.window, period.zone, period.monthly,
                    tuple(box_ids) if box_ids is not None else None, options)
        cached = self._cache.get(key)
        if cached is not None and self._monotonic() - cached[0] < self._ttl:
            return cached[1]
        running = self._inflight.get(key)
        if running is None:
            running = asyncio.ensure_future(self._build(key, kind, period, now, box_ids, options))
            self._inflight[key] = running
            running.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(running)

    async def _build(self, key: Key, kind: Kind, period: Period, now: Any, box_ids: list[str] | None,
                     options: tuple[str, ...]) -> Any:
        self.builds += 1
        if self._inline:
            answer, self.built_in = await _produce(self.source, kind, period, now, box_ids, options,
                                                   self.hours), os.getpid()
        else:
            loop = asyncio.get_running_loop()
            answer, self.built_in = await loop.run_in_executor(self._executor(), _produce_in_child,
                                                               self.source.connection(), kind, period, now, box_ids,
                                                               options, self.hours)
        self._cache = {k: v for k, v in self._cache.items() if self._monotonic() - v[0] < self._ttl}
        self._cache[key] = (self._monotonic(), answer)
        return answer

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: serve runs threads (the DNS resolver, Redis) that a forked child would inherit
            # half-held.
            self._pool = _QuietPool(
                max_workers=self._processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority)
        return self._pool

    def warm(self) -> None:
        """Start the report processes now (serve calls this at start): their start-up, a second of imports,
        then never lands in the middle of the first report someone waits for."""
        if not self._inline:
            for _ in range(self._processes):
                self._executor().submit(os.getpid)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
