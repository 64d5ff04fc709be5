"""The Bolt app: every Slack listener is registered here, and each one stays thin.

A handler acks first (Slack's 3-second window), then parses, calls a service, renders with a pure
function and answers through `response_url`. Thor is never called before the ack.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.slack import Respond, ResponseUrl
from thorbot.context import AppContext
from thorbot.domain import replies
from thorbot.domain.card import ACTION_REFRESH, ACTION_SHARE, render_card
from thorbot.domain.replies import ACTION_PICK
from thorbot.domain.slash_commands import Help, Status, parse_command
from thorbot.domain.text import slack_date
from thorbot.errors import SlackError, ThorError, ThorUnavailable, UsageError

log = logging.getLogger(__name__)
Payload = dict[str, Any]
CommandHandler = Callable[[AppContext, Any, dict[str, Any], AsyncAck, AsyncRespond], Awaitable[None]]


def build_app(ctx: AppContext, *, client: AsyncWebClient, signing_secret: str | None,
              extra_commands: CommandHandler | None = None) -> AsyncApp:
    """Create the AsyncApp with every listener wired. `signing_secret=None` means Socket Mode."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "socket-mode-has-no-signing-secret",
        request_verification_enabled=signing_secret is not None,
        ssl_check_enabled=True,
    )

    poster = ResponseUrl()
    app._thorbot_poster = poster  # type: ignore[attr-defined]  # closed by close_app()

    @app.middleware
    async def pooled_respond(context: Any, body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
        url = body.get("response_url")
        if isinstance(url, str) and url:
            context["respond"] = Respond(poster, url)
        await next()

    @app.middleware
    async def same_workspace(context: Any, next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse | None:
        # Only the workspace thorbot is installed in (auth.test) may use it: a request signed with a leaked
        # secret, or forwarded from another workspace, must not read the fleet or change settings.
        installed = context.authorize_result
        team, enterprise = context.team_id, context.enterprise_id
        if installed is not None and (team or enterprise) and not (
                (installed.team_id and team == installed.team_id)
                or (installed.enterprise_id and enterprise == installed.enterprise_id)):
            log.warning("refused a request from workspace %s (thorbot is installed in %s)", str(team)[:20],
                        installed.team_id)
            return BoltResponse(status=403, body="This thorbot is installed in another Slack workspace.")
        return await next()

    @app.command("/chargebox")
    async def chargebox(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await handle_command(ctx, command, ack, respond, extra_commands)

    @app.action(ACTION_SHARE)
    async def share(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body.get("user", {}).get("id", "")
        note = f"Shared by <@{user}>" if re.fullmatch(r"[UW][A-Z0-9]{2,20}", user) else None
        await answer_card(ctx, str(action.get("value", "")), respond, in_channel=True, note=note)

    @app.action(re.compile(f"^({ACTION_REFRESH}|{ACTION_PICK}_\\d+)$"))
    async def refresh(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        box_id = str(action.get("value", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        await answer_card(ctx, box_id, respond, replace=True, note=await hold_note(ctx, channel, box_id))

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener: %s", type(error).__name__, exc_info=error)

    return app


async def close_app(app: AsyncApp) -> None:
    """Release the app's pooled connections (response_url session)."""
    poster = getattr(app, "_thorbot_poster", None)
    if isinstance(poster, ResponseUrl):
        await poster.aclose()


async def handle_command(ctx: AppContext, command: dict[str, Any], ack: AsyncAck, respond: AsyncRespond,
                         extra: CommandHandler | None) -> None:
    try:
        parsed = parse_command(str(command.get("text", "")))
    except UsageError as exc:
        await ack(**replies.usage_error(str(exc)))
        return
    if isinstance(parsed, Help):
        await ack(**replies.help_reply())
        return
    if isinstance(parsed, Status):
        await ack(**replies.looking_up(parsed.query))
        await answer_query(ctx, parsed.query, respond, channel=str(command.get("channel_id", "")))
        return
    if extra is None:
        await ack(**replies.simple("That command is not available in this deployment."))
        return
    await extra(ctx, parsed, command, ack, respond)


async def answer_query(ctx: AppContext, query: str, respond: AsyncRespond, channel: str = "") -> None:
    """Resolve the query and answer with a card, a pick list, or a helpful error."""
    payload = await safe_payload(lambda: _query_payload(ctx, query, channel), query,
                                 deadline=ctx.settings.interactive_deadline)
    await reply(respond, payload, replace=True)


async def answer_card(ctx: AppContext, box_id: str, respond: AsyncRespond, *, replace: bool = False,
                      in_channel: bool = False, note: str | None = None) -> None:
    async def build() -> Payload:
        box = await ctx.thor_interactive.get_chargebox(box_id)
        card = card_payload(ctx, box, note=note, buttons=not in_channel)
        if in_channel:
            card["response_type"] = "in_channel"
        return card

    payload = await safe_payload(build, box_id, deadline=ctx.settings.interactive_deadline)
    await reply(respond, payload, replace=replace and not in_channel)


def card_payload(ctx: AppContext, box: Any, *, note: str | None = None, buttons: bool = True) -> Payload:
    stale = timedelta(seconds=ctx.settings.heartbeat_stale_after)
    payload = render_card(box, ctx.clock(), stale_after=stale, buttons=buttons, note=note)
    payload["response_type"] = "ephemeral"
    return payload


async def hold_note(ctx: AppContext, channel: str, box_id: str) -> str | None:
    """The card says when alerts for this box are held in this channel (mute or snooze)."""
    if not channel:
        return None
    try:
        hold = await OnCallStore(ctx.redis).held(channel, box_id, ctx.clock())
    except (RedisError, OSError):  # the card comes from Thor: it must not depend on Redis being up
        log.warning("Redis unreachable; showing the card without mute/snooze state")
        return None
    if hold is None:
        return None
    icon, what = (":mute:", "Muted for maintenance") if hold.kind == "mute" else (":zzz:", "Snoozed")
    who = f" by <@{hold.by}>" if hold.by else ""
    return f"{icon} {what}{who} in this channel until {slack_date(hold.until)}: alerts are held."


async def _query_payload(ctx: AppContext, query: str, channel: str = "") -> Payload:
    resolved = await ctx.lookup.resolve(query)
    if resolved.box is not None:
        return card_payload(ctx, resolved.box, note=await hold_note(ctx, channel, resolved.box.id))
    if resolved.matches:
        return replies.pick_list(query, list(resolved.matches), len(resolved.matches))
    return replies.no_match(query)


async def safe_payload(build: Callable[[], Awaitable[Payload]], query: str | None, *, deadline: float) -> Payload:
    """Run a reply builder within one overall deadline (a person is waiting).

    Thor errors become their explanation, an unreachable Redis says what still works, and anything
    else a polite apology; never a traceback.
    """
    try:
        async with asyncio.timeout(deadline):
            return await build()
    except TimeoutError:
        log.warning("no answer within the %.0f s interactive deadline", deadline)
        return replies.thor_error(ThorUnavailable("Thor did not answer in time", code="timeout", after=deadline),
                                  query)
    except ThorError as exc:
        log.warning("Thor call failed: %s (%s)", exc.code, exc.status)
        return replies.thor_error(exc, query)
    except (RedisError, OSError) as exc:
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
