"""The channel's pager as `/chargebox pager` shows it: the link in its transport's words. Pure."""

from __future__ import annotations

from typing import Any

from thorbot.domain.blocks import message, section
from thorbot.domain.pager import PagerLink
from thorbot.domain.pagers import transport_of
from thorbot.domain.text import escape, slack_date, truncate


def render_pager_status(link: PagerLink | None, failure: str | None) -> dict[str, Any]:
    if link is None:
        text = ("No pager is connected to this channel: alerts post here and mention whoever is on call. An admin "
                "can connect PagerDuty or a signed webhook with `/chargebox pager` (a form opens; the key is never "
                "shown in the channel).")
    else:
        transport = transport_of(link.kind)
        # A kind registered no more is named as stored: the worker refuses its pages and says so (failure).
        where = transport.shown_in_slack(link) if transport else f"a pager of kind `{escape(link.kind[:40])}`"
        delay = f"{link.delay // 60} min after the alert if nobody acknowledged it" if link.delay else "with the alert"
        since = f", connected by <@{link.by}> {slack_date(link.at)}" if link.by and link.at else ""
        text = (f":pager: Alerts in this channel page {where}: {delay}; recoveries resolve the page, Acknowledge "
                f"acknowledges it{since}. Disconnect with `/chargebox pager off`.")
        if failure:
            text += f"\n:warning: Its last page was refused: {escape(truncate(failure, 300))}."
    return message("Pager", [section(text)], response_type="ephemeral")
