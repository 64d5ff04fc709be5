"""One way to turn typed targets into boxes, for subscribe, unsubscribe, mute and unmute: several
unquoted words are tried as one name first (`/chargebox mute tokyo hotel garage 1 2h`), then word by
word (`/chargebox subscribe B1 B2`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from thorbot.domain.models import Chargebox

Resolver = Callable[[str], Awaitable[list[Chargebox]]]


async def resolve_targets(queries: tuple[str, ...], phrase: str | None,
                          resolve: Resolver) -> list[tuple[str, list[Chargebox]]]:
    """(what was typed, the boxes it matches) for each target."""
    if phrase:
        whole = await resolve(phrase)
        if len(whole) == 1:
            return [(phrase, whole)]
        split = [(q, await resolve(q)) for q in dict.fromkeys(queries)]
        if whole and not all(len(m) == 1 for _, m in split):
            return [(phrase, whole)]  # "which one?" about the name they typed, not about each word
        return split
    return [(q, await resolve(q)) for q in dict.fromkeys(queries)]
