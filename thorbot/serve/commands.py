"""`/chargebox`: parse, acknowledge at once, then answer through response_url.

Every command is acknowledged before any I/O (Thor, Redis, Slack): a slow or unreachable service
never costs Slack's 3-second window. What is pure (help, usage errors, a settings command in a DM)
is the acknowledgement itself; everything else acks empty and answers through response_url, with a
"working…" note first only when the answer takes more than a second (serve/reply.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from thorbot.adapters.metrics import WorkerStatusStore
from thorbot.adapters.store import RedisDown
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
from thorbot.serve.cards import Cards
from thorbot.serve.causes import Causes
from thorbot.serve.dispatch import Audit, Guard
from thorbot.serve.hours import Hours
from thorbot.serve.maintenance import MaintenanceCommand
from thorbot.serve.oncall import OnCall
from thorbot.serve.pager import PagerForms, RotationCommand
from thorbot.serve.registry import PAGER_CALLBACK, Changed, command_way, interaction_way
from thorbot.serve.reply import Payload, answer, tell
from thorbot.serve.reports import Digests, Reports
from thorbot.serve.stickers import StickersCommand
from thorbot.serve.subscriptions import Subscriptions

WORKING = ":hourglass_flowing_sand:"
IN_A_DM = ("Subscriptions, on-call, rotations, pagers and mutes belong to a channel: run this in the channel that "
           "should get the alerts (and invite @thorbot there if it is private).")
Answer = Payload | Changed


@dataclass(frozen=True)
class Subcommands:
    """The features that answer subcommands, each built in the composition root (runtime.py) with exactly the parts
    it uses: a feature's constructor is the declaration of its dependencies. HANDLERS names which feature answers
    which subcommand; nothing here sees the whole context."""

    subscriptions: Subscriptions
    oncall: OnCall
    reports: Reports
    digests: Digests
    rotations: RotationCommand
    pagers: PagerForms  # `pager` (the form, answered at once) and `pager off`
    maintenance: MaintenanceCommand
    causes: Causes
    hours: Hours
    stickers: StickersCommand


Handler = Callable[[Subcommands, Any, str, str], Awaitable[Answer]]


async def _subscriptions(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.subscriptions.answer(parsed, channel)


async def _oncall(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.oncall.answer(parsed, channel, user)


async def _report(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.reports.answer(parsed, channel)


async def _digest(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.digests.answer(parsed, channel, user)


async def _rotation(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.rotations.answer(parsed, channel, user)


async def _pager_off(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.pagers.off(channel)


async def _maintenance(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.maintenance.answer(parsed, channel, user)


async def _cause(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.causes.answer(parsed, user)


async def _hours(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.hours.answer(parsed, channel)


async def _stickers(on: Subcommands, parsed: Any, channel: str, user: str) -> Answer:
    return await on.stickers.answer(parsed, channel, user)


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


class ChargeboxCommand:
    """`/chargebox`: the subcommands' features, the status cards (a card is answered at once), the permission guard
    and the audit (serve/dispatch.py), the worker's status (help says whether it is polling), the clock, the poll
    interval, and how long an answer may take (THORBOT_INTERACTIVE_DEADLINE)."""

    def __init__(self, subcommands: Subcommands, cards: Cards, guard: Guard, audit: Audit, worker: WorkerStatusStore,
                 clock: Callable[[], datetime], *, poll_interval: float, deadline: float) -> None:
        self.subcommands, self.cards, self.guard, self.audit, self.worker = subcommands, cards, guard, audit, worker
        self.clock, self.poll_interval, self.deadline = clock, poll_interval, deadline

    async def on_command(self, command: dict[str, Any], ack: AsyncAck, respond: AsyncRespond) -> None:
        channel = str(command.get("channel_id", ""))
        try:
            parsed = parse_command(str(command.get("text", "")))
        except UsageError as exc:
            await ack(**replies.usage_error(str(exc)))
            return
        if isinstance(parsed, Help):
            await ack(**replies.help_reply())
            await self._worker_status(respond)  # after the ack: Redis is I/O
            return
        if isinstance(parsed, ShowCard):
            await ack()
            await self.cards.answer_query(parsed.query, respond, channel=channel)
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
            refused = await self.guard.refusal(interaction_way(PAGER_CALLBACK), user, channel)
            await respond(**await self.subcommands.pagers.open(channel, user, str(command.get("trigger_id", "")),
                                                               str(command.get("response_url", "")), refused))
            return
        working = ("Checking with Thor…" if isinstance(parsed, Subscribe | ListSubscriptions) else
                   "Building the report…" if isinstance(parsed, ShowReport) else "Updating…")
        await ack()
        user = str(command.get("user_id", ""))
        report = isinstance(parsed, ShowReport)  # batch work in the report process: it may take longer than a card
        text = str(command.get("text", ""))
        await answer(respond, lambda: self._answer(parsed, channel, user, text), None,
                     deadline=max(self.deadline, REPORT_DEADLINE) if report else self.deadline,
                     working=replies.simple(working, emoji=WORKING),
                     on_timeout=replies.simple(REPORT_TOO_SLOW, emoji=":hourglass:") if report else None)

    async def _answer(self, parsed: SlashCommand, channel: str, user: str, text: str) -> Payload:
        """The registry's declaration enforced: the permission first, the handler, then the audit of a change."""
        way = command_way(parsed)
        reason = await self.guard.refusal(way, user, channel)
        if reason is not None:
            return replies.simple(reason, emoji=":lock:")
        result = await HANDLERS[type(parsed)](self.subcommands, parsed, channel, user)
        if isinstance(result, Changed):
            await self.audit.record(way, user, channel, result.what, tell=result.tell)
            return result.payload
        if way.changes:
            self.audit.ran(way, user, channel, f"/chargebox {text}")
        return result

    async def _worker_status(self, respond: AsyncRespond) -> None:
        try:
            last = await self.worker.last_cycle()
        except RedisDown:
            await tell(respond, ":warning: thorbot cannot reach its database (Redis) right now.")
            return
        _, line = replies.worker_line(last, self.clock(), self.poll_interval)
        await tell(respond, line)


REPORT_DEADLINE = 120.0  # s: Slack's response_url stays valid for 30 minutes
REPORT_TOO_SLOW = ("The report took more than two minutes to build (others are being built too, or the fleet is big "
                   "for this period); try again in a minute, or ask for one box or a shorter period.")
