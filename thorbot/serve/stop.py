"""Stop a charge from Slack: the button opens a confirmation modal; confirming asks Thor to stop it.

- Only THORBOT_OPERATORS and THORBOT_ADMINS may; with both empty nobody may, and no Stop button is shown.
- One stop per charge at a time: confirming claims the transaction (and the confirmation itself) in
  Redis before Thor is called, so a replayed submission or a second operator is told who asked, and
  when, instead of sending Thor the command again. The intent is audited before the call, Thor's
  answer after it.
- Thor needs the id_tag the charge was started with: the RFID from its running list, or, for a charge
  started from Thor's app or the API, the id_tag of its start notification (only there). Without one,
  the button says why it cannot stop it.
- Every attempt is audited: who, when, which box, connector and transaction, and Thor's answer, in
  Redis and in a message (in the thread of the notice clicked, or in the channel of the card); the
  worker then reports in its thread whether the charge really stopped (Thor's stop notification, or
  the charge leaving the running list within THORBOT_STOP_CONFIRM_WITHIN), else "not confirmed".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.session_store import SessionStore, StopClaim, StopRequest
from thorbot.adapters.slack import Respond, ResponseUrl, SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.adapters.thor import ThorClient
from thorbot.domain.notifications import tag_hash
from thorbot.domain.replies import describe_thor_error
from thorbot.domain.session_messages import notice_modal, read_stop_value, refusal, render_stop_request, stop_modal
from thorbot.domain.sessions import stop_id_tag
from thorbot.domain.text import slack_date
from thorbot.errors import SlackError, ThorError, ThorRefused
from thorbot.serve.permissions import NOT_AN_OPERATOR, STOPS_OFF, may_stop
from thorbot.serve.reply import tell
from thorbot.settings import Settings

log = logging.getLogger(__name__)
CLAIM_MARGIN = 60.0  # seconds a claim outlives the confirmation window
NO_ID_TAG = ("thorbot cannot stop this charge: it was started from Thor's app or the API, and Thor only gives the "
             "id_tag a stop needs in its start notification, which thorbot did not receive. Set up Thor's "
             "notifications (docs/sessions.md), or stop it from the Thor dashboard.")


ACK_BUDGET = 2.0  # seconds the confirmation may spend deciding before Slack's 3-second window closes


def _already(claim: StopClaim) -> str:
    return (f"Already asked: <@{claim.by}> asked Thor to stop this charge at {slack_date(claim.at)}. thorbot posts "
            "the outcome in the thread of that request; nothing else was sent to Thor.")


class StopActions:
    """Stop charge… and its confirmation: the settings (who may stop: serve/permissions.py reads them, and how long
    a claim holds), the on-call store (user groups' members, cached), the session store (claims, start notes, the
    audit), the record store (a box's name), Thor's interactive client, Slack, the clock, and how long the worker
    waits for a stop to be confirmed."""

    def __init__(self, settings: Settings, oncall: OnCallStore, sessions: SessionStore, records: RecordStore,
                 thor: ThorClient, slack: SlackApi, clock: Callable[[], datetime], *,
                 confirm_within: timedelta) -> None:
        self.settings, self.oncall, self.sessions, self.records = settings, oncall, sessions, records
        self.thor, self.slack, self.clock, self.confirm_within = thor, slack, clock, confirm_within

    async def click(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        """The Stop button: check who and whether, then open the confirmation modal (within Slack's 3 s trigger)."""
        await ack()
        data = read_stop_value(str(action.get("value", "")))
        user = str((body.get("user") or {}).get("id", ""))
        if data is None:
            await tell(respond, "That button is not one of thorbot's; nothing was stopped.")
            return
        if not self.settings.stops_enabled():
            await tell(respond, STOPS_OFF)
            return
        try:
            if not await may_stop(self.settings, self.oncall, self.slack, user):
                await tell(respond, NOT_AN_OPERATOR)
                return
            stoppable = bool(data.get("k")) or bool(await self.sessions.start_notes([int(data["t"])]))
        except RedisDown:
            await tell(respond, "thorbot cannot reach its database (Redis) right now; try again in a minute.")
            return
        if not stoppable:
            await tell(respond, NO_ID_TAG)
            return
        container = body.get("container") or {}
        where = {"channel": str(container.get("channel_id") or (body.get("channel") or {}).get("id") or ""),
                 "message_ts": "" if container.get("is_ephemeral") else str(container.get("message_ts") or ""),
                 "response_url": str(body.get("response_url") or ""), "stop": data}
        name = await self._name(str(data["b"]), str(data.get("n") or ""))
        view = stop_modal(data, name=name, now=self.clock(), private=json.dumps(where, separators=(",", ":")))
        try:
            await self.slack.open_view(str(body.get("trigger_id", "")), view)
        except SlackError as exc:
            log.warning("could not open the stop confirmation: %s", exc.error)
            await tell(respond, "Slack did not open the confirmation in time; press the button again.")

    async def submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Confirmed: claim the charge, audit the intent, ask Thor, audit the outcome. Once, whoever repeats it."""
        user = str((body.get("user") or {}).get("id", ""))
        where, data = _confirmation(view)
        if data is None:
            await ack()
            log.warning("a stop confirmation arrived without a session; nothing was stopped")
            return
        box_id, connector, transaction = str(data["b"]), int(data["c"]), int(data["t"])
        view_id = str(view.get("id") or "")[:64] or f"t{transaction}"
        claim = StopClaim(by=user, at=self.clock())
        try:
            async with asyncio.timeout(ACK_BUDGET):
                refusal_text = await self._may_claim(user, view_id, transaction, claim)
        except TimeoutError:  # a slow user-group lookup: answer Slack now, decide after
            await ack()
            refusal_text = await self._may_claim(user, view_id, transaction, claim)
            if refusal_text:
                await self._respond(str(where.get("response_url") or ""), {"text": refusal_text})
                return
        except RedisDown:
            await ack(response_action="update", view=notice_modal(
                "thorbot cannot reach its database (Redis) right now, so it did not ask Thor. Try again in a minute."))
            return
        else:
            if refusal_text:
                log.warning("refused a stop confirmation from %s on transaction %d: %s", user[:20], transaction,
                            refusal_text[:60])
                await ack(response_action="update", view=notice_modal(refusal_text))
                return
            await ack()
        await self._stop(user, box_id, str(data.get("n") or ""), connector, transaction, claim, where)

    async def _may_claim(self, user: str, view_id: str, transaction: int, claim: StopClaim) -> str | None:
        """None when this user may stop and now holds the claim; else why not, in words."""
        if not self.settings.stops_enabled():
            return STOPS_OFF
        if not await may_stop(self.settings, self.oncall, self.slack, user):
            return NOT_AN_OPERATOR
        ttl = self.settings.stop_confirm_within + CLAIM_MARGIN
        held = await self.sessions.claim_stop(view_id, transaction, claim, ttl)
        return _already(held) if held is not None else None

    async def _stop(self, user: str, box_id: str, shown_name: str, connector: int, transaction: int,
                    claim: StopClaim, where: dict[str, Any]) -> None:
        now = self.clock()
        name = await self._name(box_id, shown_name)
        request = StopRequest(id=uuid.uuid4().hex[:16], box_id=box_id, alias=name, connector=connector,
                              transaction=transaction, by=user, at=now, thor_answer="asking Thor to stop it…",
                              stage="asking")
        try:
            await self.sessions.audit_intent(request)
        except RedisDown:
            log.error("remote stop by %s on %s #%d not asked: Redis unreachable, so it could not be audited",
                      user[:20], box_id[:40], connector)
            await self._respond(str(where.get("response_url") or ""), {
                "text": "thorbot cannot reach its database (Redis) right now, so it did not ask Thor. Try again."})
            return
        answer, accepted, energy, tag = await self._ask_thor(box_id, connector, transaction)
        if not accepted:
            with contextlib.suppress(*RedisDown):
                await self.sessions.release_stop(transaction, claim)
        request = request.model_copy(update={"thor_answer": answer, "energy_wh": energy, "stage": "answered",
                                             "id_tag_hash": tag_hash(tag) if tag else None,
                                             "confirmed": None if accepted else False,
                                             "settled_at": None if accepted else self.clock()})
        await self._audit(request, where)

    async def _ask_thor(self, box_id: str, connector: int, transaction: int
                        ) -> tuple[str, bool, int | None, str | None]:
        """(what Thor answered in plain words, was the command accepted, energy so far, the id_tag used)."""
        thor = self.thor
        try:
            running = [s for s in await thor.running_charges(box_id) if s.transaction == transaction]
        except ThorError as exc:
            return f"not sent: {describe_thor_error(exc)}", False, None, None
        if not running:
            return "not sent: that charge is no longer running (it may just have ended).", False, None, None
        session = running[0]
        note = (await self.sessions.start_notes([transaction])).get(transaction)
        id_tag = stop_id_tag(session, note)
        if id_tag is None:
            return f"not sent: {NO_ID_TAG}", False, session.energy_wh, None
        try:
            await thor.stop_charge(box_id, connector, id_tag, transaction)
        except ThorRefused as exc:
            return f"Thor refused: {refusal(exc.code)}.", False, session.energy_wh, id_tag
        except ThorError as exc:
            return f"it failed: {describe_thor_error(exc)}", False, session.energy_wh, id_tag
        return "Thor accepted the command; waiting for the box to confirm…", True, session.energy_wh, id_tag

    async def _audit(self, request: StopRequest, where: dict[str, Any]) -> None:
        """Thor's answer: in a message (the notice's thread, or the card's channel) and in Redis."""
        payload = render_stop_request(by=request.by, name=request.alias or request.box_id,
                                      connector=request.connector, transaction=request.transaction,
                                      energy_wh=request.energy_wh, outcome=request.thor_answer)
        channel, parent = str(where.get("channel") or ""), str(where.get("message_ts") or "") or None
        posted: str | None = None
        if channel and not channel.startswith("D"):
            try:
                posted = await self.slack.post_message(channel, payload, thread_ts=parent)
            except SlackError as exc:
                log.warning("could not post the stop audit in %s: %s", channel, exc.error)
        if posted is None and where.get("response_url"):
            await self._respond(str(where["response_url"]), payload)
        request = request.model_copy(update={"channel": channel if posted else None,
                                             "thread_ts": (parent or posted) if posted else None})
        confirm_by = request.at + self.confirm_within
        try:
            await self.sessions.record_stop(request, confirm_by)
        except RedisDown:
            log.error("remote stop by %s on %s #%d: Thor's answer not recorded: Redis unreachable", request.by[:20],
                      request.box_id[:40], request.connector)
        log.info("remote stop by %s on %s #%d (transaction %d): %s", request.by[:20], request.box_id[:40],
                 request.connector, request.transaction, request.thor_answer[:120])

    async def _respond(self, url: str, payload: dict[str, Any]) -> None:
        if not url:
            return
        poster = ResponseUrl()
        try:
            await Respond(poster, url)(replace_original=False, response_type="ephemeral", **payload)
        except SlackError as exc:
            log.warning("could not tell the user how the stop went: %s", exc.error)
        finally:
            await poster.aclose()

    async def _name(self, box_id: str, shown: str = "") -> str:
        """The box's name: as the button showed it, else as the worker last saw it, else its id."""
        if shown:
            return shown
        try:
            record = (await self.records.record_statuses([box_id])).get(box_id)
        except RedisDown:
            record = None
        return record.alias if record is not None and record.alias else box_id


def _confirmation(view: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(where the button was, the session it stops) from the modal's private metadata."""
    try:
        where = json.loads(str(view.get("private_metadata") or "{}"))
        if not isinstance(where, dict):
            return {}, None
        return where, read_stop_value(json.dumps(where.get("stop")))
    except (ValueError, RecursionError):
        return {}, None
