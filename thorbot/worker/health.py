"""What the worker tells the outside about itself after each cycle: metrics, and the dead-man's switch.

- Metrics: the cycle's figures into this process's registry, then the whole exposition into Redis so
  one scrape of `serve` shows them (adapters/metrics.py); when the cycle observed the fleet, its
  completion time also goes to `worker:last_cycle` (the same round trip), read by `/readyz`, App Home and
  `/chargebox help`.
- THORBOT_HEARTBEAT_URL: the leader GETs it after each cycle that observed the fleet (healthchecks.io,
  Cronitor, Dead Man's Snitch): when thorbot stops polling (dead, stuck, or Thor failing), the pings stop
  and that service pages. The URL is a secret (it lets anyone silence the alarm): never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import SecretStr

from thorbot.adapters.metrics import Metrics, WorkerStatusStore
from thorbot.adapters.outbound import OutboundPolicy, Pinger
from thorbot.adapters.record_store import RecordStore
from thorbot.domain.incidents import CONNECTOR_KINDS
from thorbot.errors import UrlRefused
from thorbot.worker.poller import PollReport

log = logging.getLogger(__name__)
RECENT_SCANNED = 200  # the newest incidents read for open connector incidents (box incidents are in the records)


class CycleHealth:
    def __init__(self, status: WorkerStatusStore, records: RecordStore, metrics: Metrics, worker_id: str,
                 clock: Callable[[], datetime], heartbeat_url: SecretStr | None, outbound: OutboundPolicy,
                 timeout: float) -> None:
        self.status, self.records, self.metrics, self.worker_id, self.clock = status, records, metrics, worker_id, clock
        metrics.allow_worker(worker_id)
        self._url = heartbeat_url
        self._pinger = Pinger(outbound, timeout)  # the URL policy at every ping: no redirects, no internal address

    async def cycle_done(self, report: PollReport, seconds: float) -> None:
        observed = report.ok and report.committed
        incidents = dict(report.incidents)
        for incident in await self.records.recent_incidents(RECENT_SCANNED):
            if incident.kind in CONNECTOR_KINDS and incident.resolved is None:
                incidents[incident.kind] = incidents.get(incident.kind, 0) + 1
        now = self.clock().timestamp()
        self.metrics.cycle_done(ok=observed, seconds=seconds, at=now, states=report.states, incidents=incidents)
        self.metrics.leader.labels(self.worker_id).set(1)
        await self.status.publish(self.metrics, last_cycle=now if observed else None)
        if observed and self._url is not None:
            await self._ping(self._url.get_secret_value())

    def not_leader(self) -> None:
        self.metrics.leader.labels(self.worker_id).set(0)

    async def _ping(self, url: str) -> None:
        try:
            outcome = await self._pinger.ping(url)
        except UrlRefused as exc:  # its message names the host, never the URL's secret path
            self.metrics.heartbeats.labels("refused").inc()
            log.warning("THORBOT_HEARTBEAT_URL is not pinged: %s", exc)
            return
        self.metrics.heartbeats.labels(outcome).inc()
        if outcome != "ok":  # the URL itself is a secret: only what went wrong
            log.warning("THORBOT_HEARTBEAT_URL did not take the ping (%s); the dead-man's switch may fire", outcome)

    async def aclose(self) -> None:
        await self._pinger.aclose()

