"""Who may change settings: everyone by default; THORBOT_ADMINS (users and/or user groups) restricts it."""

from __future__ import annotations

import logging

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.slack import SlackApi
from thorbot.errors import SlackError
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def may_change(settings: Settings, store: OnCallStore, slack: SlackApi | None, user_id: str) -> bool:
    users, groups = settings.admin_ids()
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
                log.warning("cannot read admin group %s: %s", group, exc.error)
                continue
            await store.cache_group(group, members)
        if user_id in members:
            return True
    return False
