"""The one reply helper: build an answer within a deadline (never a traceback), then send it via response_url."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncRespond

from thorbot.adapters.store import RedisDown
from thorbot.domain import replies
from thorbot.errors import SlackError, ThorError, ThorUnavailable

log = logging.getLogger(__name__)
Payload = dict[str, Any]
PROGRESS_AFTER = 1.0  # seconds an answer may take before the user is told it is on its way


async def safe_payload(build: Callable[[], Awaitable[Payload]], query: str | None, *, deadline: float,
                       on_timeout: Payload | None = None) -> Payload:
    """Run a reply builder within one overall deadline (a person is waiting).

    Thor errors become their explanation, an unreachable Redis says what still works, and anything
    else a polite apology; never a traceback.
    """
    try:
        async with asyncio.timeout(deadline):
            return await build()
    except TimeoutError:
        log.warning("no answer within the %.0f s interactive deadline", deadline)
        if on_timeout is not None:  # not Thor's fault (a report is built from Redis alone)
            return on_timeout
        return replies.thor_error(ThorUnavailable("Thor did not answer in time", code="timeout", after=deadline),
                                  query)
    except ThorError as exc:
        log.warning("Thor call failed: %s (%s)", exc.code, exc.status)
        return replies.thor_error(exc, query)
    except RedisDown as exc:
        log.warning("Redis unreachable while answering: %s", type(exc).__name__)
        return replies.redis_unavailable()
    except Exception:
        log.exception("building a reply failed")
        return replies.internal_error()


async def reply(respond: AsyncRespond, payload: Payload, *, replace: bool) -> None:
    """Answer through response_url; if that fails nothing else can reach the user, so log it once."""
    try:
        await respond(replace_original=replace, **payload)
    except SlackError as exc:  # expired (30 min / 5 uses) or Slack is down
        log.warning("could not answer through response_url: %s", exc.error)
    except Exception:
        log.exception("could not answer through response_url")


async def tell(respond: AsyncRespond, text: str) -> None:
    """A short private note to whoever clicked, leaving the message they clicked on as it is."""
    await reply(respond, {"response_type": "ephemeral", "text": text}, replace=False)


async def answer(respond: AsyncRespond, build: Callable[[], Awaitable[Payload]], query: str | None, *,
                 deadline: float, working: Payload | None, replace: bool = True,
                 on_timeout: Payload | None = None) -> None:
    """Build an answer (see `safe_payload`) and send it; say it is on its way only if it is slow.

    The "working…" note goes through response_url too, before the answer, so it can never show up after
    it (an acknowledgement's text could: Slack shows the ack and the response_url post in arrival order).
    """
    task = asyncio.ensure_future(safe_payload(build, query, deadline=deadline, on_timeout=on_timeout))
    if working is not None:
        done, _ = await asyncio.wait({task}, timeout=PROGRESS_AFTER)
        if not done:
            await reply(respond, working, replace=False)
    await reply(respond, await task, replace=replace)
