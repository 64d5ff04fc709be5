"""`thorbot socket`: Socket Mode; the Slack app and the worker share one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from thorbot.context import AppContext
from thorbot.runtime import build_socket, check_slack_token, open_context, require
from thorbot.settings import Settings

log = logging.getLogger(__name__)


class OneLine(logging.Filter):
    """slack_sdk logs a full traceback every 10 s while Slack is unreachable; keep one line per attempt."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} ({type(record.exc_info[1]).__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def socket_mode_logger() -> logging.Logger:
    logger = logging.getLogger("thorbot.socket_mode")
    if not any(isinstance(f, OneLine) for f in logger.filters):
        logger.addFilter(OneLine())
    return logger


def _connected(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is None:
        log.info("thorbot socket connected")


async def run_socket(settings: Settings, stop: asyncio.Event) -> int:
    require(settings, "socket")
    async with open_context(settings) as ctx:
        installed = await check_slack_token(ctx, "socket")
        await socket_session(ctx, stop, installed)
    return 0


async def socket_session(ctx: AppContext, stop: asyncio.Event, installed: dict[str, Any] | None = None) -> None:
    """Connect over Socket Mode and run the worker in the same process until `stop`.

    The connection is made in the background (slack_sdk retries every 10 s while Slack is unreachable),
    so the worker runs and the process stops on SIGTERM whatever the connection is doing.
    """
    settings = ctx.settings
    assert settings.slack_app_token is not None
    process = build_socket(ctx)
    if installed is not None:  # auth.test's answer at start: the workspace requests must come from
        process.app.installed.remember(installed)
    handler = AsyncSocketModeHandler(process.app.bolt, settings.slack_app_token.get_secret_value(),
                                     logger=socket_mode_logger())
    connecting = asyncio.ensure_future(handler.connect_async())  # type: ignore[no-untyped-call]
    connecting.add_done_callback(_connected)
    try:
        log.info("worker %s polling every %.0fs", process.worker.id, settings.poll_interval)
        await process.worker.run(stop)
    finally:
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connecting
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handler.close_async(), timeout=2)  # type: ignore[no-untyped-call]
        await process.app.aclose()
