"""The one Slack adapter: every Web API call and every `response_url` post goes through here.

Slack's and aiohttp's failures are mapped once, here, into the SlackError tree of errors.py:

- `SlackRateLimited` (HTTP 429 or `ratelimited`): with a wait budget the call sleeps `Retry-After`
  and tries once more; without one (the worker's outbox) it raises, and the outbox reschedules.
- `SlackTransient`: 5xx, network errors, timeouts, and any answer we cannot read (a proxy's HTML
  502, a bare text body, broken JSON). Retrying later may help.
- `SlackPermanent`: Slack refused for good (`not_in_channel`, `invalid_auth`, …).

The slack_sdk client gets no retry handlers of its own: a retry inside the client after a
connection reset could post an alert twice, and the outbox must see every failure to stay durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier as SignatureVerifier  # serve checks signatures with it
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.metrics import Metrics
from thorbot.errors import SlackError, SlackPermanent, SlackRateLimited, SlackTransient

log = logging.getLogger(__name__)
Answer = dict[str, Any]

# Errors for which retrying the same call cannot help (Slack's method docs); anything else is transient.
PERMANENT = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive", "msg_too_long",
    "invalid_blocks", "no_permission", "restricted_action", "token_revoked", "missing_scope", "not_authed",
    "invalid_arguments", "user_not_found", "user_disabled", "cannot_dm_bot", "no_such_subteam",
    "message_not_found", "cant_update_message", "not_enabled", "invalid_metadata_format", "team_access_not_granted",
    "ekm_access_denied", "org_login_required", "not_allowed_token_type", "invalid_blocks_format",
    # usergroups.users.update
    "permission_denied", "invalid_users", "invalid_user", "failed_for_some_users", "no_users_provided",
    "single_channel_guests_cannot_be_added",
})
MAX_RETRY_AFTER = 300.0
# The bot scopes thorbot uses; manifest.yml declares exactly these (tests/test_manifest.py checks).
BOT_SCOPES = ("commands", "chat:write", "chat:write.public", "channels:history", "groups:history", "channels:read",
              "groups:read", "im:write", "usergroups:read", "usergroups:write", "files:write", "users:read")


def map_error(exc: BaseException) -> SlackError:
    """Translate whatever slack_sdk or aiohttp raised into the SlackError tree."""
    if isinstance(exc, SlackError):
        return exc
    response = getattr(exc, "response", None)
    # slack_sdk hands over a SlackResponse, or the raw aiohttp response when the body was unreadable.
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    status = status if isinstance(status, int) else None
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    headers = getattr(response, "headers", None)
    if status == 429 or error == "ratelimited":
        return SlackRateLimited(_retry_after(headers), status=status)
    if isinstance(error, str) and error in PERMANENT and (status is None or status < 500):
        return SlackPermanent(f"Slack refused: {error}", error=error, status=status)
    if isinstance(error, str) and error:
        return SlackTransient(f"Slack answered {status or '?'} {error}", error=error, status=status)
    return SlackTransient(f"Slack answered {status or '?'} with no readable error ({type(exc).__name__})",
                          error=f"http_{status}" if status else type(exc).__name__, status=status)


def _retry_after(headers: Any) -> float:
    try:
        value = float(headers.get("Retry-After", 1)) if headers is not None else 1.0
    except (TypeError, ValueError, AttributeError):
        value = 1.0
    return min(max(value, 0.0), MAX_RETRY_AFTER)


async def _guarded(call: Callable[[], Awaitable[Any]], method: str, metrics: Metrics | None) -> Answer:
    return (await _guarded_with_headers(call, method, metrics))[0]


async def _guarded_with_headers(call: Callable[[], Awaitable[Any]], method: str,
                                metrics: Metrics | None) -> tuple[Answer, dict[str, str]]:
    """The call's answer and headers, counted in `metrics` (the process's registry; None: not counted)."""
    started = time.perf_counter()
    try:
        response = await call()
    except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError, OSError, ValueError,
            AttributeError) as exc:
        error = map_error(exc)
        outcome = "ratelimited" if isinstance(error, SlackRateLimited) else error.error
        if metrics is not None:
            metrics.slack_call(method, outcome[:40], time.perf_counter() - started)
        raise error from exc
    if metrics is not None:
        metrics.slack_call(method, "ok", time.perf_counter() - started)
    data = getattr(response, "data", None)
    if not isinstance(data, dict):
        raise SlackTransient("Slack sent an answer thorbot cannot read", error="unreadable")
    headers = getattr(response, "headers", None) or {}
    return data, {str(k).lower(): str(v) for k, v in dict(headers).items()}


class SlackApi:
    """The Web API calls thorbot makes, each answering a dict or raising a SlackError.

    `rate_limit_wait` is how long a call may sleep for a 429's Retry-After before giving up:
    a few seconds for people clicking buttons, zero for the worker (its outbox waits instead).
    """

    def __init__(self, client: AsyncWebClient, *, rate_limit_wait: float = 0.0, metrics: Metrics | None = None) -> None:
        self.client = client
        self.rate_limit_wait = rate_limit_wait
        self.metrics = metrics  # the process's registry (the root's); None: calls are not counted (doctor, tests)

    def with_rate_limit_wait(self, seconds: float) -> SlackApi:
        return SlackApi(self.client, rate_limit_wait=seconds, metrics=self.metrics)

    async def call(self, method: str, **kwargs: Any) -> Answer:
        """Call `method` (e.g. "chat.postMessage"); on a 429 wait once if the budget allows."""
        bound = getattr(self.client, method.replace(".", "_"))
        try:
            return await _guarded(lambda: bound(**kwargs), method, self.metrics)
        except SlackRateLimited as limited:
            if limited.retry_after > self.rate_limit_wait:
                raise
            log.info("Slack rate-limited %s; retrying in %.1f s", method, limited.retry_after)
            await asyncio.sleep(limited.retry_after)
            return await _guarded(lambda: bound(**kwargs), method, self.metrics)

    async def auth_info(self) -> tuple[Answer, set[str]]:
        """auth.test's answer and the bot token's scopes (Slack sends them in the x-oauth-scopes header)."""
        answer, headers = await _guarded_with_headers(lambda: self.client.auth_test(), "auth.test",
                                                       self.metrics)
        scopes = {s.strip() for s in headers.get("x-oauth-scopes", "").split(",") if s.strip()}
        return answer, scopes

    async def post_message(self, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None,
                           metadata: dict[str, Any] | None = None) -> str:
        answer = await self.call("chat.postMessage", channel=channel, text=payload["text"],
                                 blocks=payload.get("blocks"), thread_ts=thread_ts, unfurl_links=False,
                                 unfurl_media=False, metadata=metadata)
        return str(answer.get("ts", ""))

    async def update_message(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        await self.call("chat.update", channel=channel, ts=ts, text=payload["text"], blocks=payload["blocks"])

    async def messages(self, channel: str, *, thread_ts: str | None = None, cursor: str | None = None,
                       limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a channel's history (or a thread's replies) with message metadata, and the next cursor."""
        if thread_ts:
            answer = await self.call("conversations.replies", channel=channel, ts=thread_ts, limit=limit,
                                     cursor=cursor, include_all_metadata=True)
        else:
            answer = await self.call("conversations.history", channel=channel, limit=limit, cursor=cursor,
                                     include_all_metadata=True)
        found = answer.get("messages")
        next_cursor = (answer.get("response_metadata") or {}).get("next_cursor") if answer.get("has_more") else None
        return (list(found) if isinstance(found, list) else []), (str(next_cursor) if next_cursor else None)

    async def open_dm(self, user: str) -> str:
        answer = await self.call("conversations.open", users=user)
        return str((answer.get("channel") or {}).get("id", ""))

    async def channel_info(self, channel: str) -> dict[str, Any]:
        answer = await self.call("conversations.info", channel=channel)
        info = answer.get("channel")
        return info if isinstance(info, dict) else {}

    async def user_channels(self, user: str) -> set[str]:
        answer = await self.call("users.conversations", user=user, types="public_channel,private_channel",
                                 exclude_archived=True, limit=500)
        channels = answer.get("channels")
        return {str(c.get("id")) for c in channels if isinstance(c, dict)} if isinstance(channels, list) else set()

    async def usergroup_members(self, group: str) -> list[str]:
        answer = await self.call("usergroups.users.list", usergroup=group)
        users = answer.get("users")
        return [str(u) for u in users] if isinstance(users, list) else []

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await self.call("views.publish", user_id=user, view=view)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """A modal, for the person who clicked (the trigger expires ~3 s after the click)."""
        await self.call("views.open", trigger_id=trigger_id, view=view)

    async def user_zone(self, user: str) -> str | None:
        """The time zone a user set in Slack (users.info `tz`), if any."""
        answer = await self.call("users.info", user=user)
        zone = (answer.get("user") or {}).get("tz")
        return str(zone) if isinstance(zone, str) and zone else None

    async def upload_file(self, channel: str, filename: str, content: str | bytes, *, title: str,
                          comment: str | None = None) -> None:
        """A file in a channel, the current way (files_upload_v2: get an upload URL, send, complete). `content`:
        text (sent as UTF-8) or bytes (a PDF), as slack_sdk takes either."""
        await _guarded(lambda: self.client.files_upload_v2(channel=channel, filename=filename, content=content,
                                                           title=title, initial_comment=comment), "files.upload_v2",
                       self.metrics)


class ResponseUrl:
    """Answers through `response_url` over one pooled aiohttp session.

    Bolt's own `respond()` opens a session (and TCP/TLS connection) per call, which showed up in the
    slash-command benchmark. A 429 from Slack's hooks waits `Retry-After` once, within `rate_limit_wait`.
    """

    def __init__(self, *, timeout: float = 10.0, rate_limit_wait: float = 5.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.rate_limit_wait = rate_limit_wait

    async def post(self, url: str, payload: dict[str, Any]) -> None:
        if not url.startswith(("https://", "http://")):
            raise SlackPermanent("response_url is not an http(s) URL", error="bad_response_url")
        try:
            await self._post_once(url, payload)
        except SlackRateLimited as limited:
            if limited.retry_after > self.rate_limit_wait:
                raise
            await asyncio.sleep(limited.retry_after)
            await self._post_once(url, payload)

    async def _post_once(self, url: str, payload: dict[str, Any]) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(url, json=payload) as response:
                await response.read()
                if response.status == 429:
                    raise SlackRateLimited(_retry_after(response.headers))
                if response.status >= 500:
                    raise SlackTransient(f"response_url answered HTTP {response.status}", error="http_5xx",
                                         status=response.status)
                if response.status >= 300:
                    # Expired (30 min or 5 uses) or a payload Slack refused: trying again cannot help.
                    raise SlackPermanent(f"response_url answered HTTP {response.status}", error="expired_url",
                                         status=response.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SlackTransient(f"response_url unreachable: {type(exc).__name__}", error="network") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class Respond:
    """Called like Bolt's AsyncRespond: `await respond(text=..., blocks=..., replace_original=True)`."""

    def __init__(self, poster: ResponseUrl, url: str) -> None:
        self._poster = poster
        self.response_url = url

    async def __call__(self, text: str | dict[str, Any] = "", blocks: list[dict[str, Any]] | None = None,
                       response_type: str | None = None, replace_original: bool | None = None,
                       delete_original: bool | None = None, **extra: Any) -> None:
        payload: dict[str, Any] = dict(text) if isinstance(text, dict) else {"text": text}
        for key, value in (("blocks", blocks), ("response_type", response_type),
                           ("replace_original", replace_original), ("delete_original", delete_original)):
            if value is not None:
                payload[key] = value
        payload.update({k: v for k, v in extra.items() if v is not None})
        await self._poster.post(self.response_url, payload)
