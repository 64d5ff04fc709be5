"""The stickers' resolver on a real Redis (adapters/stickers.py): revocation per box, what a lost Redis does, the
index of boxes it keeps, and a key being rotated."""

from __future__ import annotations

from collections.abc import Collection

from redis.asyncio import Redis

from thorbot.adapters import keys
from thorbot.adapters.stickers import REINDEX_EVERY, StickerCodes, StickerEpochs
from thorbot.domain.stickers import Located, code_for

KEY = b"sticker-key-for-tests-only-0123456789abcdef"
OLD_KEY = b"the-previous-sticker-key-0123456789abcdefgh"
BOXES = ["EaJ7cU9NJ3YkTNgy", "a/b?c#d 北京", "x" * 300]


class Known:
    """The boxes the resolver may find, and how often it asked (the index is rebuilt only on a miss, at most
    once every REINDEX_EVERY seconds of its clock)."""

    def __init__(self, boxes: list[str]) -> None:
        self.boxes, self.reads, self.now = list(boxes), 0, 1000.0

    async def __call__(self) -> Collection[str]:
        self.reads += 1
        return list(self.boxes)

    def clock(self) -> float:
        return self.now


def codes_on(redis: Redis, known: Known, keys_: tuple[bytes, ...] = (KEY,)) -> StickerCodes:
    return StickerCodes(keys_, StickerEpochs(redis), "https://bot.example", known, monotonic=known.clock)


async def test_a_code_resolves_to_its_box_and_connector(redis: Redis) -> None:
    codes = codes_on(redis, Known(BOXES))
    for box in BOXES:
        code = await codes.code_for(box, 3)
        assert await codes.resolve(code) == (box, 3)
        assert await codes.locate(code.upper()) == Located(box, 3)
    assert await codes.url_for(BOXES[0], 1) == f"https://bot.example/r/{code_for(KEY, BOXES[0], 1)}"


async def test_revoking_a_box_voids_its_old_stickers_only(redis: Redis) -> None:
    codes = codes_on(redis, Known(BOXES))
    old = [await codes.code_for(box, 1) for box in BOXES]
    assert await codes.revoke(BOXES[0]) == 1
    new = await codes.code_for(BOXES[0], 1)
    assert new != old[0] and new == code_for(KEY, BOXES[0], 1, 1)
    assert await codes.locate(old[0]) == Located(BOXES[0], 1, revoked=True)  # the page says: no longer valid
    assert await codes.resolve(old[0]) is None
    assert await codes.resolve(new) == (BOXES[0], 1)
    assert await codes.resolve(old[1]) == (BOXES[1], 1)  # another box's stickers are untouched


async def test_after_a_lost_redis_the_first_new_sticker_scanned_revokes_the_old_ones_again(redis: Redis) -> None:
    codes = codes_on(redis, Known(BOXES))
    old = await codes.code_for(BOXES[0], 1)
    await codes.revoke(BOXES[0])
    await codes.revoke(BOXES[0])
    new = await codes.code_for(BOXES[0], 2)
    await redis.flushdb()  # Redis lost: the epochs with it
    assert await codes.resolve(old) == (BOXES[0], 1)  # un-revoked, as README says…
    assert await codes.resolve(new) == (BOXES[0], 2)  # …until a sticker made at epoch 2 is read:
    assert await codes.locate(old) == Located(BOXES[0], 1, revoked=True)
    assert await StickerEpochs(redis).epoch(BOXES[0]) == 2
    assert await codes.code_for(BOXES[0], 2) == new  # and printing again gives the same stickers


async def test_forged_and_unknown_codes_resolve_to_nothing_and_cost_one_read_a_minute(redis: Redis) -> None:
    known = Known(BOXES[:1])
    codes = codes_on(redis, known)
    assert await codes.resolve(code_for(b"a-key-thorbot-never-had-0123456789abcdef", BOXES[0], 1)) is None
    assert await codes.resolve(code_for(KEY, "not-a-box-thorbot-knows", 1)) is None
    for n in range(1, 100):  # a flood of well-formed codes for boxes nobody knows
        assert await codes.resolve(code_for(KEY, f"forged-{n}", 1)) is None
    assert known.reads == 1
    assert await redis.exists(keys.STICKER_EPOCHS) == 0  # nothing was written for any of them


async def test_a_box_thorbot_starts_watching_is_found_after_the_next_reindex(redis: Redis) -> None:
    known = Known(BOXES[:1])
    codes = codes_on(redis, known)
    assert await codes.resolve(code_for(KEY, BOXES[0], 1)) == (BOXES[0], 1)
    late = code_for(KEY, BOXES[1], 2)
    known.boxes.append(BOXES[1])
    assert await codes.resolve(late) is None  # the index was built a moment ago
    known.now += REINDEX_EVERY
    assert await codes.resolve(late) == (BOXES[1], 2)
    assert known.reads == 2


async def test_while_a_key_is_rotated_both_keys_stickers_resolve_and_new_ones_use_the_first(redis: Redis) -> None:
    codes = codes_on(redis, Known(BOXES), (KEY, OLD_KEY))
    assert await codes.resolve(code_for(OLD_KEY, BOXES[1], 1)) == (BOXES[1], 1)
    assert await codes.code_for(BOXES[1], 1) == code_for(KEY, BOXES[1], 1)
    only_new = codes_on(redis, Known(BOXES), (KEY,))
    assert await only_new.resolve(code_for(OLD_KEY, BOXES[1], 1)) is None
