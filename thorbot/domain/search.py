"""Match what people type against chargebox names and ids. Pure.

Names are compared folded: case and accents ignored, every kind of dash (-, –, —) and punctuation a
word break. Matches are ranked in tiers and only the best tier is returned, so a close match is
never drowned by loose ones ("parking lot a" does not also match "Parking lot B" because "a" is in
"parking"):

0. the exact id, or the exact name: wins outright;
1. the typed words appear together, in order, as whole words ("hotel garage" in "Tokyo – Hotel garage #1");
2. the name starts with what was typed;
3. every typed word is a whole word of the name, in any order;
4. what was typed appears inside the name;
5. every typed word starts a word of the name ("tok hot");
6. the id starts with what was typed.
"""

from __future__ import annotations

import re
import unicodedata

from thorbot.domain.models import Chargebox

_WORD = re.compile(r"\w+")  # "#1" and "1" are the same word; so are "Müller-Straße" and "muller strasse"


def fold(text: str) -> str:
    """Lower case, no accents, dashes and punctuation as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(plain))


def looks_like_id(query: str) -> bool:
    """Thor ids are opaque single tokens; anything with spaces can only be a name."""
    return 0 < len(query) <= 128 and " " not in query


def _contains_run(words: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(words[i:i + n] == run for i in range(len(words) - n + 1))


def rank(box: Chargebox, query: str, folded: str | None = None) -> int | None:
    """The tier (0 best) in which `box` matches `query`, or None."""
    wanted = folded if folded is not None else fold(query)
    if not wanted:
        return None
    if box.id == query.strip():
        return 0
    name = fold(box.alias or "")
    if name == wanted:
        return 0
    typed, words = wanted.split(), name.split()
    if _contains_run(words, typed):
        return 1
    if name.startswith(wanted):
        return 2
    if all(t in words for t in typed):
        return 3
    if wanted in name:
        return 4
    if all(any(w.startswith(t) for w in words) for t in typed):
        return 5
    if box.id.casefold().startswith(query.strip().casefold()):
        return 6
    return None


def match_boxes(boxes: list[Chargebox], query: str) -> list[Chargebox]:
    """The boxes in the best tier that matches, by name; empty when nothing matches."""
    folded = fold(query)
    ranked = [(r, fold(b.alias or b.id), b) for b in boxes if (r := rank(b, query, folded)) is not None]
    if not ranked:
        return []
    best = min(r for r, _, _ in ranked)
    return [b for _, _, b in sorted((item for item in ranked if item[0] == best), key=lambda item: item[1])]
