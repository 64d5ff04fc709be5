"""The Bolt app. Every Slack listener is registered here, in `build_app`; each delegates to a thin handler.

    /chargebox ............... serve/commands.py   (parse, ack at once, answer via response_url)
    card Share / Refresh / pick serve/cards.py
    alert Acknowledge / Snooze / Refresh  serve/alert_actions.py
    Stop charge… and its modal serve/stop.py
    app_home_opened .......... serve/home.py
    each listener ............ declared in serve/registry.py, bound through serve/dispatch.py (permission, audit)
    middleware ............... pooled response_url posts; refuse other workspaces
    errors ................... one line in the log, never a traceback to Slack

A handler acks first (Slack's 3-second window), then works, renders with a pure function from
domain/ and answers through `response_url` (serve/reply.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.authorization import AuthorizeResult

from thorbot.adapters.slack import Respond, ResponseUrl, SlackApi
from thorbot.domain.alerts import (
    ACTION_ACK,
    ACTION_ALERT_REFRESH,
    ACTION_CAUSE,
    ACTION_CONFIRM,
    ACTION_RESOLVE,
    ACTION_SNOOZE,
)
from thorbot.domain.card import ACTION_REFRESH, ACTION_SHARE
from thorbot.domain.replies import ACTION_PICK
from thorbot.domain.report_view import ACTION_REPORT_CSV, ACTION_REPORT_EVCHART
from thorbot.domain.session_messages import ACTION_STOP, STOP_CALLBACK
from thorbot.errors import SlackError
from thorbot.serve.alert_actions import AlertActions
from thorbot.serve.cards import Cards
from thorbot.serve.commands import ChargeboxCommand
from thorbot.serve.dispatch import Audit, Guard, Listeners
from thorbot.serve.home import Home
from thorbot.serve.registry import APP_HOME_OPENED, PAGER_CALLBACK
from thorbot.serve.stop import StopActions
from thorbot.serve.workflow_steps import REPORT_STEP, STATUS_STEP, WorkflowSteps

log = logging.getLogger(__name__)


class _NotOurTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the client we give it wins: true, and by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "`token` will be unused" not in message and "will be ignored" not in message  # `Installed` has it


logging.getLogger("slack_bolt.AsyncApp").addFilter(_NotOurTokenWarning())
Next = Callable[[], Awaitable[BoltResponse]]


class Installed:
    """Bolt's `authorize`: the workspace thorbot is installed in, from one auth.test (made at start: `remember`)
    and cached. Bolt's own authorize makes that call before the first request's handler runs, so with Slack
    unreachable every signed request got HTTP 500 and no acknowledgement. Here no request waits for Slack:
    until auth.test has answered once, a request passes on its signature alone (`same_workspace` compares
    it with itself) and auth.test is tried again in the background, at most every RETRY seconds."""

    RETRY = 30.0

    def __init__(self, slack: SlackApi, clock: Callable[[], float] = time.monotonic) -> None:
        self.slack, self.clock = slack, clock
        self.result: AuthorizeResult | None = None
        self._tried = -self.RETRY
        self._task: asyncio.Task[None] | None = None

    def remember(self, answer: dict[str, Any]) -> None:
        """auth.test's answer: from now on every request is checked against this workspace."""
        self.result = AuthorizeResult(enterprise_id=answer.get("enterprise_id") or None,
                                      team_id=answer.get("team_id") or None, bot_user_id=answer.get("user_id"),
                                      bot_id=answer.get("bot_id"), bot_token=self.slack.client.token)

    async def authorize(self, enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        if self.result is not None:
            return self.result
        if (self._task is None or self._task.done()) and self.clock() - self._tried >= self.RETRY:
            self._tried = self.clock()
            self._task = asyncio.create_task(self._learn())
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                               bot_token=self.slack.client.token)

    async def _learn(self) -> None:
        try:
            answer, _ = await self.slack.auth_info()
        except SlackError as exc:
            log.warning("Slack's auth.test still fails (%s): the workspace check waits for it", exc.error)
            return
        self.remember(answer)


def _authorize(installed: Installed) -> Callable[[str | None, str | None, str | None], Awaitable[AuthorizeResult]]:
    # Bolt passes what a function's parameters name (read from its signature): a plain function, no `self`.
    async def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        return await installed.authorize(enterprise_id, team_id, user_id)

    return authorize


@dataclass(frozen=True)
class SlackFeatures:
    """What the Slack app's listeners call, each part built in the composition root (runtime.slack_features) with
    exactly what it uses (its constructor says what). `build_app` only binds them: it never sees the context."""

    slack: SlackApi  # the Web API Bolt answers through
    guard: Guard
    audit: Audit
    chargebox: ChargeboxCommand  # /chargebox and every subcommand's feature (commands.Subcommands)
    cards: Cards
    alerts: AlertActions
    stops: StopActions
    home: Home
    steps: WorkflowSteps


def build_app(features: SlackFeatures, poster: ResponseUrl, signing_secret: str | None,
              installed: Installed | None = None) -> AsyncApp:
    """Create the AsyncApp with every listener wired. `signing_secret=None` means Socket Mode; answers
    through response_url go out over `poster` (pooled; the caller closes it); `installed`: the workspace, known
    from auth.test at start."""
    slack = features.slack
    app = AsyncApp(
        client=slack.client,
        signing_secret=signing_secret or "socket-mode-has-no-signing-secret",
        request_verification_enabled=signing_secret is not None,
        ssl_check_enabled=True,
        authorize=_authorize(installed or Installed(slack)),
    )
    chargebox = features.chargebox

    @app.middleware
    async def pooled_respond(context: Any, body: dict[str, Any], next: Next) -> BoltResponse:
        url = body.get("response_url")
        if isinstance(url, str) and url:
            context["respond"] = Respond(poster, url)
        return await next()

    @app.middleware
    async def same_workspace(context: Any, next: Next) -> BoltResponse:
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

    @app.command("/chargebox")  # every subcommand is declared in serve/registry.py and enforced in commands.py
    async def chargebox_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await chargebox.on_command(command, ack, respond)

    _bind(Listeners(app, features.guard, features.audit), features)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener: %s", type(error).__name__, exc_info=error)

    return app


def _bind(on: Listeners, features: SlackFeatures) -> None:
    """Every interaction, each declared in serve/registry.py (binding an undeclared one raises)."""
    cards, alerts, stops, home, steps = features.cards, features.alerts, features.stops, features.home, features.steps
    forms, reports = features.chargebox.subcommands.pagers, features.chargebox.subcommands.reports

    async def share(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await cards.share(body, action, respond)

    async def refresh(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await cards.refresh(body, action, respond)

    async def report_csv(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await reports.download_csv(ack, body, action, respond)

    async def report_evchart(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                             respond: AsyncRespond) -> None:
        await reports.download_csv(ack, body, action, respond, evchart=True)

    async def acknowledge(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                          respond: AsyncRespond) -> None:
        await alerts.acknowledge(ack, body, respond)

    async def alert_refresh(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                            respond: AsyncRespond) -> None:
        await alerts.refresh(ack, body, respond)

    async def home_opened(event: dict[str, Any]) -> None:
        await home.publish(event)

    on.action(ACTION_SHARE, share)
    on.action(re.compile(f"^({ACTION_REFRESH}|{ACTION_PICK}_\\d+)$"), refresh, ways=(ACTION_REFRESH, ACTION_PICK))
    on.action(ACTION_ACK, acknowledge)
    on.action(ACTION_SNOOZE, alerts.snooze)
    on.action(ACTION_ALERT_REFRESH, alert_refresh)
    on.action(ACTION_CAUSE, alerts.cause)
    on.action(ACTION_CONFIRM, alerts.confirm)
    on.action(ACTION_RESOLVE, alerts.resolve)
    on.action(ACTION_STOP, stops.click)
    on.view(STOP_CALLBACK, stops.submit)
    on.view(PAGER_CALLBACK, forms.submit)
    on.action(ACTION_REPORT_CSV, report_csv)
    on.action(ACTION_REPORT_EVCHART, report_evchart)
    on.event(APP_HOME_OPENED, home_opened)
    on.function(REPORT_STEP, steps.report)
    on.function(STATUS_STEP, steps.status)
