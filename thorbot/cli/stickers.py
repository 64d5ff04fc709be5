"""`thorbot stickers [<box>|all] [--out FILE] [--format pdf|csv] [--paper a4|letter] [--revoke]`: one QR sticker
per connector, as a printable PDF or as `box_id,connector,url` CSV. Boxes and connectors come from Thor's list
(a sticker run is rare and must cover every connector, watched or not); each box's revocation epoch from Redis.
`--revoke <box>` revokes the box's stickers (their page then says so) and writes its new ones."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from rich.console import Console

from thorbot.adapters.sticker_pdf import Paper, sticker_pdf
from thorbot.adapters.stickers import StickerCodes, StickerEpochs, known_box_ids
from thorbot.adapters.terminal import mrkdwn_to_plain, terminal_safe
from thorbot.adapters.thor import ThorClient
from thorbot.domain.models import Chargebox
from thorbot.domain.replies import describe_thor_error
from thorbot.domain.stickers import Label, labels_csv
from thorbot.domain.text import clean_input, plural
from thorbot.errors import ThorError, ThorUnavailable
from thorbot.redact import register_secret
from thorbot.runtime import open_redis, thor_client
from thorbot.services.lookup import Lookup
from thorbot.settings import Settings

EXIT_ERROR, EXIT_CONFIG, EXIT_NOT_FOUND, EXIT_AMBIGUOUS = 1, 2, 3, 4
NOT_SET = {
    "THORBOT_PUBLIC_URL": "the public https:// address of `thorbot serve`: every sticker links to <it>/r/<code>",
    "THORBOT_STICKER_KEY": "the key stickers' codes are made with (at least 32 characters; keep it: another key "
                           "voids every printed sticker)",
}


class Refused(Exception):
    def __init__(self, line: str, status: int) -> None:
        super().__init__(line)
        self.line, self.status = line, status


async def _boxes(thor: ThorClient, query: str, deadline: float) -> list[Chargebox]:
    """Every box Thor lists (`all`), or the one box `query` names; Refused with the line to print."""
    try:
        async with asyncio.timeout(deadline):
            if query.lower() == "all":
                return sorted(await thor.list_chargeboxes(only_active=False), key=lambda b: (b.alias or b.id, b.id))
            found = await Lookup(thor, cache_ttl=0).resolve(query)
    except TimeoutError:
        exc = ThorUnavailable("Thor did not answer in time", code="timeout", after=deadline)
        raise Refused(mrkdwn_to_plain(describe_thor_error(exc, query)), EXIT_ERROR) from None
    except ThorError as exc:
        raise Refused(mrkdwn_to_plain(describe_thor_error(exc, query)), EXIT_ERROR) from None
    if found.box is not None:
        return [found.box]
    if not found.matches:
        raise Refused(f"no chargebox has the id or a name matching {query!r}", EXIT_NOT_FOUND)
    ids = "; ".join(f"{box.id} ({box.name})" for box in found.matches[:20])
    raise Refused(f"{plural(len(found.matches), 'chargebox')} match {query!r}; use one of these ids: {ids}",
                  EXIT_AMBIGUOUS)


def _write(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise Refused(f"cannot write {path}: {exc.strerror or exc}", EXIT_ERROR) from None


def _slug(boxes: list[Chargebox], query: str) -> str:
    if query.lower() == "all" or len(boxes) != 1:
        return "all"
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in boxes[0].id)[:40] or "box"


async def run_stickers(settings: Settings, query: str, *, out: str | None = None, form: str = "pdf",
                       paper: Paper = "a4", revoke: bool = False) -> int:
    err = Console(stderr=True, highlight=False)
    for secret in settings.secret_values():
        register_secret(secret)
    missing = [f"{name}: {why}" for name, why in NOT_SET.items()
               if not (settings.public_url if name == "THORBOT_PUBLIC_URL" else settings.sticker_key)]
    if missing:
        err.print("thorbot stickers: cannot print stickers; not set:", markup=False)
        for line in missing:
            err.print(f"  {line}", markup=False)
        return EXIT_CONFIG
    query = clean_input(query) or "all"
    if revoke and query.lower() == "all":
        err.print("thorbot stickers: --revoke takes one box (its id or name), not all", markup=False)
        return EXIT_CONFIG
    try:
        return await _run(settings, err, query, out, form, paper, revoke)
    except Refused as refused:
        err.print(terminal_safe(f"thorbot stickers: {refused.line}"), markup=False)
        return refused.status


async def _run(settings: Settings, err: Console, query: str, out: str | None, form: str, paper: Paper,
               revoke: bool) -> int:
    client = thor_client(settings)
    try:
        boxes = await _boxes(client.interactive(), query, settings.interactive_deadline)
    finally:
        await client.aclose()
    async with open_redis(settings) as redis:
        codes = StickerCodes(settings.sticker_keys(), StickerEpochs(redis), settings.public_url,
                             known=lambda: known_box_ids(redis))
        if revoke:
            try:
                epoch = await codes.revoke(boxes[0].id)
            except ValueError as exc:
                raise Refused(str(exc), EXIT_ERROR) from None
            box = boxes[0]
            err.print(terminal_safe(f"thorbot stickers: every sticker of {box.name} ({box.id}) printed before now "
                                    f"is revoked (epoch {epoch}); put up the new ones"), markup=False)
        labels = await codes.labels(boxes)
    bare = [box for box in boxes if not box.connectors]
    data = labels_csv(labels).encode("utf-8") if form == "csv" else sticker_pdf(labels, paper)
    path = out or f"thorbot-stickers-{_slug(boxes, query)}.{form}"
    _write(path, data)
    _summary(err, labels, boxes, bare, path, form, paper)
    return 0


def _summary(err: Console, labels: list[Label], boxes: list[Chargebox], bare: list[Chargebox], path: str, form: str,
             paper: Paper) -> None:
    where = "standard output" if path == "-" else path
    what = "rows" if form == "csv" else f"labels on {paper.upper()} paper"
    err.print(f"thorbot stickers: {len(labels)} {what} ({plural(len(boxes), 'box')}) written to {where}",
              markup=False)
    if bare:
        names = ", ".join(terminal_safe(box.id) for box in bare[:10]) + (" …" if len(bare) > 10 else "")
        err.print(f"thorbot stickers: {plural(len(bare), 'box')} list no connectors, so no label: {names}",
                  markup=False)
