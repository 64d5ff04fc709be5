"""`thorbot socket`: Socket Mode; the Slack app and the worker share one process."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from thorbot.app_factory import build_slack_app
from thorbot.commands.worker import worker_loop
from thorbot.context import AppContext
from thorbot.runtime import open_context, require, slack_client
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def run_socket(settings: Settings, stop: asyncio.Event) -> int:
    require(settings.slack_app_token, "SLACK_APP_TOKEN", "Socket Mode needs an xapp- token with connections:write")
    require(settings.slack_bot_token, "SLACK_BOT_TOKEN", "thorbot cannot post to Slack without it")
    assert settings.slack_app_token is not None
    async with open_context(settings) as ctx:
        await socket_session(ctx, stop)
    return 0


async def socket_session(ctx: AppContext, stop: asyncio.Event) -> None:
    """Connect over Socket Mode and run the worker in the same process until `stop`."""
    settings = ctx.settings
    assert settings.slack_app_token is not None
    client = slack_client(settings)
    bolt = build_slack_app(ctx, client, None)
    handler = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("thorbot socket connected")
    try:
        await worker_loop(ctx, client, stop)
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
