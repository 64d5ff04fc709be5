"""Workflow Builder custom steps (manifest.yml → `functions`): a support team's workflow feeds thorbot.

- **Report a charger problem** (`report_charger_problem`): a box (id or name), a connector, what is wrong and
  details open (or add to) the same *reported by drivers* incident the report page opens; its output is the
  alert's link, once the worker has posted it (or empty, with the step still complete, if that takes longer
  than THORBOT_INTERACTIVE_DEADLINE × 5: the alert follows in the channel all the same).
- **Get chargebox status** (`get_chargebox_status`): state, last heartbeat, and how many connectors are free,
  occupied or out of order (a reported incident or failed starts open on it).

Slack runs a step with its own token (`bot_access_token`); Bolt completes it with that token. A step that
cannot be done fails with words a workflow's owner can act on, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.session_store import SessionStore
from thorbot.adapters.slack import SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.adapters.subscription_store import SubscriptionStore
from thorbot.domain.driver_reports import MAX_DETAILS, PROBLEM_LABELS, DriverReport, Problem
from thorbot.domain.failed_starts import connector_key
from thorbot.domain.incidents import Condition, classify
from thorbot.domain.models import Chargebox
from thorbot.errors import SlackError, ThorError
from thorbot.services.lookup import Lookup

log = logging.getLogger(__name__)
REPORT_STEP = "report_charger_problem"
STATUS_STEP = "get_chargebox_status"
Complete = Callable[..., Awaitable[Any]]
Fail = Callable[..., Awaitable[Any]]


def read_problem(text: str) -> Problem:
    """A workflow's "what is wrong": a code (`screen`) or the words a person picks (`Screen or buttons dead`)."""
    cleaned = " ".join(str(text).lower().replace("_", " ").split())
    for problem in Problem:
        if cleaned in (problem.value.replace("_", " "), PROBLEM_LABELS[problem].lower()):
            return problem
    for problem in Problem:
        if cleaned and (cleaned.startswith(problem.value.split("_")[0]) or PROBLEM_LABELS[problem].startswith(
                cleaned)):
            return problem
    return Problem.OTHER


@dataclass(frozen=True)
class StepTiming:
    wait_for_alert: float = 60.0  # s the report step waits for the worker's alert to give its link
    look_every: float = 0.5


class WorkflowSteps:
    def __init__(self, lookup: Lookup, subscriptions: SubscriptionStore, records: RecordStore, sessions: SessionStore,
                 slack: SlackApi,
                 clock: Callable[[], datetime], stale_after: timedelta, timing: StepTiming) -> None:
        self.lookup, self.sessions, self.slack = lookup, sessions, slack
        self.subscriptions, self.records = subscriptions, records
        self.clock, self.stale_after, self.timing = clock, stale_after, timing

    async def _box(self, query: str, fail: Fail) -> Chargebox | None:
        query = " ".join(str(query or "").split())[:200]
        if not query:
            await fail("Give a chargebox id or name.")
            return None
        try:
            found = (await self.lookup.resolve(query)).candidates
        except ThorError as exc:
            await fail(f"Thor did not answer ({exc.code}); try again in a minute.")
            return None
        if len(found) != 1:
            await fail(f"{len(found)} chargeboxes match that; use the id." if found else
                       "No chargebox has that id or a name matching it.")
            return None
        return found[0]

    async def report(self, inputs: dict[str, Any], complete: Complete, fail: Fail, execution: str) -> None:
        box = await self._box(inputs.get("chargebox", ""), fail)
        if box is None:
            return
        try:
            connector = int(str(inputs.get("connector", "")).strip().lstrip("#"))
        except ValueError:
            connector = -1
        numbers = sorted(c.number for c in box.connectors)
        if connector not in numbers:
            await fail(f"{box.alias or box.id} has connector(s) {', '.join(f'#{n}' for n in numbers) or 'none'}; "
                       f"#{inputs.get('connector')} is not one of them.")
            return
        details = " ".join("".join(c if c.isprintable() else " " for c in str(inputs.get("details") or "")).split())
        report = DriverReport(box_id=box.id, connector=connector, problem=read_problem(str(inputs.get("problem", ""))),
                              details=details[:MAX_DETAILS], source=f"slack:{execution[:60]}", at=self.clock(),
                              via="slack")
        try:
            await self.sessions.save_report(report)
            link = await self._alert_link(box.id, connector, report.at)
        except RedisDown:
            await fail("thorbot cannot reach its database (Redis) right now; try again in a minute.")
            return
        await complete(outputs={"alert_link": link})

    async def _alert_link(self, box_id: str, connector: int, since: datetime) -> str:
        """The link of the reported incident's alert in a channel watching the box, once the worker posted it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.wait_for_alert
        while True:
            record = await self.sessions.connector_record(box_id, connector)
            incident = record.reported if record is not None else None
            if incident is not None and incident.started <= since:
                for channel in (await self.subscriptions.watchers()).channels(box_id):
                    ts = await self.records.alert_ts(incident.id, channel)
                    if ts:
                        return await self._permalink(channel, ts)
            if loop.time() >= deadline:
                log.info("the report step's alert on %s #%d is not posted yet; completing without its link",
                         box_id[:40], connector)
                return ""
            await asyncio.sleep(self.timing.look_every)

    async def _permalink(self, channel: str, ts: str) -> str:
        try:
            answer = await self.slack.call("chat.getPermalink", channel=channel, message_ts=ts)
        except SlackError as exc:
            log.warning("cannot get the alert's link: %s", exc.error)
            return ""
        return str(answer.get("permalink") or "")

    async def status(self, inputs: dict[str, Any], complete: Complete, fail: Fail, execution: str) -> None:
        box = await self._box(inputs.get("chargebox", ""), fail)
        if box is None:
            return
        now = self.clock()
        condition = classify(active=box.active, connected=box.connected, last_heartbeat=box.last_heartbeat, now=now,
                             stale_after=self.stale_after)
        state = {Condition.HEALTHY: "online", Condition.DISCONNECTED: "offline", Condition.SILENT: "silent",
                 Condition.INACTIVE: "inactive", Condition.GONE: "deleted"}[condition]
        try:
            records = await self.sessions.connector_records([connector_key(box.id, c.number) for c in box.connectors])
        except RedisDown:
            records = {}
        broken = {n for n in (c.number for c in box.connectors)
                  if (r := records.get(connector_key(box.id, n))) is not None and (
                      r.reported is not None or (r.incident is not None and r.incident.resolved is None))}
        occupied = {n for n in box.occupied if n not in broken}
        free = len(box.connectors) - len(broken) - len(occupied)
        await complete(outputs={
            "state": state, "last_heartbeat": box.last_heartbeat.isoformat() if box.last_heartbeat else "",
            "connectors_free": max(0, free), "connectors_occupied": len(occupied),
            "connectors_out_of_order": len(broken)})
