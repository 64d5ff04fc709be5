"""`thorbot status <id or name>`: the card in the terminal; non-zero exit on any error."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console

from thorbot.adapters.lookup import Lookup
from thorbot.adapters.terminal import mrkdwn_to_plain, render_payload, terminal_safe
from thorbot.domain.card import render_card
from thorbot.domain.replies import describe_thor_error
from thorbot.domain.slash_commands import MAX_QUERY_LEN
from thorbot.domain.text import clean_input
from thorbot.errors import ThorError
from thorbot.redact import register_secret
from thorbot.runtime import thor_client, utc_now
from thorbot.settings import Settings

EXIT_ERROR, EXIT_NOT_FOUND, EXIT_AMBIGUOUS = 1, 3, 4


async def run_status(settings: Settings, raw_query: str, console: Console | None = None) -> int:
    console = console or Console()
    err = Console(stderr=True)
    for secret in settings.secret_values():
        register_secret(secret)
    query = clean_input(raw_query)
    if not query or len(query) > MAX_QUERY_LEN:
        err.print(f"thorbot status: give a chargebox id or name (1–{MAX_QUERY_LEN} characters)")
        return EXIT_ERROR
    thor = thor_client(settings)
    try:
        resolved = await Lookup(thor, cache_ttl=0).resolve(query)
    except ThorError as exc:
        err.print("thorbot status: " + mrkdwn_to_plain(describe_thor_error(exc, query)), markup=False)
        return EXIT_ERROR
    finally:
        await thor.aclose()
    if resolved.box is not None:
        card = render_card(resolved.box, utc_now(), buttons=False,
                           stale_after=timedelta(seconds=settings.heartbeat_stale_after))
        console.print(render_payload(card))
        return 0
    if not resolved.matches:
        err.print(f"thorbot status: no chargebox has the id or a name matching {query!r}", markup=False)
        return EXIT_NOT_FOUND
    err.print(f"thorbot status: {len(resolved.matches)} chargeboxes match {query!r}; use one of these ids:",
              markup=False)
    for box in resolved.matches[:20]:
        console.print(terminal_safe(f"  {box.id}  {box.name}"), markup=False)
    return EXIT_AMBIGUOUS
