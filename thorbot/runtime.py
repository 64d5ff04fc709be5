"""The one composition root: from Settings, open the outside services (Redis, embedded or REDIS_URL;
Thor; Slack), build the stores and rules once into a frozen AppContext (context.py), and assemble the
processes: `build_serve`, `build_worker`, `build_socket`. cli/, demo/, tests and benchmarks call these;
no other module constructs another room's parts. Every client (Thor, Slack's Web API, the pagers' HTTP, Redis) is
built here, the one-shot commands' too (`doctor_parts`, `status_thor`), and so is the process's one metrics
registry (`AppContext.metrics`): nothing else builds a client or keeps a registry of its own
(tests/test_client_ownership.py). The clock is read here and nowhere in domain/.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.driver_limits import ReportLimits, UploadLimits
from thorbot.adapters.health_store import HealthStore
from thorbot.adapters.metrics import Metrics
from thorbot.adapters.outbound import OutboundPolicy, Resolver, system_resolver
from thorbot.adapters.pager import PagerClient
from thorbot.adapters.redis_server import EmbeddedRedis
from thorbot.adapters.report_source import ReportSource
from thorbot.adapters.secrets_box import SecretBox, SecretsUnavailable
from thorbot.adapters.slack import ResponseUrl, SlackApi
from thorbot.adapters.thor import ThorClient
from thorbot.context import AppContext, Stores, rules_from
from thorbot.domain.backoff import Random
from thorbot.errors import ConfigError, SlackError
from thorbot.redact import register_secret
from thorbot.serve.alert_actions import AlertActions
from thorbot.serve.app import Installed, SlackFeatures, build_app
from thorbot.serve.cards import Cards
from thorbot.serve.causes import Causes
from thorbot.serve.commands import ChargeboxCommand, Subcommands
from thorbot.serve.dispatch import Audit, Guard
from thorbot.serve.home import Home
from thorbot.serve.hours import Hours
from thorbot.serve.maintenance import MaintenanceCommand
from thorbot.serve.oncall import OnCall
from thorbot.serve.pager import PagerDutyWebhook, PagerForms, RotationCommand
from thorbot.serve.report_page import PageSettings, ReportPage
from thorbot.serve.reports import Digests, Reports
from thorbot.serve.stickers import StickersCommand
from thorbot.serve.stop import StopActions
from thorbot.serve.subscriptions import Subscriptions
from thorbot.serve.thor_webhook import ThorWebhook
from thorbot.serve.web import Watch, build_web_app
from thorbot.serve.workflow_steps import StepTiming, WorkflowSteps
from thorbot.services.lookup import Lookup
from thorbot.services.reports import ReportBuilds
from thorbot.settings import Settings
from thorbot.worker.digests import Digester
from thorbot.worker.escalation import Escalator
from thorbot.worker.health import CycleHealth
from thorbot.worker.holds import HeldAlerts
from thorbot.worker.kinds import senders
from thorbot.worker.lease import Lease
from thorbot.worker.loop import Worker
from thorbot.worker.outbox import Outbox
from thorbot.worker.pages import Rotations
from thorbot.worker.poller import Poller
from thorbot.worker.senders import Facts
from thorbot.worker.sessions import SessionWatcher
from thorbot.worker.usage import UsageWatcher

log = logging.getLogger(__name__)
INTERACTIVE_RATE_LIMIT_WAIT = 3.0  # seconds a click may wait for Slack's Retry-After


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


def require(settings: Settings, command: str) -> None:
    """Raise one ConfigError naming every setting `command` needs that is not set."""
    missing = settings.missing_for(command)
    if missing:
        raise ConfigError("not set: " + "; ".join(missing) + ". See docs/configuration.md.")


def thor_client(settings: Settings, *, metrics: Metrics | None = None) -> ThorClient:
    """`metrics`: the registry its calls are counted in (None: not counted, as in the one-shot commands)."""
    require(settings, "status")
    assert settings.thor_api_key is not None
    return ThorClient(settings.thor_api_url, settings.thor_api_key.get_secret_value(),
                      timeout=settings.thor_timeout, retries=settings.thor_retries,
                      max_connections=max(settings.poll_concurrency, 50),
                      max_list_bytes=settings.thor_max_list_mb * 1024 * 1024, metrics=metrics)


def slack_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    # No retry handlers: thorbot.adapters.slack owns 429s and retries (a blind retry after a
    # connection reset could post an alert twice).
    # Inside the lease's margin (worker/lease.py): a post started while the lease held has landed, or
    # given up, before another worker can take the lease over and look for it.
    timeout: Any = settings.call_timeout()  # slack_sdk types it int; aiohttp takes any number of seconds
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, retry_handlers=[], timeout=timeout)


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir)
        url = embedded.start()
    # Every call gives up well inside the leader lease (a fifth of it, at most 10 s): a reply held by the
    # network for longer is not waited for (worker/lease.py).
    timeout = settings.call_timeout()
    client: Redis = Redis.from_url(url, decode_responses=True, socket_timeout=timeout,
                                   socket_connect_timeout=timeout, health_check_interval=30)
    try:
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            embedded.stop()


@contextlib.asynccontextmanager
async def open_context(settings: Settings, *, clock: Callable[[], datetime] = utc_now,
                       resolver: Resolver = system_resolver) -> AsyncIterator[AppContext]:
    """Open what every process shares (Redis, Thor, Slack's Web API) and build the stores and rules once.
    `resolver`: how the outbound URL policy resolves names (tests give a fake one: no real DNS)."""
    for secret in settings.secret_values():
        register_secret(secret)
    try:
        secrets = SecretBox(settings.secrets_key.get_secret_value() if settings.secrets_key else None)
    except SecretsUnavailable as exc:
        raise ConfigError(str(exc)) from None
    own = Metrics()  # the process's one registry (a context per process; tests open several, each counting alone)
    thor = thor_client(settings, metrics=own)
    try:
        async with open_redis(settings) as redis:
            interactive = thor.interactive()
            reports = ReportBuilds(ReportSource(redis), processes=settings.report_processes,
                                   hours=settings.posted_hours)
            try:
                yield AppContext(settings=settings, rules=rules_from(settings), stores=Stores.on(redis), thor=thor,
                                 thor_interactive=interactive, lookup=Lookup(interactive,
                                                                            cache_ttl=settings.name_cache_ttl),
                                 reports=reports, slack=SlackApi(slack_client(settings),
                                                                 rate_limit_wait=INTERACTIVE_RATE_LIMIT_WAIT,
                                                                 metrics=own),
                                 clock=clock, secrets=secrets,
                                 outbound=OutboundPolicy(allow_loopback=settings.allow_loopback_urls,
                                                         resolver=resolver), metrics=own)
            finally:
                reports.close()
    finally:
        await thor.aclose()


@dataclass(frozen=True)
class SlackApp:
    """The Bolt app with every listener, and the pooled response_url poster it answers through."""

    bolt: AsyncApp
    poster: ResponseUrl
    installed: Installed  # the workspace (auth.test), learnt once: `check_slack_token` at start tells it

    async def aclose(self) -> None:
        await self.poster.aclose()


@dataclass(frozen=True)
class ServeProcess:
    """`thorbot serve`: the Slack app behind the HTTP endpoint (with Thor's webhook when configured)."""

    app: SlackApp
    web: web.Application

    async def aclose(self) -> None:
        await self.app.aclose()


def build_slack_app(ctx: AppContext, *, signing_secret: str | None) -> SlackApp:
    """The Slack app; `signing_secret` None means Socket Mode (Slack's requests come over the socket)."""
    poster = ResponseUrl()
    installed = Installed(ctx.slack)
    return SlackApp(build_app(slack_features(ctx, poster), poster, signing_secret, installed), poster, installed)


def slack_features(ctx: AppContext, poster: ResponseUrl) -> SlackFeatures:
    """Every Slack handler of serve/, each given exactly the parts its constructor names (the one place the context
    is unpacked for serve: a new subcommand's or interaction's feature is built here, and registered in
    serve/commands.py's HANDLERS or serve/app.py's `_bind`). `poster`: the pooled response_url poster."""
    settings, stores, rules, slack, clock = ctx.settings, ctx.stores, ctx.rules, ctx.slack, ctx.clock
    thor, lookup, zone = ctx.thor_interactive, ctx.lookup, settings.timezone
    uploads = UploadLimits(stores.redis)
    guard, audit = Guard(settings, stores.oncall, slack), Audit(slack, clock)
    cards = Cards(thor, lookup, stores.sessions, stores.usage, stores.oncall, clock,
                  stale_after=rules.incidents.stale_after, quiet=rules.usage.quiet,
                  offer_stop=settings.stops_enabled(), deadline=settings.interactive_deadline)
    subcommands = Subcommands(
        subscriptions=Subscriptions(stores.subscriptions, stores.records, stores.outbox, stores.oncall, stores.history,
                                    stores.usage, stores.sessions, thor, lookup, slack, clock, limits=rules.incidents,
                                    quiet=rules.usage.quiet, poll_concurrency=settings.poll_concurrency),
        oncall=OnCall(stores.oncall, stores.pagers, stores.history, stores.subscriptions, stores.records, lookup,
                      clock),
        reports=Reports(ctx.reports, stores.history, lookup, stores.digests, uploads, slack, clock, timezone=zone,
                        upload_limit=settings.report_uploads, evchart_provider=settings.evchart_network_provider),
        digests=Digests(stores.digests, slack, clock, timezone=zone),
        rotations=RotationCommand(stores.pagers, stores.oncall, slack, clock, timezone=zone,
                                  operator_groups=frozenset(settings.operator_ids()[1]),
                                  admins_named=any(settings.admin_ids())),
        pagers=PagerForms(stores.pagers, ctx.secrets, ctx.outbound, slack, poster, audit, clock),
        maintenance=MaintenanceCommand(stores.history, stores.subscriptions, stores.records, lookup, clock,
                                       timezone=zone),
        causes=Causes(stores.history, stores.subscriptions, stores.records, lookup, clock, timezone=zone),
        hours=Hours(stores.history, stores.subscriptions, stores.records, lookup, fleet=settings.posted_hours,
                    timezone=zone),
        stickers=StickersCommand(ctx.stickers, stores.subscriptions, stores.records, lookup, thor, uploads, slack,
                                 public_url=settings.public_url, upload_limit=settings.report_uploads))
    return SlackFeatures(
        slack=slack, guard=guard, audit=audit,
        chargebox=ChargeboxCommand(subcommands, cards, guard, audit, stores.worker_status, clock,
                                   poll_interval=settings.poll_interval, deadline=settings.interactive_deadline),
        cards=cards,
        alerts=AlertActions(stores.records, stores.outbox, stores.oncall, stores.pagers, stores.history,
                            stores.sessions, thor, slack, audit, clock, stale_after=rules.incidents.stale_after,
                            runbook_url=settings.runbook_url),
        stops=StopActions(settings, stores.oncall, stores.sessions, stores.records, thor, slack, clock,
                          confirm_within=rules.stop_confirm_within),
        home=Home(stores.subscriptions, stores.records, stores.oncall, stores.usage, stores.sessions,
                  stores.worker_status, ctx.reports, slack, clock, timezone=zone, poll_interval=settings.poll_interval,
                  quiet=rules.usage.quiet),
        steps=WorkflowSteps(lookup, stores.subscriptions, stores.records, stores.sessions, slack, clock,
                            rules.incidents.stale_after,
                            StepTiming()))


# What Slack says of a token it will never accept: the process cannot do its job, so it does not start.
REFUSED_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})


async def check_slack_token(ctx: AppContext, process: str) -> dict[str, Any] | None:
    """auth.test once at start: its answer (for `SlackApp.installed`); a ConfigError (one line, the CLI exits 2)
    when Slack refuses SLACK_BOT_TOKEN; None, after one line in the log, when Slack cannot be reached (the
    process starts anyway: Slack may be back before anything needs it)."""
    try:
        answer, _ = await ctx.slack.auth_info()
    except SlackError as exc:
        if exc.error in REFUSED_TOKEN:
            raise ConfigError(f"Slack refused SLACK_BOT_TOKEN ({exc.error}): copy the Bot User OAuth Token (xoxb-…) "
                              "again from the app's OAuth & Permissions page, reinstalling the app if it was "
                              "revoked; `thorbot doctor` checks it") from None
        log.warning("%s: cannot check SLACK_BOT_TOKEN now (auth.test: %s); starting anyway", process, exc.error)
        return None
    log.info("%s: Slack token of bot @%s in workspace %s", process, answer.get("user", "?"), answer.get("team_id", "?"))
    return answer


def build_serve(ctx: AppContext, *, signing_secret: str) -> ServeProcess:
    app = build_slack_app(ctx, signing_secret=signing_secret)
    webhook = ThorWebhook(ctx.settings, ctx.stores.sessions, ctx.clock) if ctx.settings.thor_webhook_token else None
    secret = ctx.settings.pagerduty_webhook_secret
    stores = ctx.stores
    pagerduty = PagerDutyWebhook(stores.pagers, stores.oncall, stores.records, stores.history, ctx.secrets, ctx.slack,
                                 ctx.clock,
                                 secret.get_secret_value(), runbook_url=ctx.settings.runbook_url) if secret else None
    token = ctx.settings.metrics_token
    watch = Watch(token.get_secret_value() if token else None, cycle_stale_after=5 * ctx.settings.poll_interval,
                  clock=ctx.clock, metrics=ctx.metrics)
    return ServeProcess(app, build_web_app(app.bolt, HealthStore(stores.redis), stores.worker_status, signing_secret,
                                           webhook, pagerduty, watch, _report_page(ctx)))


def _report_page(ctx: AppContext) -> ReportPage | None:
    """The drivers' page behind the stickers (`/r/<code>`): only with a sticker key, which also keys the sources'
    hashes (so every serve process counts a driver the same, and no address is ever stored)."""
    codes, settings = ctx.stickers, ctx.settings
    if codes is None:
        return None
    source_secret = hmac.new(settings.sticker_keys()[0], b"thorbot report-page sources", hashlib.sha256).digest()
    limits = ReportLimits(ctx.redis, per_source=settings.report_limit_per_source,
                          per_connector=settings.report_limit_per_connector)
    page = PageSettings(trusted_proxy_hops=settings.trusted_proxy_hops, help_phone=settings.driver_help_phone,
                        timezone=settings.timezone, source_secret=source_secret)
    return ReportPage(codes, ctx.stores.records, ctx.stores.sessions, limits, page, ctx.clock, ctx.metrics)


def build_worker(ctx: AppContext, *, worker_id: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic, rand: Random = random.random) -> Worker:
    """The poll job and its delivery, every part built here; `rand` jitters the outbox's retries."""
    settings, stores, rules = ctx.settings, ctx.stores, ctx.rules
    worker_id = worker_id or settings.worker_id or uuid.uuid4().hex[:12]
    lease = Lease(f"{worker_id}:{uuid.uuid4().hex}", settings.lease_timing(), monotonic)
    sessions = SessionWatcher(stores.sessions, ctx.thor, rules, finished_every=settings.finished_interval,
                              usage=stores.usage)
    usage = UsageWatcher(stores.usage, ctx.thor, rules.usage)
    poller = Poller(stores, ctx.thor, settings, rules, sessions, usage)
    # No waiting out a 429 in a call: the outbox reschedules instead.
    slack = SlackApi(slack_client(settings), metrics=ctx.metrics)
    facts = Facts(stores, slack, ctx.clock, escalate_max=rules.escalate_max, offer_stop=settings.stops_enabled(),
                  hours=settings.posted_hours, cause_reminder=settings.cause_reminder, runbook=settings.runbook_url)
    pager = PagerClient(settings.pagerduty_events_url, ctx.outbound)
    table = senders(facts, pager, ctx.secrets, rand)
    outbox = Outbox(stores.outbox, slack, ctx.clock, lease, table, min_gap=settings.slack_channel_gap, rand=rand)
    health = CycleHealth(stores.worker_status, stores.records, ctx.metrics, worker_id, ctx.clock,
                         settings.heartbeat_url, ctx.outbound, timeout=min(5.0, settings.lease_timing().redis_timeout))
    return Worker(worker_id, settings, stores, ctx.clock, lease, poller, outbox, Digester(stores),
                  Escalator(stores, rules), Rotations(stores.pagers), health, HeldAlerts(stores),
                  closing=[pager.aclose, health.aclose])


@dataclass(frozen=True)
class SocketProcess:
    """`thorbot socket`: the Slack app over Socket Mode and the worker, in one process."""

    app: SlackApp
    worker: Worker


def build_socket(ctx: AppContext) -> SocketProcess:
    """`thorbot socket`: the Slack app for Socket Mode (no signing secret) and the worker, sharing `ctx`."""
    return SocketProcess(build_slack_app(ctx, signing_secret=None), build_worker(ctx))


@contextlib.asynccontextmanager
async def status_thor(settings: Settings) -> AsyncIterator[ThorClient]:
    """`thorbot status`'s Thor client: the interactive view (a person is waiting: no retries, one overall deadline
    as in Slack), its pool closed when the command is done. A ConfigError when Thor's settings are missing."""
    client = thor_client(settings)
    try:
        yield client.interactive()
    finally:
        await client.aclose()


@dataclass(frozen=True)
class DoctorParts:
    """What `thorbot doctor` checks with. Each client is built here only when its check asks for it (a check whose
    setting is missing builds none) and closed when that check is done; `timeout` bounds each check's calls.
    Doctor's calls are counted in no registry: it is a one-shot command with no `/metrics`."""

    settings: Settings
    timeout: float
    outbound: OutboundPolicy  # the pagers' URLs are checked against it, and the test pages are sent through it

    def redis(self) -> contextlib.AbstractAsyncContextManager[Redis]:
        """Redis (embedded or REDIS_URL), opened afresh: a ConfigError or RedisDown on entry when it cannot be."""
        return open_redis(self.settings)

    def slack(self) -> SlackApi:
        return SlackApi(slack_client(self.settings))

    @contextlib.asynccontextmanager
    async def thor(self) -> AsyncIterator[ThorClient]:
        """Thor with no retries and the check's timeout (when shorter than THOR_TIMEOUT)."""
        key = self.settings.thor_api_key
        if key is None:
            raise ConfigError("not set: THOR_API_KEY")
        client = ThorClient(self.settings.thor_api_url, key.get_secret_value(),
                            timeout=min(self.settings.thor_timeout, self.timeout), retries=0)
        try:
            yield client
        finally:
            await client.aclose()

    @contextlib.asynccontextmanager
    async def pager(self) -> AsyncIterator[PagerClient]:
        client = PagerClient(self.settings.pagerduty_events_url, self.outbound, timeout=self.timeout)
        try:
            yield client
        finally:
            await client.aclose()


def doctor_parts(settings: Settings, *, timeout: float) -> DoctorParts:
    return DoctorParts(settings, timeout, OutboundPolicy(allow_loopback=settings.allow_loopback_urls))
