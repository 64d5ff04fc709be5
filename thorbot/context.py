"""What the processes run on: the stores (built once), the rules (built from the settings once), the
outside clients and the clock. Frozen; only runtime.py builds one. serve/ and worker/ take what they
need from it and construct nothing of another room's."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from thorbot.adapters.digest_store import DigestStore
from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.housekeeping import Housekeeping
from thorbot.adapters.lease_store import LeaseStore
from thorbot.adapters.metrics import Metrics, WorkerStatusStore
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.outbound import OutboundPolicy
from thorbot.adapters.outbox_store import OutboxStore
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.redis_client import Redis
from thorbot.adapters.report_source import ReportSource
from thorbot.adapters.secrets_box import SecretBox
from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.stickers import StickerCodes, StickerEpochs, known_box_ids
from thorbot.adapters.store import CycleCommitter
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.adapters.thor import ThorClient
from thorbot.adapters.usage_store import UsageStore
from thorbot.domain.failed_starts import FailureRules
from thorbot.domain.incidents import Thresholds
from thorbot.domain.rules import Rules, UsageRules
from thorbot.domain.sessions import StallRules
from thorbot.domain.usage import OccupiedRules, QuietRules, SlowRules
from thorbot.services.lookup import Lookup
from thorbot.services.reports import ReportBuilds
from thorbot.settings import Settings


def rules_from(settings: Settings) -> Rules:
    """The one place THORBOT_* seconds become the rules' timedeltas."""
    return Rules(
        incidents=Thresholds(grace=timedelta(seconds=settings.disconnect_grace),
                             stale_after=timedelta(seconds=settings.heartbeat_stale_after),
                             recovery_grace=timedelta(seconds=settings.recovery_grace)),
        stall=StallRules(stall_after=timedelta(seconds=settings.session_stall_after),
                         ignore_first=timedelta(seconds=settings.session_stall_grace),
                         max_age=timedelta(seconds=settings.session_max_age)),
        failures=FailureRules(min_wh=settings.failed_session_wh, count=settings.failed_starts,
                              window=timedelta(seconds=settings.failed_starts_window)),
        escalate_after=timedelta(seconds=settings.escalate_after), escalate_max=settings.escalate_max,
        stop_confirm_within=timedelta(seconds=settings.stop_confirm_within),
        usage=UsageRules(quiet=QuietRules(p_max=settings.quiet_p_max, p_max_alone=settings.quiet_p_max / 100),
                         occupied=OccupiedRules(after=settings.occupied_after),
                         slow=SlowRules(rated_share=settings.slow_rated_share)))


@dataclass(frozen=True)
class Stores:
    """Every Redis store, on one client."""

    redis: Redis
    subscriptions: SubscriptionStore  # which channels watch which boxes
    records: RecordStore    # box records, incidents, where their alerts were posted
    outbox: OutboxStore     # the jobs waiting to be sent, and what their sending left
    lease: LeaseStore       # the leader lease
    cycle: CycleCommitter   # a poll cycle's start and its one fenced commit (several aggregates at once)
    oncall: OnCallStore     # on-call targets, holds (mutes, snoozes), acks, escalations
    sessions: SessionStore  # charging sessions, Thor's notes, remote stops
    history: HistoryStore   # the reliability history
    digests: DigestStore    # digest plans
    usage: UsageStore       # connectors' usage (starts by hour of the week)
    pagers: PagerStore      # each channel's pager and rotation
    stickers: StickerEpochs  # each box's stickers' revocation epoch
    worker_status: WorkerStatusStore  # the worker's figures and last observing cycle, for serve and doctor
    housekeeping: Housekeeping  # the daily sweep of what no TTL bounds
    report_source: ReportSource  # what a report reads (and how a report process reconnects)

    @classmethod
    def on(cls, redis: Redis) -> Stores:
        return cls(redis, SubscriptionStore(redis), RecordStore(redis), OutboxStore(redis), LeaseStore(redis),
                   CycleCommitter(redis), OnCallStore(redis), SessionStore(redis), HistoryStore(redis),
                   DigestStore(redis), UsageStore(redis), PagerStore(redis), StickerEpochs(redis),
                   WorkerStatusStore(redis), Housekeeping(redis),
                   ReportSource(redis))


@dataclass(frozen=True)
class AppContext:
    """`thor` retries (the worker's); `thor_interactive` does not, because a person is waiting. `slack` is
    the Web API for answers people wait for (a 429 may be waited out for a few seconds). `with_settings` and
    `with_clock` keep the same clients and the same `metrics`."""

    settings: Settings
    rules: Rules
    stores: Stores
    thor: ThorClient
    thor_interactive: ThorClient
    lookup: Lookup
    reports: ReportBuilds
    slack: SlackApi
    clock: Callable[[], datetime]
    secrets: SecretBox  # seals and opens the pager keys people paste (THORBOT_SECRETS_KEY)
    outbound: OutboundPolicy  # every URL a person or a setting gives is sent to through it (adapters/outbound.py)
    metrics: Metrics  # the process's one registry: the clients, serve's routes and the worker's health record in it

    @property
    def redis(self) -> Redis:
        return self.stores.redis

    @functools.cached_property
    def stickers(self) -> StickerCodes | None:
        """Stickers' codes (adapters/stickers.py), one resolver per context (it keeps its index of boxes); None
        without THORBOT_STICKER_KEY. Its boxes are the last seen state's."""
        keys = self.settings.sticker_keys()
        redis = self.stores.redis
        return StickerCodes(keys, self.stores.stickers, self.settings.public_url,
                            known=lambda: known_box_ids(redis)) if keys else None

    def with_settings(self, settings: Settings) -> AppContext:
        """The same parts under other settings (a second worker with its own timings, in tests)."""
        return dataclasses.replace(self, settings=settings, rules=rules_from(settings),
                                   outbound=self.outbound.with_loopback(settings.allow_loopback_urls))

    def with_clock(self, clock: Callable[[], datetime]) -> AppContext:
        return dataclasses.replace(self, clock=clock)
