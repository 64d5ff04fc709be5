"""Match a typed name against chargebox aliases. Pure."""

from __future__ import annotations

import unicodedata

from thorbot.domain.models import Chargebox


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def looks_like_id(query: str) -> bool:
    """Thor ids are opaque single tokens; anything with spaces can only be a name."""
    return 0 < len(query) <= 128 and " " not in query


def match_boxes(boxes: list[Chargebox], query: str) -> list[Chargebox]:
    """Boxes whose id or alias matches, best first; an exact match alone wins outright."""
    wanted = _fold(query)
    if not wanted:
        return []
    exact = [b for b in boxes if b.id == query or _fold(b.alias or "") == wanted]
    if exact:
        return exact
    words = wanted.split()
    ranked: list[tuple[int, str, Chargebox]] = []
    for box in boxes:
        alias = _fold(box.alias or "")
        if alias.startswith(wanted):
            rank = 0
        elif wanted in alias:
            rank = 1
        elif all(w in alias for w in words):
            rank = 2
        elif box.id.casefold().startswith(wanted):
            rank = 3
        else:
            continue
        ranked.append((rank, alias, box))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [box for _, _, box in ranked]
