"""`/chargebox`: parse, acknowledge at once, then answer through response_url.

Every command is acknowledged before any I/O (Thor, Redis, Slack): a slow or unreachable service
never costs Slack's 3-second window. What is pure (help, usage errors, a settings command in a DM)
is the acknowledgement itself; everything else acks empty and answers through response_url, with a
"working…" note first only when the answer takes more than a second (serve/reply.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from thorbot.adapters.metrics import last_cycle
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.context import AppContext
from thorbot.domain import replies
from thorbot.domain.slash_commands import (
    CHANGES_SETTINGS,
    ClearOnCall,
    ConnectPager,
    Help,
    ListSubscriptions,
    Maintenance,
    Mute,
    OverrideRotation,
    PagerOff,
    RotationOff,
    SetCause,
    SetDigest,
    SetGroupRotation,
    SetHours,
    SetOnCall,
    SetRotation,
    ShowCard,
    ShowHours,
    ShowOnCall,
    ShowReport,
    ShowRotation,
    SlashCommand,
    Stickers,
    Subscribe,
    Unmute,
    Unsubscribe,
    parse_command,
)
from thorbot.errors import UsageError
from thorbot.serve.cards import answer_query
from thorbot.serve.causes import cause_payload
from thorbot.serve.dispatch import Audit, Guard
from thorbot.serve.hours import hours_payload
from thorbot.serve.maintenance import maintenance_payload
from thorbot.serve.oncall import oncall_payload
from thorbot.serve.pager import PagerForms, pager_off, rotation_payload
from thorbot.serve.registry import PAGER_CALLBACK, Changed, command_way, interaction_way
from thorbot.serve.reply import Payload, answer, tell
from thorbot.serve.reports import digest_payload, report_payload
from thorbot.serve.stickers import stickers_payload
from thorbot.serve.subscriptions import subscriptions_payload

WORKING = ":hourglass_flowing_sand:"
IN_A_DM = ("Subscriptions, on-call, rotations, pagers and mutes belong to a channel: run this in the channel that "
           "should get the alerts (and invite @thorbot there if it is private).")
Answer = Payload | Changed
Handler = Callable[[AppContext, SlackApi, Any, str, str], Awaitable[Answer]]


async def _subscriptions(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await subscriptions_payload(ctx, parsed, channel)


async def _oncall(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await oncall_payload(ctx, parsed, channel, user)


async def _report(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await report_payload(ctx, parsed, channel)


async def _digest(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await digest_payload(ctx, slack, parsed, channel, user)


async def _rotation(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await rotation_payload(ctx, slack, parsed, channel, user)


async def _pager_off(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await pager_off(ctx, channel)


async def _maintenance(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await maintenance_payload(ctx, parsed, channel, user)


async def _cause(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await cause_payload(ctx, parsed, user)


async def _hours(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await hours_payload(ctx, parsed, channel)


async def _stickers(ctx: AppContext, slack: SlackApi, parsed: Any, channel: str, user: str) -> Answer:
    return await stickers_payload(ctx, slack, parsed, channel, user)


# The subcommands answered through response_url, by parsed class. Help, a card and the pager form are answered
# in on_chargebox (they need the acknowledgement itself, or the trigger's 3 seconds). tests/test_registry.py
# checks that this table, those three and the registry's COMMANDS name the same classes.
HANDLERS: Mapping[type[Any], Handler] = {
    Subscribe: _subscriptions, Unsubscribe: _subscriptions, ListSubscriptions: _subscriptions,
    ShowOnCall: _oncall, SetOnCall: _oncall, ClearOnCall: _oncall, Mute: _oncall, Unmute: _oncall,
    ShowReport: _report, SetDigest: _digest,
    ShowRotation: _rotation, SetRotation: _rotation, SetGroupRotation: _rotation, OverrideRotation: _rotation,
    RotationOff: _rotation, PagerOff: _pager_off, Maintenance: _maintenance, SetCause: _cause,
    ShowHours: _hours, SetHours: _hours, Stickers: _stickers,
}
ANSWERED_AT_ONCE = (Help, ShowCard, ConnectPager)


async def on_chargebox(ctx: AppContext, slack: SlackApi, command: dict[str, Any], ack: AsyncAck,
                       respond: AsyncRespond, forms: PagerForms, guard: Guard, audit: Audit) -> None:
    channel = str(command.get("channel_id", ""))
    try:
        parsed = parse_command(str(command.get("text", "")))
    except UsageError as exc:
        await ack(**replies.usage_error(str(exc)))
        return
    if isinstance(parsed, Help):
        await ack(**replies.help_reply())
        await _worker_status(ctx, respond)  # after the ack: Redis is I/O
        return
    if isinstance(parsed, ShowCard):
        await ack()
        await answer_query(ctx, parsed.query, respond, channel=channel)
        return
    if not channel:
        await ack(**replies.usage_error("Run this command in a channel."))
        return
    if isinstance(parsed, (*CHANGES_SETTINGS, ConnectPager)) and channel.startswith("D"):
        await ack(**replies.simple(IN_A_DM, emoji=":information_source:"))
        return
    if isinstance(parsed, ConnectPager):  # the form must open within the trigger's 3 seconds: no "working…" first
        await ack()
        user = str(command.get("user_id", ""))
        refused = await guard.refusal(interaction_way(PAGER_CALLBACK), user, channel)
        await respond(**await forms.open(channel, user, str(command.get("trigger_id", "")),
                                         str(command.get("response_url", "")), refused))
        return
    working = ("Checking with Thor…" if isinstance(parsed, Subscribe | ListSubscriptions) else
               "Building the report…" if isinstance(parsed, ShowReport) else "Updating…")
    await ack()
    user = str(command.get("user_id", ""))
    report = isinstance(parsed, ShowReport)  # batch work in the report process: it may take longer than a card
    text = str(command.get("text", ""))
    await answer(respond, lambda: _answer(ctx, slack, guard, audit, parsed, channel, user, text), None,
                 deadline=max(ctx.settings.interactive_deadline, REPORT_DEADLINE) if report else
                 ctx.settings.interactive_deadline, working=replies.simple(working, emoji=WORKING),
                 on_timeout=replies.simple(REPORT_TOO_SLOW, emoji=":hourglass:") if report else None)


REPORT_DEADLINE = 120.0  # s: Slack's response_url stays valid for 30 minutes
REPORT_TOO_SLOW = ("The report took more than two minutes to build (others are being built too, or the fleet is big "
                   "for this period); try again in a minute, or ask for one box or a shorter period.")


async def _answer(ctx: AppContext, slack: SlackApi, guard: Guard, audit: Audit, parsed: SlashCommand, channel: str,
                  user: str, text: str) -> Payload:
    """The registry's declaration enforced: the permission first, the handler, then the audit of a change."""
    way = command_way(parsed)
    reason = await guard.refusal(way, user, channel)
    if reason is not None:
        return replies.simple(reason, emoji=":lock:")
    result = await HANDLERS[type(parsed)](ctx, slack, parsed, channel, user)
    if isinstance(result, Changed):
        await audit.record(way, user, channel, result.what, tell=result.tell)
        return result.payload
    if way.changes:
        audit.ran(way, user, channel, f"/chargebox {text}")
    return result


async def _worker_status(ctx: AppContext, respond: AsyncRespond) -> None:
    try:
        last = await last_cycle(ctx.redis)
    except RedisDown:
        await tell(respond, ":warning: thorbot cannot reach its database (Redis) right now.")
        return
    _, line = replies.worker_line(last, ctx.clock(), ctx.settings.poll_interval)
    await tell(respond, line)
