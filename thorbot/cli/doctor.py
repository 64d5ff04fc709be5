"""`thorbot doctor`: check every setting, Slack, Thor and Redis; one ✓/✗ line per check, with the fix.

Exit status 0 when nothing failed, 1 otherwise. Warnings (⚠) are worth reading but do not fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from redis.asyncio import Redis
from rich.console import Console
from rich.markup import escape

from thorbot.adapters.pager import PagerClient
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.secrets_box import SecretBox, SecretsUnavailable
from thorbot.adapters.slack import BOT_SCOPES, SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.adapters.terminal import mrkdwn_to_plain
from thorbot.adapters.thor import ThorClient
from thorbot.domain.incidents import Incident
from thorbot.domain.pager import PAGER_NAMES, host_of, pagerduty_event, webhook_event
from thorbot.domain.replies import describe_thor_error
from thorbot.errors import ConfigError, PagerError, SlackError, ThorError
from thorbot.redact import redact, register_secret
from thorbot.runtime import open_redis, slack_client
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


def settings_checks(settings: Settings, environ: dict[str, str]) -> list[Check]:
    """One line per setting that matters; pure over the settings and the environment."""
    checks = []
    values = {"SLACK_BOT_TOKEN": settings.slack_bot_token, "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
              "THOR_API_KEY": settings.thor_api_key}
    for name, value in values.items():
        if value is None or not value.get_secret_value():
            checks.append(Check("fail", name, "not set", f"set {name}: {WHY[name]}"))
        else:
            checks.append(Check("ok", name, "set"))
    bot = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if bot and not bot.startswith("xoxb-"):
        checks[0] = Check("fail", "SLACK_BOT_TOKEN", "does not start with xoxb-",
                          "use the *Bot User OAuth Token* (xoxb-…), not a user or app-level token")
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not app_token:
        checks.append(Check("ok", "SLACK_APP_TOKEN", "not set (only `thorbot socket` needs it)"))
    elif not app_token.startswith("xapp-"):
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
    return checks


def _secrets_check(settings: Settings) -> Check:
    try:
        box = SecretBox(settings.secrets_key.get_secret_value() if settings.secrets_key else None)
    except SecretsUnavailable as exc:
        return Check("fail", "THORBOT_SECRETS_KEY", "not a valid key", str(exc))
    if not box.ready:
        return Check("ok", "THORBOT_SECRETS_KEY", "not set (pagers cannot be connected)",
                     "to connect PagerDuty or a webhook, set it to the output of `thorbot doctor --new-secrets-key`")
    return Check("ok", "THORBOT_SECRETS_KEY", "set (pager keys are encrypted at rest)")


async def pager_checks(settings: Settings, send_test: bool, now: datetime) -> list[Check]:
    """Each connected pager: its key can be opened, and (with --send-test) a test event lands and is resolved."""
    try:
        async with open_redis(settings) as redis:
            links = await PagerStore(redis).links()
    except (ConfigError, *RedisDown):
        return [Check("warn", "Pagers", "not checked: Redis is unreachable")]
    if not links:
        return [Check("ok", "Pagers", "none connected (`/chargebox pager` in a channel connects one)")]
    try:
        box = SecretBox(settings.secrets_key.get_secret_value() if settings.secrets_key else None)
    except SecretsUnavailable:
        box = SecretBox(None)
    client = PagerClient(settings.pagerduty_events_url, timeout=CHECK_TIMEOUT)
    found = []
    try:
        for channel, link in sorted(links.items()):
            what = f"Pager of {channel} ({PAGER_NAMES[link.kind]}{', ' + host_of(link.url) if link.url else ''})"
            try:
                secret = box.open(link.sealed)
            except SecretsUnavailable as exc:
                found.append(Check("fail", what, "its key cannot be opened", str(exc)))
                continue
            if not send_test:
                found.append(Check("ok", what, "connected; its key opens (`doctor --send-test` sends a test event)"))
                continue
            found.append(await _send_test(client, link.kind, link.url, secret, channel, now, what))
    finally:
        await client.aclose()
    return found


async def _send_test(client: PagerClient, kind: str, url: str | None, secret: str, channel: str, now: datetime,
                     what: str) -> Check:
    """A test trigger, resolved at once (PagerDuty shows it as a short, resolved incident)."""
    key = f"thorbot:doctor-test:{uuid.uuid4().hex[:12]}"
    test = Incident(id="doctor-test", box_id="thorbot-doctor", alias="thorbot doctor test", kind="inactive",
                    started=now, opened=now)
    try:
        for action in ("trigger", "resolve"):
            if kind == "pagerduty":
                await client.pagerduty(pagerduty_event(action, secret, key, [test], channel, now))
            else:
                assert url is not None
                await client.webhook(url, webhook_event(action, f"{key}:{action}", key, [test], channel, now),
                                     secret)
    except PagerError as exc:
        return Check("fail", what, f"the test event was refused: {exc}",
                     "connect it again with `/chargebox pager` (a new key) and check the service in the pager")
    return Check("ok", what, "a test event was triggered and resolved")


# Scopes only one feature needs: an app installed before it asked for them keeps working without them.
OPTIONAL_SCOPES = {"usergroups:write": "rotations that keep a user group (`group @g`)"}


async def slack_checks(settings: Settings) -> list[Check]:
    if not settings.slack_bot_token:
        return [Check("fail", "Slack", "not checked: SLACK_BOT_TOKEN is not set", "set SLACK_BOT_TOKEN")]
    try:
        answer, scopes = await SlackApi(slack_client(settings)).auth_info()
    except SlackError as exc:
        fix = ("copy the Bot User OAuth Token again (OAuth & Permissions) and reinstall the app if it was revoked"
               if exc.permanent else f"check that {settings.slack_api_url} is reachable from this host")
        return [Check("fail", "Slack auth.test", exc.error, fix)]
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


async def thor_checks(settings: Settings) -> list[Check]:
    if not settings.thor_api_key:
        return [Check("fail", "Thor", "not checked: THOR_API_KEY is not set", "set THOR_API_KEY")]
    thor = ThorClient(settings.thor_api_url, settings.thor_api_key.get_secret_value(),
                      timeout=min(settings.thor_timeout, CHECK_TIMEOUT), retries=0)
    try:
        raw = await thor.list_raw(only_active=False)
    except ThorError as exc:
        return [Check("fail", "Thor API (key, source IP, REST enabled)", exc.code,
                      mrkdwn_to_plain(describe_thor_error(exc)).replace("*", ""))]
    finally:
        await thor.aclose()
    found = [Check("ok", "Thor API (key, source IP, REST enabled)", f"{len(raw)} chargeboxes listed")]
    if raw and not all("connected" in r and "last_heartbeat" in r for r in raw[:50]):
        found.append(Check("warn", "Thor list", "entries lack connected/last_heartbeat",
                           "fine: thorbot checks each watched box with its own call (slower for big fleets)"))
    return found


async def redis_checks(settings: Settings) -> list[Check]:
    try:
        async with open_redis(settings) as redis:
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
    console = console or Console(highlight=False)
    if new_secrets_key:  # nothing else: print a key to put in THORBOT_SECRETS_KEY
        console.print(SecretBox.new_key(), markup=False)
        return 0
    for secret in settings.secret_values():
        register_secret(secret)
    sections: list[tuple[str, Callable[[], Awaitable[list[Check]]]]] = [
        ("Slack", lambda: slack_checks(settings)), ("Thor", lambda: thor_checks(settings)),
        ("Redis", lambda: redis_checks(settings)),
        ("Pagers", lambda: pager_checks(settings, send_test, datetime.now(tz=UTC))),
    ]
    checks = settings_checks(settings, dict(os.environ))
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
