"""Redis adapter: each box's last seen record, its incidents, and where their alerts were posted."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.adapters.history_store import read_records
from thorbot.domain.incidents import BoxRecord, Incident

_SIGHTED = """
for i = 1, #ARGV - 1, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[#ARGV])
return 1
"""


class RecordStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def record_sightings(self, sighted: dict[str, BoxRecord]) -> None:
        """What `subscribe` saw becomes each box's first sighting, unless the worker already has one: a box
        seen online that drops before the worker's first poll is then a change, and alerted."""
        if not sighted:
            return
        args: list[str | int] = []
        for box_id, record in sighted.items():
            args += [box_id, record.model_dump_json()]
        await self.redis.eval(_SIGHTED, 2, keys.BOXES, keys.BOXES_SIGHTED, *args, keys.SIGHTED_TTL)


    async def records(self) -> dict[str, BoxRecord]:
        return await read_records(self.redis)

    async def record_statuses(self, box_ids: list[str]) -> dict[str, BoxRecord]:
        if not box_ids:
            return {}
        values = await self.redis.hmget(keys.BOXES, box_ids)
        return {i: BoxRecord.model_validate_json(v) for i, v in zip(box_ids, values, strict=True) if v}

    async def incident(self, incident_id: str) -> Incident | None:
        raw = await self.redis.get(keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    async def incidents(self, incident_ids: list[str]) -> list[Incident]:
        if not incident_ids:
            return []
        values = await self.redis.mget([keys.incident(i) for i in incident_ids])
        return [Incident.model_validate_json(v) for v in values if v]

    async def recent_incidents(self, limit: int) -> list[Incident]:
        """The newest incidents opened (at most `limit`, newest first, each once; resolved ones too while kept)."""
        recent = [str(i) for i in await self.redis.lrange(keys.RECENT, 0, limit - 1)]
        return await self.incidents(list(dict.fromkeys(recent)))


    async def alert_ts(self, incident_id: str, channel: str) -> str | None:
        value = await self.redis.get(keys.alert_message(incident_id, channel))
        return str(value) if value else None

    async def message_incidents(self, channel: str, ts: str) -> list[str]:
        raw = await self.redis.get(keys.message(channel, ts))
        return list(json.loads(raw)) if raw else []
