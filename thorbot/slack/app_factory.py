"""Build the Bolt app with every command family, button and event the deployment supports."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.slack import SlackApi
from thorbot.context import AppContext
from thorbot.domain import replies
from thorbot.domain.slash_commands import CHANGES_SETTINGS, Command, ListSubscriptions, Subscribe, Unsubscribe
from thorbot.slack.alert_actions import register_alert_actions
from thorbot.slack.app import Payload, build_app, reply, safe_payload
from thorbot.slack.home import register_home
from thorbot.slack.oncall import oncall_payload
from thorbot.slack.permissions import may_change
from thorbot.slack.subscriptions import subscriptions_payload

INTERACTIVE_RATE_LIMIT_WAIT = 3.0  # seconds a click may wait for Slack's Retry-After
IN_A_DM = ("Subscriptions, on-call and mutes belong to a channel: run this in the channel that should get the "
           "alerts (and invite @thorbot there if it is private).")
NOT_AN_ADMIN = ("Only thorbot admins may change subscriptions, on-call and mutes in this workspace "
                "(`THORBOT_ADMINS`). Ask one of them, or use `/chargebox list` and status cards freely.")


def build_slack_app(ctx: AppContext, client: AsyncWebClient, signing_secret: str | None) -> AsyncApp:
    slack = SlackApi(client, rate_limit_wait=INTERACTIVE_RATE_LIMIT_WAIT)
    ctx.slack = slack

    async def more_commands(ctx: AppContext, parsed: Command, command: dict[str, Any], ack: AsyncAck,
                            respond: AsyncRespond) -> None:
        channel = str(command.get("channel_id", ""))
        user = str(command.get("user_id", ""))
        if not channel:
            await ack(**replies.usage_error("Run this command in a channel."))
            return
        if isinstance(parsed, CHANGES_SETTINGS) and channel.startswith("D"):
            await ack(**replies.simple(IN_A_DM, emoji=":information_source:"))
            return
        # Ack before any I/O: Redis or Slack being slow or down must never cost Slack's 3-second window.
        working = "Checking with Thor…" if isinstance(parsed, Subscribe | ListSubscriptions) else "Updating…"
        await ack(**replies.simple(working, emoji=":hourglass_flowing_sand:"))

        async def answer() -> Payload:
            if isinstance(parsed, CHANGES_SETTINGS) and not await may_change(ctx.settings, OnCallStore(ctx.redis),
                                                                             slack, user):
                return replies.simple(NOT_AN_ADMIN, emoji=":lock:")
            if isinstance(parsed, Subscribe | Unsubscribe | ListSubscriptions):
                return await subscriptions_payload(ctx, parsed, channel)
            return await oncall_payload(ctx, parsed, channel, user)  # type: ignore[arg-type]

        payload = await safe_payload(answer, None, deadline=ctx.settings.interactive_deadline)
        await reply(respond, payload, replace=True)

    app = build_app(ctx, client=client, signing_secret=signing_secret, extra_commands=more_commands)
    register_alert_actions(app, ctx, slack)
    register_home(app, ctx, slack)
    return app
