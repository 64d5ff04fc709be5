"""`/chargebox stickers <id|name> [letter|a4]`: the box's QR stickers, a PDF to print (one label per connector,
adapters/sticker_pdf.py), uploaded to the channel. Admins only (serve/registry.py): a sticker is the way in
for drivers' reports, so who prints them is controlled. The box and its connectors come from Thor (a box no
channel watches has stickers too); the codes from domain/stickers.py. Counted with the report files each
person may upload (THORBOT_REPORT_UPLOADS per 10 minutes)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from thorbot.adapters.driver_limits import UploadLimits
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.sticker_pdf import Paper, sticker_pdf
from thorbot.adapters.stickers import StickerCodes
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.adapters.thor import ThorClient
from thorbot.domain import replies
from thorbot.domain.slash_commands import Stickers
from thorbot.domain.text import code, escape, plural, truncate
from thorbot.errors import SlackError, ThorError
from thorbot.serve.oncall import resolve_watched
from thorbot.services.lookup import Lookup

log = logging.getLogger(__name__)
Payload = dict[str, Any]
NOT_SET = ("Stickers need `THORBOT_PUBLIC_URL` (serve's public https address: the stickers link to it) and "
           "`THORBOT_STICKER_KEY` set where thorbot runs (docs/configuration.md).")


class StickersCommand:
    """stickers: the stickers' codes (None without THORBOT_STICKER_KEY) and serve's public address they link to, the
    subscription and record stores and the name look-up (to find the box), Thor's interactive client (its connectors),
    the upload limit (THORBOT_REPORT_UPLOADS per person) and Slack (the upload)."""

    def __init__(self, codes: StickerCodes | None, subscriptions: SubscriptionStore, records: RecordStore,
                 lookup: Lookup, thor: ThorClient, uploads: UploadLimits, slack: SlackApi, *, public_url: str | None,
                 upload_limit: int) -> None:
        self.codes, self.lookup, self.thor, self.uploads, self.slack = codes, lookup, thor, uploads, slack
        self.subscriptions, self.records = subscriptions, records
        self.public_url, self.upload_limit = public_url, upload_limit

    async def answer(self, parsed: Stickers, channel: str, user: str) -> Payload:
        codes, slack = self.codes, self.slack
        if codes is None or not self.public_url:
            return replies.simple(NOT_SET, emoji=":warning:")
        query = parsed.query
        paper: Paper = "letter" if parsed.paper == "letter" else "a4"
        found, problems = await resolve_watched(self.subscriptions, self.records, self.lookup, channel, (query,), None)
        if len(found) != 1:
            return replies.usage_error(" ".join(problems) or f"No chargebox matches {code(query)}.")
        try:  # the list's entry (or the channel's record) may lack the connectors: the box itself has them
            box = await self.thor.get_chargebox(found[0].id)
        except ThorError as exc:
            return replies.simple(replies.describe_thor_error(exc, query), emoji=":warning:")
        labels = await codes.labels([box])
        name = f"*{escape(truncate(box.name, 80))}* {code(box.id, 40)}"
        if not labels:
            return replies.simple(f"Thor lists no connectors for {name}: no stickers to make.", emoji=":warning:")
        if not await self.uploads.claim(user, self.upload_limit):
            return replies.simple(f"You have had {plural(self.upload_limit, 'file')} in the last 10 minutes, "
                                  "as many as thorbot uploads for one person; try again in a few minutes.",
                                  emoji=":hourglass:")
        pdf = await asyncio.to_thread(sticker_pdf, labels, paper, title=f"Stickers of {box.name}")
        slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in box.id)[:40] or "box"
        try:
            await slack.upload_file(channel, f"thorbot-stickers-{slug}.pdf", pdf, title=f"Stickers: {box.name}",
                                    comment=f"QR stickers of {name} for <@{user}>: {plural(len(labels), 'connector')}, "
                                            f"{paper.upper() if paper == 'a4' else 'US Letter'}. Print at 100 % (no "
                                            "fit-to-page) and put each on its connector.")
        except SlackError as exc:
            log.warning("could not upload stickers to %s: %s", channel, exc.error)
            hint = " Invite @thorbot to this channel first." if exc.error in ("not_in_channel", "channel_not_found") \
                else ""
            return replies.simple(f"Slack did not take the file ({escape(exc.error)}).{hint}", emoji=":warning:")
        return replies.simple(f"Stickers of {name} are in this channel: {plural(len(labels), 'label')}.",
                              emoji=":label:")
