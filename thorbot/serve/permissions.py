"""Who may do what: THORBOT_ADMINS change settings; THORBOT_OPERATORS (and admins) stop charges.

An empty THORBOT_ADMINS means everyone may change settings. Stopping a driver's charge is different:
with both lists empty nobody may (default deny; `thorbot doctor` says how to turn it on). A user
group's members are read from Slack (cached five minutes); if Slack cannot say, the answer is no
rather than an open door.
"""

from __future__ import annotations

import logging

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.slack import SlackApi
from thorbot.errors import SlackError
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
