"""Stickers' codes against Redis: each box's revocation epoch (the one thing stored), and the resolver from a
code back to its box and connector (domain/stickers.py says how a code is made and why).

The API the report page and the sticker printers use:
- `StickerCodes.code_for(box_id, connector) -> str`: the code printed now (the box's current epoch);
- `StickerCodes.url_for(box_id, connector) -> str`: `$THORBOT_PUBLIC_URL/r/<code>`;
- `StickerCodes.resolve(code) -> (box_id, connector) | None`: a genuine code that is not revoked;
- `StickerCodes.locate(code) -> Located | None`: a genuine code, revoked or not (the page says which);
- `StickerCodes.revoke(box_id) -> int`: every sticker of the box stops working; the new epoch;
- `StickerCodes.labels(boxes) -> list[Label]`: one label per connector, to print (adapters/sticker_pdf.py) or
  list (`domain.stickers.labels_csv`).

The resolver knows boxes through `known` (the report page: thorbot's last seen state, `known_box_ids`): it
keeps an index tag → box ids in memory, rebuilt when a code's tag is not in it, at most once every
REINDEX_EVERY seconds, so a flood of forged codes costs no more than one read of the boxes a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.adapters.history_store import read_records
from thorbot.domain.models import Chargebox
from thorbot.domain.stickers import (
    MAX_EPOCH,
    Label,
    Located,
    box_tag,
    code_for,
    find_box,
    labels_for,
    read_code,
    sticker_url,
)

REINDEX_EVERY = 60.0  # seconds between two rebuilds of the index on a tag it does not know
# Raise a box's epoch to ARGV[1] unless it is already there or above (reading a newer sticker after a lost Redis).
_RAISE = """
local now = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if now < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], ARGV[2], ARGV[1]) end
return 0
"""


class StickerEpochs:
    """Each box's revocation epoch: a Redis hash, box id → epoch; a box without one is at epoch 0."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def epoch(self, box_id: str) -> int:
        return int(await self.redis.hget(keys.STICKER_EPOCHS, box_id) or 0)

    async def epochs(self, box_ids: Sequence[str]) -> dict[str, int]:
        if not box_ids:
            return {}
        values = await self.redis.hmget(keys.STICKER_EPOCHS, list(box_ids))
        return {box_id: int(value or 0) for box_id, value in zip(box_ids, values, strict=True)}

    async def revoke(self, box_id: str) -> int:
        """The box's next epoch: every sticker made before is revoked. ValueError past MAX_EPOCH."""
        epoch = int(await self.redis.hincrby(keys.STICKER_EPOCHS, box_id, 1))
        if epoch > MAX_EPOCH:
            await self.redis.hincrby(keys.STICKER_EPOCHS, box_id, -1)
            raise ValueError(f"this box's stickers were revoked {MAX_EPOCH} times: no more codes can be made")
        return epoch

    async def raise_to(self, box_id: str, epoch: int) -> None:
        await self.redis.eval(_RAISE, 1, keys.STICKER_EPOCHS, str(epoch), box_id)


async def known_box_ids(redis: Redis) -> Collection[str]:
    """The boxes of thorbot's last seen state: those a report can be about (some channel watches them)."""
    return set(await read_records(redis))


class StickerCodes:
    def __init__(self, keys_: Sequence[bytes], epochs: StickerEpochs, public_url: str | None,
                 known: Callable[[], Awaitable[Collection[str]]], *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not keys_:
            raise ValueError("no sticker key")
        self.keys, self.epochs, self.public_url, self.known = tuple(keys_), epochs, public_url, known
        self.monotonic = monotonic
        self._index: dict[bytes, list[tuple[int, str]]] = {}
        self._indexed_at: float | None = None
        self._indexed: frozenset[str] = frozenset()
        self._rebuilding: asyncio.Future[None] | None = None

    async def code_for(self, box_id: str, connector: int) -> str:
        return code_for(self.keys[0], box_id, connector, await self.epochs.epoch(box_id))

    async def url_for(self, box_id: str, connector: int) -> str:
        if not self.public_url:
            raise ValueError("THORBOT_PUBLIC_URL is not set")
        return sticker_url(self.public_url, await self.code_for(box_id, connector))

    async def revoke(self, box_id: str) -> int:
        return await self.epochs.revoke(box_id)

    async def labels(self, boxes: Sequence[Chargebox]) -> list[Label]:
        """Every connector's label, box by box in the order given (one read of the boxes' epochs)."""
        if not self.public_url:
            raise ValueError("THORBOT_PUBLIC_URL is not set")
        epochs = await self.epochs.epochs([box.id for box in boxes])
        return [label for box in boxes for label in labels_for(box, self.keys[0], epochs[box.id], self.public_url)]

    async def resolve(self, text: str) -> tuple[str, int] | None:
        """(box id, connector) of a genuine sticker that is not revoked; None for anything else."""
        located = await self.locate(text)
        return None if located is None or located.revoked else (located.box_id, located.connector)

    async def locate(self, text: str) -> Located | None:
        """The box and connector of a genuine code, and whether it was revoked; None for a code thorbot did not
        make (or for a box it no longer knows)."""
        code = read_code(text)
        if code is None:
            return None
        box_id = find_box(self.keys, code, await self._candidates(code.tag))
        if box_id is None:
            return None
        current = await self.epochs.epoch(box_id)
        if code.epoch > current:  # only the key's holder made it: the box was revoked up to it (Redis was lost)
            await self.epochs.raise_to(box_id, code.epoch)
        return Located(box_id=box_id, connector=code.connector, revoked=code.epoch < current)

    async def _candidates(self, tag: bytes) -> list[tuple[int, str]]:
        if tag not in self._index:
            if self._rebuilding is not None:  # visits arriving while it is rebuilt wait for it (not a 404)
                await asyncio.shield(self._rebuilding)
            else:
                now = self.monotonic()
                if self._indexed_at is None or now - self._indexed_at >= REINDEX_EVERY:
                    self._indexed_at = now
                    self._rebuilding = asyncio.ensure_future(self._rebuild())
                    try:
                        await asyncio.shield(self._rebuilding)
                    finally:
                        self._rebuilding = None
        return self._index.get(tag, [])

    async def _rebuild(self) -> None:
        ids = frozenset(await self.known())
        if ids != self._indexed:
            index: dict[bytes, list[tuple[int, str]]] = {}
            for which, key in enumerate(self.keys):
                for box_id in ids:
                    index.setdefault(box_tag(key, box_id), []).append((which, box_id))
            self._index, self._indexed = index, ids
