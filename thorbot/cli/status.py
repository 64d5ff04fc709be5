"""`thorbot status <id or name>`: the card in the terminal; non-zero exit on any error."""

from __future__ import annotations

import asyncio

from rich.console import Console

from thorbot.adapters.terminal import mrkdwn_to_plain, render_payload, shown
from thorbot.adapters.thor import ThorClient
from thorbot.context import rules_from
from thorbot.domain.card import render_card
from thorbot.domain.replies import describe_thor_error
from thorbot.domain.session_messages import SessionView
from thorbot.domain.sessions import Session, started_by
from thorbot.domain.slash_commands import MAX_QUERY_LEN
from thorbot.domain.text import clean_input
from thorbot.errors import ThorError, ThorUnavailable
from thorbot.redact import register_secret
from thorbot.runtime import status_thor, utc_now
from thorbot.services.lookup import Lookup
from thorbot.settings import Settings

EXIT_ERROR, EXIT_NOT_FOUND, EXIT_AMBIGUOUS = 1, 3, 4


async def _running(thor: ThorClient, box_id: str, err: Console) -> list[Session]:
    try:
        return [s for s in await thor.running_charges(box_id) if s.box_id == box_id]
    except ThorError as exc:
        err.print(f"thorbot status: no session details ({exc.code})", markup=False)
        return []


async def run_status(settings: Settings, raw_query: str, console: Console | None = None) -> int:
    console = console or Console()
    err = Console(stderr=True)
    for secret in settings.secret_values():
        register_secret(secret)
    query = clean_input(raw_query)
    if not query or len(query) > MAX_QUERY_LEN:
        err.print(f"thorbot status: give a chargebox id or name (1–{MAX_QUERY_LEN} characters)")
        return EXIT_ERROR
    sessions: list[Session] = []
    deadline = settings.interactive_deadline
    async with status_thor(settings) as thor:  # a person is waiting: no retries, one overall deadline as in Slack
        try:
            async with asyncio.timeout(deadline):
                resolved = await Lookup(thor, cache_ttl=0).resolve(query)
                if resolved.box is not None:
                    sessions = await _running(thor, resolved.box.id, err)
        except TimeoutError:
            exc = ThorUnavailable("Thor did not answer in time", code="timeout", after=deadline)
            err.print("thorbot status: " + mrkdwn_to_plain(describe_thor_error(exc, query)), markup=False)
            return EXIT_ERROR
        except ThorError as exc:
            err.print("thorbot status: " + mrkdwn_to_plain(describe_thor_error(exc, query)), markup=False)
            return EXIT_ERROR
    if resolved.box is not None:
        # No Redis here: who started a charge is told by its id_tag alone (an RFID, or "app or API").
        views = {s.connector: SessionView(s, started_by(s, None), stoppable=False) for s in sessions}
        card = render_card(resolved.box, utc_now(), buttons=False, sessions=views,
                           stale_after=rules_from(settings).incidents.stale_after)
        console.print(render_payload(card))
        return 0
    if not resolved.matches:
        err.print(f"thorbot status: no chargebox has the id or a name matching {query!r}", markup=False)
        return EXIT_NOT_FOUND
    err.print(f"thorbot status: {len(resolved.matches)} chargeboxes match {query!r}; use one of these ids:",
              markup=False)
    for box in resolved.matches[:20]:
        console.print(shown(f"  {box.id}  {box.name}"))
    return EXIT_AMBIGUOUS
