"""`/chargebox report`, its Download CSV button, and `/chargebox digest` (the digest is posted by the worker)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from thorbot.adapters.digest_store import DigestStore
from thorbot.adapters.driver_limits import UploadLimits
from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.domain import replies
from thorbot.domain.digest import first_period, parse_plan
from thorbot.domain.models import Chargebox
from thorbot.domain.report_view import read_csv_value
from thorbot.domain.slash_commands import SetDigest, ShowReport
from thorbot.domain.text import code, escape, plural
from thorbot.domain.uptime import BAD_PERIOD, Period, parse_period
from thorbot.errors import SlackError, UsageError
from thorbot.serve.reply import Payload, tell
from thorbot.services.lookup import Lookup
from thorbot.services.reports import ReportBuilds

log = logging.getLogger(__name__)


class NoSuchBox(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Scope:
    """What a report covers: the period (in the channel's zone), when it is asked, and one box or the fleet."""

    period: Period
    now: datetime
    box: Chargebox | None

    @property
    def box_ids(self) -> list[str] | None:
        return [self.box.id] if self.box else None


class Reports:
    """report and its Download CSV buttons: the report builder (its own processes), the history store and the name
    look-up (which box), the digests store (a channel's digest's zone, else THORBOT_TIMEZONE), the upload limit
    (THORBOT_REPORT_UPLOADS per person), Slack (the upload), the clock, and EV-ChART's network provider."""

    def __init__(self, reports: ReportBuilds, history: HistoryStore, lookup: Lookup, digests: DigestStore,
                 uploads: UploadLimits, slack: SlackApi, clock: Callable[[], datetime], *, timezone: str,
                 upload_limit: int, evchart_provider: str) -> None:
        self.reports, self.history, self.lookup, self.digests = reports, history, lookup, digests
        self.uploads, self.slack, self.clock = uploads, slack, clock
        self.timezone, self.upload_limit, self.evchart_provider = timezone, upload_limit, evchart_provider

    async def report_zone(self, channel: str) -> str:
        plan = await self.digests.plan(channel) if channel else None
        return plan.zone if plan else self.timezone

    async def scope_of(self, query: str | None, period_text: str, channel: str) -> Scope:
        """A box (by id or name, among the boxes thorbot has history for) or the fleet, over a period."""
        now = self.clock()
        period = parse_period(period_text, now, await self.report_zone(channel))
        if period is None:
            raise UsageError(BAD_PERIOD.format(period=code(period_text)))
        if query is None:
            return Scope(period, now, None)
        known = await self.history.known_boxes()
        matches = [b for b in known if b.id == query] or await self.lookup.among(known, query)  # an id is exact
        if len(matches) != 1:
            raise NoSuchBox(f":mag: {code(query)} matches {len(matches)} chargeboxes; use the id." if matches else
                            f":mag: No chargebox matches {code(query)}.")
        return Scope(period, now, matches[0])


    async def answer(self, parsed: ShowReport, channel: str) -> Payload:
        try:
            scope = await self.scope_of(parsed.query, parsed.period, channel)
        except UsageError as exc:
            return replies.usage_error(str(exc))
        except NoSuchBox as exc:
            return replies.simple(exc.text, emoji="")
        # The Download CSV button carries the box's id: a name may be shared by several boxes.
        return await self.reports.message(scope.period, scope.now, scope.box_ids,
                                          scope=scope.box.id if scope.box else "all",
                                          scope_name=scope.box.name if scope.box else None, period_text=parsed.period)


    async def download_csv(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, *,
                           evchart: bool = False) -> None:
        """The report's Download CSV button: the full table as a file in the channel. With `evchart`, the
        quarter's two EV-ChART files (uptime per port, outages per port) instead."""
        await ack()
        value = read_csv_value(str(action.get("value", "")))
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
        user = str((body.get("user") or {}).get("id", ""))
        if value is None or not channel:
            await tell(respond, "That button is not one of thorbot's reports.")
            return
        query, period_text = value
        files: list[tuple[str, str, str]] = []  # (filename, text, title)
        try:
            if not await self.uploads.claim(user, self.upload_limit):
                await tell(respond, f"You have had {plural(self.upload_limit, 'report file')} in the last "
                                    "10 minutes, as many as thorbot uploads for one person; try again in a few "
                                    "minutes.")
                return
            scope = await self.scope_of(None if query == "all" else query, period_text, channel)
            slug = "".join(c if c.isalnum() else "-" for c in scope.box.id) if scope.box else "fleet"
            stamp = scope.now.strftime("%Y%m%d-%H%M")
            if evchart:
                if not scope.period.quarter:
                    await tell(respond, "EV-ChART is filed by quarter: ask for `/chargebox report 2026Q3` first.")
                    return
                export = await self.reports.evchart(scope.period, scope.now, scope.box_ids, self.evchart_provider)
                base = f"thorbot-evchart-{slug}-{scope.period.quarter}-{stamp}"
                files = [(f"{base}-uptime.csv", export.module3, f"EV-ChART uptime, {scope.period.label}"),
                         (f"{base}-outages.csv", export.module4, f"EV-ChART outages, {scope.period.label}")]
                summary = f"{plural(export.ports, 'port')}, {plural(export.outages, 'outage')}"
            else:
                made = await self.reports.csv(scope.period, scope.now, scope.box_ids)
                files = [(f"thorbot-report-{slug}-{period_text}-{stamp}.csv", made.text,
                          f"Reliability report, {made.label}")]
                summary = plural(made.boxes, "box")
        except (UsageError, NoSuchBox) as exc:
            await tell(respond, getattr(exc, "text", str(exc)))
            return
        except RedisDown:
            await tell(respond, "thorbot cannot reach its database (Redis) right now; try again in a minute.")
            return
        what = "EV-ChART export" if evchart else "Reliability report"
        try:
            for k, (filename, text, title) in enumerate(files):
                comment = (f"{what} ({escape(scope.box.name if scope.box else 'all')}, {scope.period.label}) for "
                           f"<@{user}>: {summary}.") if k == 0 else None
                await self.slack.upload_file(channel, filename, text, title=title, comment=comment)
        except SlackError as exc:
            log.warning("could not upload a report CSV to %s: %s", channel, exc.error)
            hint = " Invite @thorbot to this channel first." if exc.error in ("not_in_channel", "channel_not_found") \
                else ""
            await tell(respond, f"Slack did not take the file ({exc.error}).{hint}")


class Digests:
    """digest: the digests store, Slack (the asker's time zone), the clock and the fleet's time zone."""

    def __init__(self, digests: DigestStore, slack: SlackApi, clock: Callable[[], datetime], *,
                 timezone: str) -> None:
        self.digests, self.slack, self.clock, self.timezone = digests, slack, clock, timezone

    async def answer(self, parsed: SetDigest, channel: str, user: str) -> Payload:
        store = self.digests
        if not parsed.words:
            plan = await store.plan(channel)
            if plan is None:
                return replies.simple("No digest in this channel. Set one with `/chargebox digest daily 09:00` or "
                                      "`/chargebox digest weekly mon 09:00`.", emoji=":calendar:")
            return replies.simple(f"This channel gets a digest {plan.describe()}. `/chargebox digest off` stops it.",
                                  emoji=":calendar:")
        default_zone = self.timezone
        try:
            default_zone = await self.slack.user_zone(user) or default_zone
        except SlackError:
            pass  # users.info unavailable (scope, network): the configured zone will do
        try:
            plan = parse_plan(list(parsed.words), default_zone)
        except UsageError as exc:
            return replies.usage_error(str(exc))
        if plan is None:
            removed = await store.remove(channel)
            return replies.simple("Digest stopped for this channel." if removed else "This channel had no digest.",
                                  emoji=":calendar:")
        now: datetime = self.clock()
        plan = plan.model_copy(update={"last_period": first_period(plan, now), "by": user})
        await store.set(channel, plan)
        return replies.simple(f"This channel now gets a digest {plan.describe()}: boxes down, the period's outages, "
                              "the worst boxes and open mutes and snoozes.", emoji=":calendar:")
