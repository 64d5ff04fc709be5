"""`thorbot doctor`: check every setting, Slack, Thor and Redis; one ✓/✗ line per check, with the fix.

Exit status 0 when nothing failed, 1 otherwise. Warnings (⚠) are worth reading but do not fail.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, SecretStr
from rich.console import Console
from rich.markup import escape

from thorbot.adapters.pager import PagerClient
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.redis_client import Redis
from thorbot.adapters.secrets_box import SecretBox, SecretsUnavailable
from thorbot.adapters.slack import BOT_SCOPES
from thorbot.adapters.store import RedisDown
from thorbot.adapters.terminal import mrkdwn_to_plain
from thorbot.domain.incidents import Incident
from thorbot.domain.pagers import Connection, PagerTransport, transport_of
from thorbot.domain.replies import describe_thor_error
from thorbot.errors import ConfigError, PagerError, SlackError, ThorError
from thorbot.redact import redact, register_secret
from thorbot.runtime import DoctorParts, doctor_parts
from thorbot.settings import WHY, Settings

Verdict = Literal["ok", "warn", "fail"]
MARK = {"ok": "[green]✓[/green]", "warn": "[yellow]⚠[/yellow]", "fail": "[red]✗[/red]"}
CHECK_TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    what: str
    detail: str
    fix: str = ""


# Values that stand for "put yours here": .env.example's `xoxb-...` and `...`, and the usual stand-ins.
PLACEHOLDER_WORDS = frozenset({"changeme", "change-me", "change_me", "changeit", "replaceme", "replace-me", "todo",
                               "tbd", "xxx", "placeholder", "your-token", "secret"})
EXAMPLE_FILE = ".env.example"


def example_values(*files: Path) -> dict[str, str]:
    """The values `.env.example` sets on its uncommented lines (the first file found of `files`)."""
    for path in files:
        if path.is_file():
            try:
                values = dotenv_values(path, interpolate=False)
            except (OSError, UnicodeDecodeError):
                return {}
            return {name.upper(): value.strip() for name, value in values.items() if value and value.strip()}
    return {}


def placeholder(value: str, example: str | None = None) -> str | None:
    """Why `value` is a stand-in, not a setting (None when it may be real). Never quotes the value itself."""
    text = value.strip()
    if example is not None and text == example:
        return f"copied unchanged from {EXAMPLE_FILE}"
    if "..." in text or "…" in text:
        return "a placeholder (it contains `...`), not a value"
    if text.lower() in PLACEHOLDER_WORDS or text.lower().startswith(("your-", "your_", "<your")):
        return "a placeholder, not a value"
    if re.search(r"<[^<>]+>", text):  # `<your-token>`, `https://hc-ping.com/<uuid>`: never part of a real value
        return "a placeholder in <angle brackets>, not a value"
    return None


def _placeholders(settings: Settings, example: Mapping[str, str]) -> dict[str, str]:
    """Each setting whose value is a stand-in: its documented name → why."""
    found: dict[str, str] = {}
    for field, info in Settings.model_fields.items():
        value = getattr(settings, field)
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str) or not raw or raw == info.default:
            continue
        alias = info.validation_alias
        name = str(alias.choices[0]) if isinstance(alias, AliasChoices) else field.upper()
        why = placeholder(raw, example.get(name))
        if why is not None:
            found[name] = why
    return found


def settings_checks(settings: Settings, environ: dict[str, str],
                    example: Mapping[str, str] | None = None) -> list[Check]:
    """One line per setting that matters; pure over the settings and the environment."""
    checks = []
    stand_ins = _placeholders(settings, example or {})
    values = {"SLACK_BOT_TOKEN": settings.slack_bot_token, "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
              "THOR_API_KEY": settings.thor_api_key}
    for name, value in values.items():
        if value is None or not value.get_secret_value():
            checks.append(Check("fail", name, "not set", f"set {name}: {WHY[name]}"))
        elif name in stand_ins:
            checks.append(Check("fail", name, f"not set: {stand_ins[name]}", f"set {name}: {WHY[name]}"))
        else:
            checks.append(Check("ok", name, "set"))
    for name, why in stand_ins.items():
        if name not in values:
            checks.append(Check("fail", name, f"not set: {why}",
                                f"put the real value in {name}, or remove the line to use the default"))
    bot = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if bot and not bot.startswith("xoxb-") and "SLACK_BOT_TOKEN" not in stand_ins:
        checks[0] = Check("fail", "SLACK_BOT_TOKEN", "does not start with xoxb-",
                          "use the *Bot User OAuth Token* (xoxb-…), not a user or app-level token")
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not app_token:
        checks.append(Check("ok", "SLACK_APP_TOKEN", "not set (only `thorbot socket` needs it)"))
    elif not app_token.startswith("xapp-") and "SLACK_APP_TOKEN" not in stand_ins:
        checks.append(Check("fail", "SLACK_APP_TOKEN", "does not start with xapp-",
                            "create an app-level token with connections:write (Basic Information → App-Level Tokens)"))
    else:
        checks.append(Check("ok", "SLACK_APP_TOKEN", "set (for `thorbot socket`)"))
    if environ.get("SLACK_CLIENT_ID") and environ.get("SLACK_CLIENT_SECRET"):
        checks.append(Check("fail", "SLACK_CLIENT_ID/SECRET", "both set: Bolt would switch to OAuth mode",
                            "unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"))
    if settings.stops_enabled():
        checks.append(Check("ok", "THORBOT_OPERATORS", "set: they (and THORBOT_ADMINS) may stop charges from Slack"))
    else:
        checks.append(Check("warn", "THORBOT_OPERATORS", "empty (and so is THORBOT_ADMINS): nobody may stop a charge "
                            "from Slack, and no Stop button is shown",
                            "to allow it, set THORBOT_OPERATORS to the Slack user ids (U…) or user-group ids (S…) "
                            "of who may, e.g. THORBOT_OPERATORS=S0123OPS, and restart serve and worker"))
    checks.append(Check("ok", "THOR_API_URL", settings.thor_api_url))
    where = redact(settings.redis_url) if settings.redis_url else f"unset: embedded Redis in {settings.data_dir}"
    checks.append(Check("ok", "REDIS_URL", where))
    checks.append(_secrets_check(settings))
    return [c for c in checks if c.verdict != "ok" or c.what not in stand_ins]  # never ✓ next to its own ✗


def _secrets_check(settings: Settings) -> Check:
    try:
        box = SecretBox(settings.secrets_key.get_secret_value() if settings.secrets_key else None)
    except SecretsUnavailable as exc:
        return Check("fail", "THORBOT_SECRETS_KEY", "not a valid key", str(exc))
    if not box.ready:
        return Check("ok", "THORBOT_SECRETS_KEY", "not set (pagers cannot be connected)",
                     "to connect PagerDuty or a webhook, set it to the output of `thorbot doctor --new-secrets-key`")
    if box.count > 1:
        return Check("ok", "THORBOT_SECRETS_KEY", f"set, {box.count} keys: the first seals, the others only open "
                     "what was sealed before (a rotation: docs/pagers.md, \"Rotating THORBOT_SECRETS_KEY\")")
    return Check("ok", "THORBOT_SECRETS_KEY", "set (pager keys are encrypted at rest)")


async def pager_checks(parts: DoctorParts, send_test: bool, now: datetime) -> list[Check]:
    """Each connected pager: its key can be opened, and (with --send-test) a test event lands and is resolved."""
    settings = parts.settings
    try:
        async with parts.redis() as redis:
            links = await PagerStore(redis).links()
    except (ConfigError, *RedisDown):
        return [Check("warn", "Pagers", "not checked: Redis is unreachable")]
    if not links:
        return [Check("ok", "Pagers", "none connected (`/chargebox pager` in a channel connects one)")]
    try:
        box = SecretBox(settings.secrets_key.get_secret_value() if settings.secrets_key else None)
    except SecretsUnavailable:
        box = SecretBox(None)
    outbound = parts.outbound
    found = []
    older = []  # pagers still sealed under an older key of THORBOT_SECRETS_KEY (a rotation not done yet)
    async with parts.pager() as client:
        for channel, link in sorted(links.items()):
            transport = transport_of(link.kind)
            name = transport.name if transport else link.kind[:40]
            what = f"Pager of {channel} ({name}{', ' + link.shown if link.shown else ''})"
            if transport is None:  # stored by a thorbot that had this kind: the worker refuses its pages
                found.append(Check("fail", what, "thorbot knows no pager of that kind",
                                   "connect it again with `/chargebox pager`, or run the thorbot that stored it"))
                continue
            try:
                secret = box.open(link.sealed)
            except SecretsUnavailable as exc:
                found.append(Check("fail", what, "its key cannot be opened", str(exc)))
                continue
            if not all(box.current(v) for v in (link.sealed, link.sealed_url) if v):
                older.append(channel)
            try:
                url = link.opened_url(box.open)
            except SecretsUnavailable as exc:
                found.append(Check("fail", what, "its URL cannot be opened", str(exc)))
                continue
            refused = await outbound.check(url) if url else None  # an older record may predate the URL policy
            if refused:
                found.append(Check("fail", what, f"its URL is refused: {refused}",
                                   "connect it again with `/chargebox pager` and a public https:// URL"))
                continue
            if not send_test:
                found.append(Check("ok", what, "connected; its key opens (`doctor --send-test` sends a test event)"))
                continue
            found.append(await _send_test(client, transport, Connection(secret, url), channel, now, what))
    if older:
        found.append(Check("warn", "THORBOT_SECRETS_KEY rotation", f"{len(older)} pager(s) still sealed under an "
                           f"older key ({', '.join(older[:5])})", "keep the older key after the new one until each "
                           "has paged once (the worker re-seals it then) or is connected again"))
    elif box.count > 1:
        found.append(Check("ok", "THORBOT_SECRETS_KEY rotation", "every pager is sealed under the first key: the "
                           "others can be dropped from the list"))
    return found


async def _send_test(client: PagerClient, transport: PagerTransport, connection: Connection, channel: str,
                     now: datetime, what: str) -> Check:
    """The transport's test events: a trigger, resolved at once (PagerDuty shows it as a short, resolved incident)."""
    key = f"thorbot:doctor-test:{uuid.uuid4().hex[:12]}"
    test = Incident(id="doctor-test", box_id="thorbot-doctor", alias="thorbot doctor test", kind="inactive",
                    started=now, opened=now)
    try:
        for page in transport.test_pages(key, [test], channel, now):
            await client.page(transport, page, connection)
    except PagerError as exc:
        return Check("fail", what, f"the test event was refused: {exc}",
                     "connect it again with `/chargebox pager` (a new key) and check the service in the pager")
    return Check("ok", what, "a test event was triggered and resolved")


# Scopes only one feature needs: an app installed before it asked for them keeps working without them.
OPTIONAL_SCOPES = {"usergroups:write": "rotations that keep a user group (`group @g`)"}


def network_words(exc: BaseException, host: str, timeout: float) -> str | None:
    """What went wrong on the way to `host`, in plain words ("cannot resolve the host name api.thor.tools"), from
    the exception and its causes; None when it was not the network."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, socket.gaierror) for e in chain) or "ClientConnectorDNSError" in names:
        return f"cannot resolve the host name {host}"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "ClientConnectorCertificateError" in names:
        return f"TLS certificate problem: {host}'s certificate cannot be verified"
    if tls := next((e for e in chain if isinstance(e, ssl.SSLError)), None):
        return f"TLS problem with {host}: {tls.reason or 'the secure connection failed'}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"connection refused by {host}"
    if any(isinstance(e, TimeoutError) for e in chain) or names & {"TimeoutException", "ConnectTimeout", "ReadTimeout",
                                                                   "WriteTimeout", "PoolTimeout", "ServerTimeoutError"}:
        return f"timed out after {timeout:g} s"
    if failed := next((e for e in chain if isinstance(e, OSError) and e.strerror), None):
        return f"cannot connect to {host}: {str(failed.strerror).lower()}"
    return None


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


async def slack_checks(parts: DoctorParts) -> list[Check]:
    settings = parts.settings
    if not settings.slack_bot_token:
        return [Check("fail", "Slack", "not checked: SLACK_BOT_TOKEN is not set", "set SLACK_BOT_TOKEN")]
    try:
        answer, scopes = await parts.slack().auth_info()
    except SlackError as exc:
        fix = ("copy the Bot User OAuth Token again (OAuth & Permissions) and reinstall the app if it was revoked"
               if exc.permanent else f"check that {settings.slack_api_url} is reachable from this host")
        words = None if exc.permanent else network_words(exc, _host(settings.slack_api_url), settings.call_timeout())
        return [Check("fail", "Slack auth.test", words or exc.error, fix)]
    found = [Check("ok", "Slack auth.test", f"bot @{answer.get('user', '?')} in workspace {answer.get('team', '?')} "
                                            f"({answer.get('team_id', '?')})")]
    missing = [s for s in BOT_SCOPES if s not in scopes]
    if not scopes:
        found.append(Check("warn", "Slack scopes", "Slack did not report the token's scopes",
                           "compare OAuth & Permissions with manifest.yml by hand"))
    elif any(s not in OPTIONAL_SCOPES for s in missing):
        found.append(Check("fail", "Slack scopes", "missing " + ", ".join(missing),
                           "add them (paste manifest.yml again under App Manifest) and reinstall the app"))
    elif missing:
        found.append(Check("warn", "Slack scopes", "missing " + ", ".join(f"{s} (only for {OPTIONAL_SCOPES[s]})"
                                                                        for s in missing),
                           "to use it, paste manifest.yml again under App Manifest and reinstall the app"))
    else:
        found.append(Check("ok", "Slack scopes", "all that manifest.yml declares"))
    return found


async def thor_checks(parts: DoctorParts) -> list[Check]:
    settings = parts.settings
    if not settings.thor_api_key:
        return [Check("fail", "Thor", "not checked: THOR_API_KEY is not set", "set THOR_API_KEY")]
    async with parts.thor() as thor:
        try:
            raw = await thor.list_raw(only_active=False)
        except ThorError as exc:
            words = network_words(exc, _host(settings.thor_api_url), min(settings.thor_timeout, parts.timeout))
            if words is not None:
                return [Check("fail", "Thor API (key, source IP, REST enabled)", words,
                              f"check THOR_API_URL ({settings.thor_api_url}) and that this host can reach it "
                              "(DNS, firewall, proxy)")]
            return [Check("fail", "Thor API (key, source IP, REST enabled)", exc.code,
                          mrkdwn_to_plain(describe_thor_error(exc)).replace("*", ""))]
    found = [Check("ok", "Thor API (key, source IP, REST enabled)", f"{len(raw)} chargeboxes listed")]
    if raw and not all("connected" in r and "last_heartbeat" in r for r in raw[:50]):
        found.append(Check("warn", "Thor list", "entries lack connected/last_heartbeat",
                           "fine: thorbot checks each watched box with its own call (slower for big fleets)"))
    return found


async def redis_checks(parts: DoctorParts) -> list[Check]:
    try:
        async with parts.redis() as redis:
            return await _redis_checks(redis)
    except (ConfigError, *RedisDown) as exc:
        fix = ("make THORBOT_DATA_DIR a writable directory, or set REDIS_URL" if "THORBOT_DATA_DIR" in str(exc) else
               "check REDIS_URL (host, port, password; rediss:// for TLS) or unset it for the embedded Redis")
        return [Check("fail", "Redis", redact(str(exc))[:300] or type(exc).__name__, fix)]


async def _redis_checks(redis: Redis) -> list[Check]:
    try:
        await redis.ping()
        persistence = await redis.info("persistence")
        memory = await redis.info("memory")
    except RedisDown as exc:
        return [Check("fail", "Redis", f"unreachable ({type(exc).__name__})",
                      "check REDIS_URL (host, port, password; rediss:// for TLS) and that the server runs")]
    found = [Check("ok", "Redis", "reachable")]
    aof = str(persistence.get("aof_enabled", "0")) == "1"
    rdb = str(persistence.get("rdb_last_bgsave_status", "")) == "ok"
    if aof:
        found.append(Check("ok", "Redis persistence", "append-only file on"))
    elif rdb:
        found.append(Check("warn", "Redis persistence", "snapshots only: a crash loses the last minutes",
                           "turn on AOF (appendonly yes) so no decided alert is lost"))
    else:
        found.append(Check("fail", "Redis persistence", "off: a restart loses subscriptions and pending alerts",
                           "turn on AOF (appendonly yes), or use a Redis plan with persistence"))
    policy = str(memory.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        found.append(Check("warn", "Redis eviction", f"maxmemory-policy is {policy}",
                           "use noeviction: evicting keys would silently drop subscriptions or alerts"))
    return found


async def run_doctor(settings: Settings, console: Console | None = None, *, send_test: bool = False,
                     new_secrets_key: bool = False) -> int:
    if console is None:
        console = Console(highlight=False)
        # Piped or redirected (a log, `| grep`), rich would hard-wrap each line at 80 columns: one check, one line.
        console.soft_wrap = not console.is_terminal
    if new_secrets_key:  # nothing else: print a key to put in THORBOT_SECRETS_KEY
        console.print(SecretBox.new_key(), markup=False)
        return 0
    for secret in settings.secret_values():
        register_secret(secret)
    parts = doctor_parts(settings, timeout=CHECK_TIMEOUT)  # the clients, built by the root as each check needs one
    sections: list[tuple[str, Callable[[], Awaitable[list[Check]]]]] = [
        ("Slack", lambda: slack_checks(parts)), ("Thor", lambda: thor_checks(parts)),
        ("Redis", lambda: redis_checks(parts)),
        ("Pagers", lambda: pager_checks(parts, send_test, datetime.now(tz=UTC))),
    ]
    checks = settings_checks(settings, dict(os.environ), example_values(
        Path.cwd() / EXAMPLE_FILE, Path(__file__).resolve().parents[2] / EXAMPLE_FILE))
    _print(console, "Settings", checks)
    for title, run in sections:
        found = await run()
        _print(console, title, found)
        checks += found
    failed = sum(1 for c in checks if c.verdict == "fail")
    console.print(f"\n{'All checks passed.' if not failed else f'{failed} check(s) failed; fix them and run again.'}")
    return 1 if failed else 0


def _print(console: Console, title: str, checks: list[Check]) -> None:
    console.print(f"[bold]{title}[/bold]")
    for check in checks:
        console.print(f"  {MARK[check.verdict]} {escape(check.what)}: {escape(redact(check.detail))}")
        if check.fix:
            console.print(f"      fix: {escape(redact(check.fix))}")
