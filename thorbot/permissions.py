"""Who may change settings: everyone by default; THORBOT_ADMINS (users and/or user groups) restricts it."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.settings import Settings

log = logging.getLogger(__name__)


async def may_change(settings: Settings, store: OnCallStore, client: AsyncWebClient, user_id: str) -> bool:
    users, groups = settings.admin_ids()
    if not users and not groups:
        return True
    if user_id in users:
        return True
    for group in sorted(groups):
        members = await store.cached_group(group)
        if members is None:
            try:
                response = await client.usergroups_users_list(usergroup=group)
            except SlackApiError as exc:  # Tier 2 method: a failure refuses rather than opens the door
                log.warning("cannot read admin group %s: %s", group, exc.response.get("error"))
                continue
            users_list: list[str] = response.get("users", [])
            members = [str(u) for u in users_list]
            await store.cache_group(group, members)
        if user_id in members:
            return True
    return False
