"""Every error thorbot raises on purpose, as one tree.

    ThorbotError
    ├── ConfigError                 missing or invalid settings (permanent)
    ├── UsageError                  the user's command text cannot be understood (permanent)
    ├── ThorError                   anything that went wrong talking to Thor
    │   ├── ThorUnavailable         timeout, connection refused, 5xx, 429 (transient: retry)
    │   ├── ThorAccessDenied        APIKeyNotFound / RestAPINotEnabled / InvalidSourceIPAddr (permanent)
    │   ├── ChargeboxNotFound       404 ChargeboxNotFound for one box (permanent for that box)
    │   ├── ThorRefused             a command understood and refused: NotInTransaction, WrongTransaction, …
    │   └── ThorBadResponse         a body we could not understand (transient: Thor may be mid-deploy)
    ├── SlackError                  anything that went wrong talking to Slack (adapters/slack.py maps it once)
    │   ├── SlackTransient          5xx, network errors, timeouts, an answer we cannot read (retry with backoff)
    │   │   └── SlackRateLimited    HTTP 429: retry after `retry_after` seconds
    │   └── SlackPermanent          Slack refused for good: `not_in_channel`, `invalid_auth`, … (`error` says which)
    ├── PagerError                  a channel's pager (PagerDuty, a webhook) failed (adapters/pager.py maps it once)
    │   ├── PagerRejected           400/401/403/404: a malformed event, a revoked or unknown key (permanent)
    │   └── PagerRetry              429, 5xx, timeouts, the network: retry after `retry_after` seconds
    ├── SecretsUnavailable          no THORBOT_SECRETS_KEY, or a stored secret it cannot open (permanent)
    ├── UrlRefused                  a URL given to thorbot fails the outbound URL policy (adapters/outbound.py)
    └── BackupError                 a backup that cannot be written, read or restored here (adapters/backup.py)

The Thor adapter (adapters/thor.py) translates httpx's and aiohttp's failures into ThorError, and the
Slack adapter (adapters/slack.py) slack_sdk's and aiohttp's into SlackError, once, at the edge, with
`raise ... from exc`. Redis is the exception: its failures are not translated but named once, as
`adapters.store.RedisDown`, which the entry points (the worker loop, the Slack reply helper, /healthz,
doctor) catch; nothing above the adapters imports a library's exception type. Messages never contain
the Thor API key or a connector's Nayax token.
"""

from __future__ import annotations


class ThorbotError(Exception):
    """Base class; `permanent` says whether retrying the same call can help."""

    permanent = False


class ConfigError(ThorbotError):
    permanent = True


class UsageError(ThorbotError):
    permanent = True


class ThorError(ThorbotError):
    """A failed Thor call. `code` is Thor's message token (e.g. ``APIKeyNotFound``) or ours."""

    def __init__(self, message: str, *, code: str, status: int | None = None, after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.after = after  # for timeouts: how many seconds thorbot waited


class ThorUnavailable(ThorError):
    permanent = False


class ThorAccessDenied(ThorError):
    permanent = True


class ChargeboxNotFound(ThorError):
    permanent = True

    def __init__(self, chargebox_id: str) -> None:
        super().__init__("chargebox not found", code="ChargeboxNotFound", status=404)
        self.chargebox_id = chargebox_id


class ThorRefused(ThorError):
    permanent = True


class ThorBadResponse(ThorError):
    permanent = False


class SlackError(ThorbotError):
    """A failed Slack call. `error` is Slack's error string (e.g. ``not_in_channel``) or ours."""

    def __init__(self, message: str, *, error: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class SlackTransient(SlackError):
    permanent = False


class SlackRateLimited(SlackTransient):
    def __init__(self, retry_after: float, *, status: int | None = 429) -> None:
        super().__init__(f"Slack rate limit: retry in {retry_after:g} s", error="ratelimited", status=status)
        self.retry_after = retry_after


class SlackPermanent(SlackError):
    permanent = True


class PagerError(ThorbotError):
    """A failed call to a channel's pager. The message names the pager's host, never its key or URL path."""

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class PagerRejected(PagerError):
    """The pager said no for good (400: the event or key is malformed; 401/403/404: the key is revoked or unknown)."""

    permanent = True


class PagerRetry(PagerError):
    """429, 5xx, a timeout or the network: the event stays in the outbox and is retried (after `retry_after`
    seconds when the pager said so in a Retry-After header)."""

    def __init__(self, message: str, *, code: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class SecretsUnavailable(ThorbotError):
    """No THORBOT_SECRETS_KEY, or a stored secret that key cannot open (the key changed, or tampering)."""

    permanent = True


class UrlRefused(ThorbotError):
    """A URL someone gave thorbot (a webhook, THORBOT_HEARTBEAT_URL, …) is one it will not send to: not https, or
    its host is or resolves to an internal address (domain/url_policy.py). The message names the host only."""

    permanent = True


class BackupError(ThorbotError):
    """A backup thorbot cannot write, read or restore (adapters/backup.py). `reason` says which, and sets
    `thorbot backup`'s and `thorbot restore`'s exit status: `file` (cannot read or write it), `redis` (Redis refused
    a command), `unreadable` (not a backup, truncated or corrupt), `newer` (a newer format), `not_empty` (the target
    already holds thorbot's keys), `older_redis` (the target Redis is older than the one the backup came from)."""

    permanent = True

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
