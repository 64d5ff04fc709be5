"""Build the Bolt app with every command family the deployment supports."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.context import AppContext
from thorbot.slack_app import build_app
from thorbot.subscriptions import handle_subscriptions


def build_slack_app(ctx: AppContext, client: AsyncWebClient, signing_secret: str | None) -> AsyncApp:
    return build_app(ctx, client=client, signing_secret=signing_secret, extra_commands=handle_subscriptions)
