"""Redis adapter for the on-call side: targets, acknowledgements, mutes/snoozes, escalations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.domain.oncall import ALL, Ack, Hold, HoldKind, OnCall
from thorbot.domain.rotation import Rotation


def held_member(channel: str, incident_id: str, box_id: str) -> str:
    """A held alert as a member of keys.HELD_ALERTS (JSON: box ids are Thor's and may hold any character)."""
    return json.dumps([channel, incident_id, box_id])


class OnCallStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def set_oncall(self, channel: str, target: OnCall) -> None:
        await self.redis.hset(keys.ONCALL, channel, target.model_dump_json())

    async def clear_oncall(self, channel: str) -> bool:
        return bool(await self.redis.hdel(keys.ONCALL, channel))

    async def oncall(self, channel: str) -> OnCall | None:
        """The channel's fixed target (`/chargebox oncall`); `target` also knows its rotation."""
        raw = await self.redis.hget(keys.ONCALL, channel)
        return OnCall.model_validate_json(raw) if raw else None

    async def target(self, channel: str, now: datetime) -> OnCall | None:
        """Who an alert in the channel mentions at `now`: whoever its rotation puts on call, else its target."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.ROTATIONS, channel)
            pipe.hget(keys.ONCALL, channel)
            rotation, fixed = await pipe.execute()
        if rotation:
            return OnCall(kind="user", id=Rotation.model_validate_json(rotation).on_call(now))
        return OnCall.model_validate_json(fixed) if fixed else None

    async def set_ack(self, channel: str, ts: str, ack: Ack) -> bool:
        """Record the first acknowledgement; later clicks keep the first (who took it)."""
        stored = await self.redis.set(keys.ack(channel, ts), ack.model_dump_json(), nx=True, ex=keys.INCIDENT_TTL)
        await self.redis.zrem(keys.ESCALATIONS, f"{channel}|{ts}")
        return bool(stored)

    async def ack(self, channel: str, ts: str) -> Ack | None:
        raw = await self.redis.get(keys.ack(channel, ts))
        return Ack.model_validate_json(raw) if raw else None

    async def hold(self, channel: str, hold: Hold) -> None:
        await self.redis.hset(keys.holds(channel), f"{hold.kind}:{hold.box_id}", hold.model_dump_json())

    async def release(self, channel: str, kind: HoldKind, box_ids: list[str]) -> int:
        if not box_ids:
            return 0
        return int(await self.redis.hdel(keys.holds(channel), *[f"{kind}:{b}" for b in box_ids]))

    async def holds(self, channel: str, now: datetime) -> list[Hold]:
        raw = await self.redis.hgetall(keys.holds(channel))
        live: list[Hold] = []
        expired: list[str] = []
        for field, value in raw.items():
            hold = Hold.model_validate_json(value)
            if hold.until <= now:
                expired.append(str(field))
            else:
                live.append(hold)
        if expired:
            await self.redis.hdel(keys.holds(channel), *expired)
        return live

    async def held(self, channel: str, box_id: str, now: datetime) -> Hold | None:
        """The longest hold that covers this box in this channel, if any: a mute or snooze here, or the box's
        scheduled maintenance (which holds its alerts in every channel)."""
        matching = [h for h in await self.holds(channel, now) if h.box_id in (box_id, ALL)]
        matching += await self.maintenance_holds(box_id, now)
        return max(matching, key=lambda h: h.until) if matching else None

    async def maintenance_holds(self, box_id: str, now: datetime) -> list[Hold]:
        """The box's maintenance windows running now, as holds (adapters/history_store.py keeps the windows)."""
        found = []
        for member in await self.redis.zrangebyscore(keys.MAINTENANCE, now.astimezone(UTC).timestamp(), "+inf"):
            window = json.loads(str(member))
            start = datetime.fromisoformat(window["start"])
            if window.get("box_id") == box_id and start <= now:
                found.append(Hold(kind="maintenance", box_id=box_id, until=datetime.fromisoformat(window["end"]),
                                  by=window.get("by")))
        return found

    async def remember_held(self, channel: str, incident_id: str, box_id: str, until: datetime) -> None:
        """An alert held in this channel (a mute, a snooze, maintenance): posted when the hold ends if the
        incident is still open then (worker/holds.py)."""
        await self.redis.zadd(keys.HELD_ALERTS, {held_member(channel, incident_id, box_id):
                                                 until.astimezone(UTC).timestamp()})

    async def held_alerts(self, limit: int = 500) -> list[tuple[str, str, str]]:
        """(channel, incident id, box id) of alerts held back, soonest hold end first."""
        found = []
        for member in await self.redis.zrange(keys.HELD_ALERTS, 0, limit - 1):
            try:
                channel, incident_id, box_id = json.loads(str(member))
            except ValueError:
                continue  # not a member this code wrote: nothing to act on
            found.append((str(channel), str(incident_id), str(box_id)))
        return found


    async def schedule_escalation(self, channel: str, ts: str, at: datetime) -> None:
        await self.redis.zadd(keys.ESCALATIONS, {f"{channel}|{ts}": at.astimezone(UTC).timestamp()})

    async def escalation_candidates(self) -> list[tuple[str, str, datetime]]:
        """(channel, ts, when alerted) of every alert that may still need escalating (a small set)."""
        members = await self.redis.zrange(keys.ESCALATIONS, 0, -1, withscores=True)
        result = []
        for member, score in members:  # type: ignore[str-unpack]
            channel, _, ts = str(member).partition("|")
            result.append((channel, ts, datetime.fromtimestamp(float(score), tz=UTC)))
        return result

    async def drop_escalation(self, channel: str, ts: str) -> None:
        await self.redis.zrem(keys.ESCALATIONS, f"{channel}|{ts}")

    async def escalation_count(self, channel: str, ts: str) -> int:
        return int(await self.redis.get(keys.escalation_count(channel, ts)) or 0)

    async def bump_escalation(self, channel: str, ts: str) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(keys.escalation_count(channel, ts))
            pipe.expire(keys.escalation_count(channel, ts), keys.INCIDENT_TTL)
            count, _ = await pipe.execute()
        return int(count)

    async def claim_refresh(self, channel: str, ts: str, every: int) -> bool:
        """True for the first Refresh of an alert within `every` seconds (clicks in a hurry post one card)."""
        return bool(await self.redis.set(keys.refreshed(channel, ts), "1", nx=True, ex=every))

    async def cached_group(self, group_id: str) -> list[str] | None:
        raw = await self.redis.get(keys.usergroup(group_id))
        return list(json.loads(raw)) if raw else None

    async def cache_group(self, group_id: str, members: list[str], ttl: int = 300) -> None:
        await self.redis.set(keys.usergroup(group_id), json.dumps(members), ex=ttl)
