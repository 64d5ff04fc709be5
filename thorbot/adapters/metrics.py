"""Prometheus metrics (prometheus_client): what each process measures, and one exposition for a scrape.

Each process (serve, worker) counts its own calls in its own registry. The worker also writes its
samples to Redis after every completed cycle, so one scrape of `serve` shows the worker's health
too (Heroku's worker dynos take no HTTP): serve merges the two, each sample labelled with the process
it came from. Figures that live in Redis (the outbox) are read at scrape time, so they are never stale.

Names follow Prometheus's conventions: `_total` counters, `_seconds` units, timestamps rather than
ages, no box ids as labels. Every label of every metric takes its values from a fixed set (`Bounded`):
anything else is `other`, so no text from outside (Thor's or Slack's error tokens, an exception's name)
can make a new series. `thorbot_worker_last_cycle_timestamp_seconds` and
`thorbot_incidents_open{kind}` are fixed: dashboards and alert rules lean on them (docs/operations.md).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, get_args

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.incidents import IncidentKind, Status

disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series double every counter's cardinality for no alert anyone writes
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CYCLE = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# What only a worker measures: serve's own (empty) copies are left out of its scrape, so a dashboard never
# reads `process="serve"` zeros as a worker's figures.
WORKER_ONLY = frozenset({"thorbot_worker_last_cycle_timestamp_seconds", "thorbot_worker_cycle_duration_seconds",
                         "thorbot_worker_cycles", "thorbot_boxes", "thorbot_incidents_open", "thorbot_worker_leader",
                         "thorbot_heartbeat_pings"})
WORKER_EXPOSITION_TTL = 3600  # s: a worker gone this long shows nothing rather than old figures

# The fixed sets each label takes its values from; anything else is OTHER.
OTHER = "other"
HTTP_STATUSES = frozenset(f"http_{s}" for s in (400, 401, 403, 404, 405, 408, 409, 410, 413, 415, 422, 429,
                                                 500, 501, 502, 503, 504))
# Thor: the paths adapters/thor.py calls (ids already replaced by thor_endpoint), and how a call ends: ok,
# thor.py's own codes, Thor's documented tokens (thor.KNOWN_CODES: tests/test_operations.py keeps them in here).
THOR_ENDPOINTS = frozenset({"/chargeboxes", "/chargeboxes/{id}", "/charges/running", "/charges/finished",
                            "/charges/stop"})
THOR_OUTCOMES = frozenset({
    "ok", "error", "timeout", "connect", "too_large", "bad_json", "bad_list", "bad_chargebox", "EndpointNotFound",
    "APIKeyNotFound", "RestAPINotEnabled", "InvalidSourceIPAddr", "ChargeboxNotActive", "NotInTransaction",
    "WrongTransaction", "ConnectorNotValid", "AlreadyInTransaction", "ChargeboxNotFree", "ChargeboxNotFound",
    "InternalServerError", "TooManyRequests", "BoundsTooBig", "InvalidDate", "InvalidRequest", *HTTP_STATUSES})
# Slack: the Web API methods thorbot calls, and how a call ends: ok, rate limited, Slack's errors that
# adapters/slack.py knows (slack.PERMANENT: kept in here by a test, and the usual transient ones), the
# exceptions its client raises.
SLACK_METHODS = frozenset({
    "auth.test", "chat.getPermalink", "chat.postMessage", "chat.update", "conversations.history",
    "conversations.info", "conversations.open", "conversations.replies", "files.upload_v2", "usergroups.users.list",
    "usergroups.users.update", "users.conversations", "users.info", "views.open", "views.publish"})
SLACK_OUTCOMES = frozenset({
    "ok", "ratelimited", "unreadable", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive", "msg_too_long",
    "invalid_blocks", "no_permission", "restricted_action", "token_revoked", "missing_scope", "not_authed",
    "invalid_arguments", "user_not_found", "user_disabled", "cannot_dm_bot", "no_such_subteam",
    "message_not_found", "cant_update_message", "not_enabled", "invalid_metadata_format", "team_access_not_granted",
    "ekm_access_denied", "org_login_required", "not_allowed_token_type", "invalid_blocks_format",
    "permission_denied", "invalid_users", "invalid_user", "failed_for_some_users", "no_users_provided",
    "single_channel_guests_cannot_be_added", "ClientConnectorError", "ClientOSError", "ServerDisconnectedError",
    "ServerTimeoutError", "ClientPayloadError", "ClientResponseError", "TimeoutError", "OSError",
    "ConnectionResetError", "ConnectionRefusedError", "ValueError", "AttributeError", *HTTP_STATUSES})
# The dead-man's switch ping: ok, refused by the URL policy, an HTTP status, or httpx's exception.
HEARTBEAT_OUTCOMES = frozenset({
    "ok", "refused", "ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "ReadError",
    "WriteError", "RemoteProtocolError", "LocalProtocolError", "ProxyError", "UnsupportedProtocol",
    "TooManyRedirects", "DecodingError", "TimeoutException", "NetworkError", "TransportError", "HTTPError",
    *HTTP_STATUSES})
CYCLE_OUTCOMES = frozenset({"ok", "thor_error"})
BOX_STATES = frozenset(str(s) for s in Status)
INCIDENT_KINDS = frozenset(get_args(IncidentKind))
PROCESSES = frozenset({"serve", "worker"})
# What became of a submission on the drivers' report page (serve/report_page.py): a flood shows here.
DRIVER_REPORT_OUTCOMES = frozenset({"queued", "limited", "honeypot", "invalid", "too_large", "bad_sticker",
                                    "revoked"})


def bounded(value: str, allowed: Collection[str]) -> str:
    """A label's value: `value` when it is one of the label's fixed set, `other` when not. Every new value is a
    new time series kept for good: 500 different error tokens from Thor were 500 series."""
    return value if value in allowed else OTHER


M = TypeVar("M", bound=MetricWrapperBase)


class Bounded(Generic[M]):
    """A labelled metric whose every label is `bounded` by its fixed set: the one way to a labelled child."""

    def __init__(self, metric: M, *allowed: Collection[str]) -> None:
        if len(allowed) != len(metric._labelnames):
            raise ValueError(f"{metric._name}: a fixed set for each of {metric._labelnames}")
        self.metric, self.allowed = metric, allowed

    def labels(self, *values: str) -> M:
        return self.metric.labels(*(bounded(v, a) for v, a in zip(values, self.allowed, strict=True)))

    def clear(self) -> None:
        self.metric.clear()


class _Timestamp(Collector):
    """A gauge that is absent until set: a timestamp of 0 would read as "55 years ago" (and `absent()` in an
    alert rule could never fire), where "never" is what is true."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation = name, documentation
        self.value: float | None = None

    def set(self, value: float) -> None:
        self.value = value

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterable[Metric]:
        if self.value is None:
            return []
        return [GaugeMetricFamily(self.name, self.documentation, value=self.value)]


class Metrics:
    """One process's instruments, in a registry of its own (tests build several processes in one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.worker_ids: set[str] = set()  # the `worker` label's set: the workers this process runs (allow_worker)
        self.thor_requests = Bounded(Counter("thorbot_thor_requests", "Requests to Thor's API, by endpoint and outcome",
                                             ["endpoint", "outcome"], registry=r), THOR_ENDPOINTS, THOR_OUTCOMES)
        self.thor_seconds = Bounded(Histogram("thorbot_thor_request_duration_seconds", "Thor request latency",
                                              ["endpoint"], buckets=FAST, registry=r), THOR_ENDPOINTS)
        self.slack_requests = Bounded(Counter("thorbot_slack_requests", "Slack Web API calls, by method and outcome",
                                              ["method", "outcome"], registry=r), SLACK_METHODS, SLACK_OUTCOMES)
        self.slack_seconds = Bounded(Histogram("thorbot_slack_request_duration_seconds", "Slack Web API latency",
                                               ["method"], buckets=FAST, registry=r), SLACK_METHODS)
        self.slack_rate_limited = Bounded(Counter("thorbot_slack_rate_limited", "Slack answers of 429 (rate limited)",
                                                  ["method"], registry=r), SLACK_METHODS)
        self.slash_ack = Histogram("thorbot_slash_ack_duration_seconds",
                                   "From a slash command's arrival to its acknowledgement", buckets=FAST, registry=r)
        self.last_cycle = _Timestamp("thorbot_worker_last_cycle_timestamp_seconds",
                                     "When the leader last completed a poll cycle (Unix time)")
        r.register(self.last_cycle)
        self.cycle_seconds = Histogram("thorbot_worker_cycle_duration_seconds", "Poll cycle duration",
                                       buckets=CYCLE, registry=r)
        self.cycles = Bounded(Counter("thorbot_worker_cycles", "Poll cycles completed, by outcome (ok, thor_error)",
                                      ["outcome"], registry=r), CYCLE_OUTCOMES)
        self.boxes = Bounded(Gauge("thorbot_boxes", "Watched chargeboxes by state", ["state"], registry=r), BOX_STATES)
        self.incidents_open = Bounded(Gauge("thorbot_incidents_open", "Open incidents by kind", ["kind"], registry=r),
                                      INCIDENT_KINDS)
        self.leader = Bounded(Gauge("thorbot_worker_leader", "1 while this worker holds the lease", ["worker"],
                                    registry=r), self.worker_ids)
        self.heartbeats = Bounded(Counter("thorbot_heartbeat_pings", "Pings of THORBOT_HEARTBEAT_URL, by outcome",
                                          ["outcome"], registry=r), HEARTBEAT_OUTCOMES)
        self.driver_reports = Bounded(Counter("thorbot_driver_reports", "Report-page submissions, by what became of "
                                              "them (queued, limited, honeypot, …)", ["outcome"], registry=r),
                                      DRIVER_REPORT_OUTCOMES)

    def allow_worker(self, worker_id: str) -> None:
        """A worker this process runs: its id becomes a value of the `worker` label (its own setting, not outside
        text; one per worker built)."""
        self.worker_ids.add(worker_id)

    def thor_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        self.thor_requests.labels(endpoint, outcome).inc()
        self.thor_seconds.labels(endpoint).observe(seconds)

    def slack_call(self, method: str, outcome: str, seconds: float) -> None:
        self.slack_requests.labels(method, outcome).inc()
        self.slack_seconds.labels(method).observe(seconds)
        if outcome == "ratelimited":
            self.slack_rate_limited.labels(method).inc()

    def cycle_done(self, *, ok: bool, seconds: float, at: float, states: Mapping[str, int],
                   incidents: Mapping[str, int]) -> None:
        self.cycles.labels("ok" if ok else "thor_error").inc()
        self.cycle_seconds.observe(seconds)
        if ok:
            self.last_cycle.set(at)
        for gauge, figures in ((self.boxes, states), (self.incidents_open, incidents)):
            gauge.clear()  # a state or kind that went away must not keep its last figure
            for label, count in figures.items():
                gauge.labels(label).set(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> bytes:
        """The registry's samples as compact JSON, for serve to merge (`families`): a third of the cost of the
        text exposition, which matters because the worker writes it after every cycle."""
        return orjson.dumps([[f.name, f.documentation, f.type, f.unit,
                              [[s.name, s.labels, s.value] for s in f.samples]] for f in self.registry.collect()])


def families(raw: bytes | str) -> Iterator[Metric]:
    """Metric families from a `snapshot` (or, from a worker not yet upgraded, a text exposition)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    if not text.startswith("["):
        yield from text_string_to_metric_families(text)
        return
    try:
        parsed = [(Metric(name, documentation, kind, unit), samples)
                  for name, documentation, kind, unit, samples in orjson.loads(text)]
        for family, samples in parsed:
            for sample, labels, value in samples:
                family.add_sample(sample, labels, math.nan if value is None else value)  # orjson writes NaN as null
    except (ValueError, TypeError):  # a shape this version does not know (a newer worker): its figures are left out
        return
    yield from (family for family, _ in parsed)


# No process-global registry: the composition root (runtime.open_context) builds the process's one `Metrics`
# and hands it to what records (the Thor and Slack clients, serve's routes, the report page, the worker's health).
# Each `Metrics` has its own CollectorRegistry, so nothing is registered in prometheus_client's default one.


def thor_endpoint(path: str) -> str:
    """A path as a label of few values: ids replaced (`/chargeboxes/{id}`), so no box id becomes a label."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if not parts:
        return "/"
    known = {"chargeboxes", "charges", "finished", "running", "stop", "remote", "connectors"}
    return "/" + "/".join(p if p in known else "{id}" for p in parts[:4])


async def last_cycle(redis: Redis) -> datetime | None:
    """When a leader last completed a cycle that observed the fleet (None: never, or not since Redis was new)."""
    raw = await redis.get(keys.WORKER_LAST_CYCLE)
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC) if raw else None
    except (TypeError, ValueError):
        return None


async def publish_worker(redis: Redis, metrics: Metrics, *, last_cycle: float | None = None) -> None:
    """The worker's figures, for serve's scrape (a few KB), and when it last observed the fleet: one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.METRICS_WORKER, metrics.snapshot(), ex=WORKER_EXPOSITION_TTL)
        if last_cycle is not None:
            pipe.set(keys.WORKER_LAST_CYCLE, f"{last_cycle:.3f}")
        await pipe.execute()


class WorkerStatusStore:
    """What the worker leaves for serve and doctor: its figures (for `/metrics`) and when it last observed the
    fleet."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def last_cycle(self) -> datetime | None:
        return await last_cycle(self.redis)

    async def publish(self, metrics: Metrics, *, last_cycle: float | None = None) -> None:
        await publish_worker(self.redis, metrics, last_cycle=last_cycle)


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _labelled(families: Iterable[Metric], process: str) -> Iterator[Metric]:
    for family in families:
        copy = Metric(family.name, family.documentation, family.type, family.unit)
        for s in family.samples:
            copy.add_sample(s.name, {**s.labels, "process": bounded(process, PROCESSES)}, s.value, s.timestamp,
                            s.exemplar)
        yield copy


async def scrape(redis: Redis, own: Metrics, process: str) -> bytes:
    """This process's figures, the worker's last published ones (when this is serve), and the outbox's."""
    merged_families: dict[str, Metric] = {}
    mine = [f for f in own.registry.collect() if process == "worker" or f.name not in WORKER_ONLY]
    sources: list[tuple[Iterable[Metric], str]] = [(mine, process)]
    if process != "worker":
        raw = await redis.get(keys.METRICS_WORKER)
        if raw:
            sources.append((families(raw), "worker"))
    for source, name in sources:
        for family in _labelled(source, name):
            merged = merged_families.setdefault(family.name, Metric(family.name, family.documentation, family.type,
                                                             family.unit))
            merged.samples.extend(family.samples)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hlen(keys.OUTBOX)
        pipe.zrange(keys.OUTBOX_DUE, 0, 0, withscores=True)
        pipe.get(keys.LEASE)
        depth, oldest, holder = await pipe.execute()
    extra: list[Metric] = []
    jobs = Metric("thorbot_outbox_jobs", "Messages and pages waiting in the outbox", "gauge")
    jobs.add_sample("thorbot_outbox_jobs", {}, float(depth))
    extra.append(jobs)
    due = Metric("thorbot_outbox_oldest_job_timestamp_seconds",
                 "When the oldest waiting outbox job fell due (Unix time; absent when empty)", "gauge")
    if oldest:
        due.add_sample("thorbot_outbox_oldest_job_timestamp_seconds", {}, float(oldest[0][1]))
    extra.append(due)
    holder_metric = Metric("thorbot_lease_holder", "The worker holding the leader lease (1)", "gauge")
    if holder:
        token = holder.decode() if isinstance(holder, bytes) else str(holder)
        name = token.rpartition(":")[0] or "?"  # `<worker id>:<random>`: the worker's name, not its token
        holder_metric.add_sample("thorbot_lease_holder", {"worker": name[:64]}, 1.0)
    extra.append(holder_metric)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed([*merged_families.values(), *extra]))
    return generate_latest(registry)


def as_dict(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """An exposition as {(sample name, labels): value}: what tests and `doctor` read."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], Any] = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out
