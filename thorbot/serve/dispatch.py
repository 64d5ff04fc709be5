"""The dispatcher: binds Slack listeners only for declared ways in (serve/registry.py) and enforces them.

- `Guard.refusal`: the permission, before a handler runs (after Slack's acknowledgement for buttons and
  commands, which need theirs within 3 s; before it for forms, whose refusal is the acknowledgement).
- `Audit.record`: every change, in the log (who, when, what) and, for a channel's setup, one line in each
  channel it concerns. Refusals of changing ways are logged too.
- `Listeners`: `app.action/view/event` wrapped with both. There is no other way to bind a listener in
  serve/app.py; a key missing from the registry raises at start, so a new button cannot ship undeclared.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.domain.session_messages import notice_modal
from thorbot.domain.text import truncate
from thorbot.errors import SlackError
from thorbot.serve.permissions import refusal
from thorbot.serve.registry import Way, interaction_way
from thorbot.serve.reply import tell
from thorbot.settings import Settings

log = logging.getLogger(__name__)
audit_log = logging.getLogger("thorbot.audit")
FORM_CHECK_BUDGET = 2.0  # s: a form's refusal is its acknowledgement, due within Slack's 3 s
NO_DATABASE = "thorbot cannot reach its database (Redis) right now; try again in a minute."
# Marks the line as thorbot's audit (not an alert): a reader of the channel's history can tell them apart.
AUDIT_METADATA = {"event_type": "thorbot_audit", "event_payload": {}}
SLOW_CHECK = "Slack was too slow to say whether you may do this; nothing was changed. Try again in a moment."


class Guard:
    """Who may use a way in (the registry's `who`), decided in one place."""

    def __init__(self, settings: Settings, oncall: OnCallStore, slack: SlackApi | None) -> None:
        self._settings = settings
        self._oncall = oncall
        self._slack = slack

    async def refusal(self, way: Way, user: str, channel: str = "") -> str | None:
        try:
            reason = await refusal(way, self._settings, self._oncall, self._slack, user)
        except RedisDown:
            reason = NO_DATABASE
        if reason is not None and way.changes:
            audit_log.info("audit: refused %s for %s in %s: %s", way.name, user[:20] or "?", channel[:20] or "-",
                           reason[:60])
        return reason


class Audit:
    """Every change in the log; a channel's setup change also as one line in the channel(s) it concerns."""

    def __init__(self, slack: SlackApi, clock: Callable[[], datetime]) -> None:
        self._slack = slack
        self._clock = clock

    async def record(self, way: Way, user: str, channel: str, what: str, *, tell: Iterable[str] = (),
                     thread_ts: str | None = None) -> None:
        """`what` is Slack text thorbot wrote, with anything people typed already escaped."""
        audit_log.info("audit: %s by %s in %s at %s: %s", way.name, user[:20] or "?", channel[:20] or "-",
                       self._clock().isoformat(timespec="seconds"), truncate(what, 300))
        if not way.setup:
            return
        line = truncate(f":gear: <@{user}> {what}" if user else f":gear: {what}", 3000)
        channels = [c for c in dict.fromkeys([channel, *tell]) if c and not c.startswith("D")]
        for target in channels:
            try:
                await self._slack.post_message(target, {"text": line, "blocks": [
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}]},
                    thread_ts=thread_ts if target == channel else None, metadata=AUDIT_METADATA)
            except SlackError as exc:  # the change stands; the log has it
                log.warning("could not tell %s about a setup change: %s", target[:20], exc.error)


    def used(self, way: Way, user: str, channel: str, detail: str) -> None:
        """A changing button, menu or form, as pressed (its handler may still find nothing to change)."""
        shown = "".join(c if c.isprintable() else " " for c in detail)
        audit_log.info("audit: %s by %s in %s at %s: pressed (%s)", way.name, user[:20] or "?", channel[:20] or "-",
                       self._clock().isoformat(timespec="seconds"), shown)

    def ran(self, way: Way, user: str, channel: str, command: str) -> None:
        """A change whose handler did not describe it: the command as typed is the what."""
        shown = "".join(c if c.isprintable() else " " for c in command)
        audit_log.info("audit: %s by %s in %s at %s: ran %s", way.name, user[:20] or "?", channel[:20] or "-",
                       self._clock().isoformat(timespec="seconds"), truncate(shown, 300))


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id", "") or body.get("user_id", ""))


def _channel(body: dict[str, Any]) -> str:
    container = body.get("container") or {}
    return str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")


ActionHandler = Callable[..., Awaitable[None]]


class Listeners:
    """The only way serve/app.py binds Slack listeners: each key must be declared in the registry."""

    def __init__(self, app: AsyncApp, guard: Guard, audit: Audit) -> None:
        self._app = app
        self._guard = guard
        self._audit = audit
        self.bound: list[str] = []

    def action(self, key: Any, handler: Callable[[AsyncAck, dict[str, Any], dict[str, Any], AsyncRespond],
                                                  Awaitable[None]], *, ways: Iterable[str] | None = None) -> None:
        """A button or menu. `key` is its action id, or a pattern matching the ids in `ways` (all declared)."""
        names = list(ways) if ways is not None else [str(key)]
        declared = {name: interaction_way(name) for name in names}  # KeyError: undeclared
        guard, audit = self._guard, self._audit

        async def listener(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                           respond: AsyncRespond) -> None:
            await ack()
            way = _way_for(declared, str(action.get("action_id", "")))
            reason = "That button is not one of thorbot's." if way is None else \
                await guard.refusal(way, _user(body), _channel(body))
            if reason is not None:
                await tell(respond, reason)
                return
            if way is not None and way.changes:
                audit.used(way, _user(body), _channel(body), str(action.get("value") or (
                    action.get("selected_option") or {}).get("value") or "")[:40])
            await handler(AsyncAck(), body, action, respond)  # type: ignore[no-untyped-call]

        self._app.action(key)(listener)
        self.bound.extend(names)

    def view(self, callback_id: str, handler: Callable[[AsyncAck, dict[str, Any], dict[str, Any]], Awaitable[None]]
             ) -> None:
        """A form's submission: refused forms are answered with a notice in place of the form."""
        way = interaction_way(callback_id)
        guard, audit = self._guard, self._audit

        async def listener(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
            try:
                async with asyncio.timeout(FORM_CHECK_BUDGET):
                    reason = await guard.refusal(way, _user(body), "")
            except TimeoutError:
                reason = SLOW_CHECK
            if reason is not None:
                await ack(response_action="update", view={**notice_modal(reason), "title": {
                    "type": "plain_text", "text": "thorbot"}})
                return
            if way.changes and not way.setup:  # a setup form records what it changed itself
                audit.used(way, _user(body), "", callback_id)
            await handler(ack, body, view)

        self._app.view(callback_id)(listener)
        self.bound.append(callback_id)

    def function(self, callback_id: str,
                 handler: Callable[[dict[str, Any], Any, Any, str], Awaitable[None]]) -> None:
        """A Workflow Builder custom step (Bolt acknowledges it; the handler completes or fails it)."""
        way = interaction_way(f"function:{callback_id}")
        guard, audit = self._guard, self._audit

        async def listener(inputs: dict[str, Any], complete: Any, fail: Any, event: dict[str, Any]) -> None:
            execution = str(event.get("function_execution_id", ""))
            reason = await guard.refusal(way, "")
            if reason is not None:
                await fail(reason)
                return
            if way.changes:
                audit.used(way, "workflow", "", execution[:40])
            await handler(inputs or {}, complete, fail, execution)

        self._app.function(callback_id)(listener)
        self.bound.append(callback_id)

    def event(self, event_type: str, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        way = interaction_way(event_type)
        guard = self._guard

        async def listener(event: dict[str, Any]) -> None:
            if await guard.refusal(way, str(event.get("user", ""))) is None:
                await handler(event)

        self._app.event(event_type)(listener)
        self.bound.append(event_type)


def _way_for(declared: dict[str, Way], action_id: str) -> Way | None:
    """The declared way of an action id: itself, or its family (`pick_3` is `pick`, numbered per button)."""
    if action_id in declared:
        return declared[action_id]
    family, _, number = action_id.rpartition("_")
    return declared.get(family) if number.isdigit() else None
