"""Who may do what: THORBOT_ADMINS change settings; THORBOT_OPERATORS (and admins) stop charges.

An empty THORBOT_ADMINS means everyone may change settings, except the ways in the registry marks
`needs_admins` (a pager, a rotation's user group): those wait for a named admin. Stopping a driver's charge
is different: with both lists empty nobody may (default deny; `thorbot doctor` says how to turn it on). A user
group's members are read from Slack (cached five minutes); if Slack cannot say, the answer is no
rather than an open door.
"""

from __future__ import annotations

import logging

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.slack import SlackApi
from thorbot.errors import SlackError
from thorbot.serve.registry import Way, Who
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def may_change(settings: Settings, store: OnCallStore, slack: SlackApi | None, user_id: str) -> bool:
    """Subscribe, unsubscribe, on-call, mute: THORBOT_ADMINS."""
    return await _member(*settings.admin_ids(), store, slack, user_id)


async def may_stop(settings: Settings, store: OnCallStore, slack: SlackApi | None, user_id: str) -> bool:
    """Stop a charge from Slack: THORBOT_OPERATORS and THORBOT_ADMINS; nobody when both are empty."""
    if not settings.stops_enabled():
        return False
    return await _member(*settings.operator_ids(), store, slack, user_id)


async def _member(users: set[str], groups: set[str], store: OnCallStore, slack: SlackApi | None, user_id: str) -> bool:
    if not users and not groups:
        return True
    if user_id in users:
        return True
    for group in sorted(groups):
        members = await store.cached_group(group)
        if members is None:
            if slack is None:
                continue
            try:
                members = await slack.usergroup_members(group)
            except SlackError as exc:  # Tier 2 method: a failure refuses rather than opens the door
                log.warning("cannot read user group %s: %s", group, exc.error)
                continue
            await store.cache_group(group, members)
        if user_id in members:
            return True
    return False


NOT_AN_ADMIN = ("Only thorbot admins may change subscriptions, on-call and mutes in this workspace "
                "(`THORBOT_ADMINS`). Ask one of them, or use `/chargebox list` and status cards freely.")
NEEDS_ADMINS = ("This changes where alerts go, so it needs a thorbot admin, and none is named yet. Put your Slack "
                "member id (or a user group's id) in `THORBOT_ADMINS` (comma-separated), restart thorbot, and run "
                "this again; `thorbot doctor` explains. Everything else keeps working meanwhile.")
NOT_AN_OPERATOR = ("Only thorbot operators may stop a charge in this workspace (`THORBOT_OPERATORS` or "
                   "`THORBOT_ADMINS`). Ask one of them.")
STOPS_OFF = ("Stopping charges from Slack is turned off in this workspace: nobody is named who may. An admin can "
             "turn it on by setting `THORBOT_OPERATORS` (user or user-group ids) and restarting thorbot; "
             "`thorbot doctor` explains.")


async def refusal(way: Way, settings: Settings, store: OnCallStore, slack: SlackApi | None, user_id: str
                  ) -> str | None:
    """Why `user_id` may not use `way`, in words; None when they may. The one place the registry's `who` is read."""
    if way.who is Who.EVERYONE:
        return None
    if way.who is Who.OPERATOR:
        if not settings.stops_enabled():
            return STOPS_OFF
        return None if await may_stop(settings, store, slack, user_id) else NOT_AN_OPERATOR
    users, groups = settings.admin_ids()
    if way.needs_admins and not users and not groups:
        return NEEDS_ADMINS
    return None if await may_change(settings, store, slack, user_id) else NOT_AN_ADMIN
