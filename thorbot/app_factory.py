"""Build the Bolt app with every command family, button and event the deployment supports."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.slack import SlackApi
from thorbot.alert_actions import register_alert_actions
from thorbot.context import AppContext
from thorbot.domain import replies
from thorbot.domain.commands import CHANGES_SETTINGS, Command, ListSubscriptions, Subscribe, Unsubscribe
from thorbot.home import register_home
from thorbot.oncall_commands import handle_oncall
from thorbot.permissions import may_change
from thorbot.slack_app import build_app
from thorbot.subscriptions import handle_subscriptions

INTERACTIVE_RATE_LIMIT_WAIT = 3.0  # seconds a click may wait for Slack's Retry-After


def build_slack_app(ctx: AppContext, client: AsyncWebClient, signing_secret: str | None) -> AsyncApp:
    ctx.slack = SlackApi(client, rate_limit_wait=INTERACTIVE_RATE_LIMIT_WAIT)
    async def more_commands(ctx: AppContext, parsed: Command, command: dict[str, Any], ack: AsyncAck,
                            respond: AsyncRespond) -> None:
        if isinstance(parsed, CHANGES_SETTINGS):
            if str(command.get("channel_id", "")).startswith("D"):
                await ack(**replies.simple(
                    "Subscriptions, on-call and mutes belong to a channel: run this in the channel that should "
                    "get the alerts (and invite @thorbot there if it is private).", emoji=":information_source:"))
                return
            user = str(command.get("user_id", ""))
            if not await may_change(ctx.settings, OnCallStore(ctx.redis), ctx.slack, user):
                await ack(**replies.simple(
                    "Only thorbot admins may change subscriptions, on-call and mutes in this workspace "
                    "(`THORBOT_ADMINS`). Ask one of them, or use `/chargebox list` and status cards freely.",
                    emoji=":lock:"))
                return
        if isinstance(parsed, Subscribe | Unsubscribe | ListSubscriptions):
            await handle_subscriptions(ctx, parsed, command, ack, respond)
        else:
            await handle_oncall(ctx, parsed, command, ack, respond)

    app = build_app(ctx, client=client, signing_secret=signing_secret, extra_commands=more_commands)
    register_alert_actions(app, ctx, ctx.slack)
    register_home(app, ctx, ctx.slack)
    return app
