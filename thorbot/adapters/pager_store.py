"""Redis adapter for pagers and rotations: each channel's pager link (its secret sealed), the pages sent,
each channel's rotation and the last change of who is on call it announced."""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import WatchError

from thorbot.adapters import keys
from thorbot.domain.pager import PagerLink
from thorbot.domain.rotation import Rotation

PAGES_KEPT = 35 * 24 * 3600


def group_mark(channel: str) -> str:
    """The field of rotations:announced that says which change of who is on call the channel's rotation's
    user group was last set for (beside the channel's own field, the change last announced)."""
    return f"{channel}|group"


class PagerStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    # --- pagers --------------------------------------------------------------------------------
    async def link(self, channel: str) -> PagerLink | None:
        raw = await self.redis.hget(keys.PAGERS, channel)
        return PagerLink.model_validate_json(raw) if raw else None

    async def set_link(self, channel: str, link: PagerLink) -> None:
        await self.redis.hset(keys.PAGERS, channel, link.model_dump_json())

    async def replace_link(self, channel: str, old: PagerLink, new: PagerLink) -> bool:
        """Store `new` only if the channel's pager is still `old` (a re-seal must not undo a pager just replaced
        or removed from Slack meanwhile); True when stored."""
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(keys.PAGERS)
                raw = await pipe.hget(keys.PAGERS, channel)
                if raw is None or PagerLink.model_validate_json(raw) != old:
                    await pipe.reset()  # type: ignore[no-untyped-call]
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(keys.PAGERS, channel, new.model_dump_json())
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def clear_link(self, channel: str) -> bool:
        return bool(await self.redis.hdel(keys.PAGERS, channel))

    async def links(self) -> dict[str, PagerLink]:
        return {str(c): PagerLink.model_validate_json(v) for c, v in (await self.redis.hgetall(keys.PAGERS)).items()}

    async def sent(self, page_ids: list[str]) -> set[str]:
        """Which of these pages (job ids) were delivered."""
        if not page_ids:
            return set()
        scores = await self.redis.zmscore(keys.PAGES_SENT, page_ids)
        return {p for p, s in zip(page_ids, scores, strict=True) if s is not None}

    async def mark_sent(self, page_id: str, now: datetime, via: str | None = None) -> None:
        """`via`: the connection that took it (domain/pager.connection_id), kept beside it as `<id>@<via>`."""
        members = {page_id: now.timestamp(), **({f"{page_id}@{via}": now.timestamp()} if via else {})}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.PAGES_SENT, members)
            pipe.zremrangebyscore(keys.PAGES_SENT, "-inf", now.timestamp() - PAGES_KEPT)
            await pipe.execute()

    async def sent_via(self, page_id: str, via: str) -> bool:
        """Whether this page was delivered through that connection."""
        return await self.redis.zscore(keys.PAGES_SENT, f"{page_id}@{via}") is not None

    async def record_failure(self, channel: str, reason: str, now: datetime) -> bool:
        """Remember a pager's permanent failure; True the first time (the channel is told once)."""
        return bool(await self.redis.set(keys.pager_failure(channel), f"{now.isoformat()}|{reason}", nx=True,
                                         ex=keys.INCIDENT_TTL))

    async def failure(self, channel: str) -> str | None:
        raw = await self.redis.get(keys.pager_failure(channel))
        return str(raw).split("|", 1)[1] if raw else None

    async def clear_failure(self, channel: str) -> None:
        await self.redis.delete(keys.pager_failure(channel))

    # --- rotations -----------------------------------------------------------------------------
    async def rotation(self, channel: str) -> Rotation | None:
        raw = await self.redis.hget(keys.ROTATIONS, channel)
        return Rotation.model_validate_json(raw) if raw else None

    async def rotations(self) -> dict[str, Rotation]:
        return {str(c): Rotation.model_validate_json(v) for c, v in (await self.redis.hgetall(keys.ROTATIONS)).items()}

    async def set_rotation(self, channel: str, rotation: Rotation, announced: datetime | None = None,
                           *, regroup: bool = False) -> None:
        """Store a rotation; `announced`: the change of who is on call the command's reply already told;
        `regroup`: its user group (if any) is set afresh at the worker's next look (the rotation is new)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.ROTATIONS, channel, rotation.model_dump_json())
            if announced is not None:
                pipe.hset(keys.ROTATIONS_ANNOUNCED, channel, str(announced.timestamp()))
            if regroup:
                pipe.hdel(keys.ROTATIONS_ANNOUNCED, group_mark(channel))
            await pipe.execute()

    async def clear_rotation(self, channel: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.ROTATIONS, channel)
            pipe.hdel(keys.ROTATIONS_ANNOUNCED, channel, group_mark(channel))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def announced(self) -> dict[str, float]:
        return {str(c): float(v) for c, v in (await self.redis.hgetall(keys.ROTATIONS_ANNOUNCED)).items()}
