"""Resolve what a user typed (an id or part of a name) to chargeboxes, with a short list cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from thorbot.adapters.thor import ThorClient
from thorbot.domain.models import Chargebox
from thorbot.domain.search import looks_like_id, match_boxes
from thorbot.errors import ChargeboxNotFound


@dataclass(frozen=True)
class LookupResult:
    """Exactly one of: `box` (found), `matches` (several candidates), or neither (nothing matched)."""

    box: Chargebox | None = None
    matches: tuple[Chargebox, ...] = ()

    @property
    def candidates(self) -> list[Chargebox]:
        """The box found, or the several that matched (empty: nothing did)."""
        return [self.box] if self.box is not None else list(self.matches)


class Lookup:
    def __init__(self, thor: ThorClient, *, cache_ttl: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._thor = thor
        self._ttl = cache_ttl
        self._monotonic = monotonic
        self._cached: tuple[float, list[Chargebox]] | None = None

    async def all_boxes(self) -> list[Chargebox]:
        """The list endpoint, cached for `cache_ttl` seconds (names change rarely)."""
        now = self._monotonic()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        boxes = await self._thor.list_chargeboxes(only_active=False)
        self._cached = (now, boxes)
        return boxes

    async def resolve(self, query: str) -> LookupResult:
        """Try the query as an id first; on ChargeboxNotFound fall back to matching aliases."""
        if looks_like_id(query):
            try:
                return LookupResult(box=await self._thor.get_chargebox(query))
            except ChargeboxNotFound:
                pass
        matches = match_boxes(await self.all_boxes(), query)
        if len(matches) == 1:
            # The list may lack live fields (thor-api notes §2.4): fetch the box itself for the card.
            return LookupResult(box=await self._thor.get_chargebox(matches[0].id))
        return LookupResult(matches=tuple(matches))

    async def among(self, known: list[Chargebox], query: str) -> list[Chargebox]:
        """Match `known` boxes first (no Thor call); unless exactly one matches, ask Thor."""
        matches = match_boxes(known, query)
        return matches if len(matches) == 1 else (await self.resolve(query)).candidates
