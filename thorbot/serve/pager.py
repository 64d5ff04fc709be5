"""Rotations and pagers from Slack: `/chargebox rotation …`, `/chargebox pager` (a form for the key), and
PagerDuty's v3 webhook telling thorbot an incident was acknowledged or resolved there.

The routing key or signing secret is typed into a modal, never into channel text; it is checked, sealed
with THORBOT_SECRETS_KEY and stored; nothing echoes it (the answer names the pager, not the key).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck

from thorbot.adapters.slack import ResponseUrl, SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.context import AppContext
from thorbot.domain import replies
from thorbot.domain.oncall import Ack
from thorbot.domain.pager import (
    PagerKind,
    PagerLink,
    read_pagerduty_webhook,
    render_pager_status,
    routing_key_problem,
    signature_ok,
    webhook_problem,
)
from thorbot.domain.rotation import (
    Override,
    new_rotation,
    parse_rotation,
    parse_until,
    render_rotation,
)
from thorbot.domain.slash_commands import OverrideRotation, RotationOff, SetRotation, ShowRotation
from thorbot.domain.text import code, is_zone, slack_date
from thorbot.errors import SlackError
from thorbot.serve.permissions import may_change
from thorbot.services.alert_state import redraw_alert

log = logging.getLogger(__name__)
Payload = dict[str, Any]
PAGER_CALLBACK = "pager_connect"
DELAYS = {"0": "at once, with the alert", "300": "after 5 min if nobody acknowledged it",
          "900": "after 15 min if nobody acknowledged it", "1800": "after 30 min if nobody acknowledged it"}
NO_KEY = ("Pagers need `THORBOT_SECRETS_KEY` (it encrypts the keys people paste); an admin sets it in thorbot's "
          "environment and restarts it. `thorbot doctor` explains.")
MAX_WEBHOOK_BODY = 256 * 1024


# --- rotations ---------------------------------------------------------------------------------------
async def rotation_payload(ctx: AppContext, slack: SlackApi, parsed: ShowRotation | SetRotation | OverrideRotation
                           | RotationOff, channel: str, user: str) -> Payload:
    pagers, now = ctx.stores.pagers, ctx.clock()
    if isinstance(parsed, RotationOff):
        removed = await pagers.clear_rotation(channel)
        return replies.simple("The rotation is off; alerts here mention the fixed on-call target, if any "
                              "(`/chargebox oncall`)." if removed else "This channel has no rotation.", emoji=":pager:")
    if isinstance(parsed, SetRotation):
        request = parse_rotation(list(parsed.words))
        if isinstance(request, str):
            return replies.usage_error(request[:1].upper() + request[1:] + ".")
        zone = request.zone or ctx.settings.timezone
        if not is_zone(zone):
            return replies.usage_error(f"{code(zone)} is not a time zone thorbot knows; use a name like "
                                       "`Europe/Rome` or `America/New_York`.")
        unknown = await _unknown_users(slack, request.members)
        if unknown:
            return replies.usage_error(f"{unknown} is not a member of this workspace; name people with `@`.")
        created = new_rotation(request, zone, now)
        await pagers.set_rotation(channel, created, announced=created.last_change(now), regroup=True)
        return render_rotation(created, now)
    rotation = await pagers.rotation(channel)
    if rotation is None:
        target = await ctx.stores.oncall.oncall(channel)
        fixed = f"Alerts here mention {target.mention}." if target else "Alerts here mention no one."
        return replies.simple(f"This channel has no rotation. {fixed} Set one with `/chargebox rotation @a @b "
                              "weekly mon 09:00 [zone]` (or `daily 09:00`).", emoji=":pager:")
    if isinstance(parsed, OverrideRotation):
        until = parse_until(list(parsed.until), rotation.tz, now)
        if isinstance(until, str):
            return replies.usage_error(until[:1].upper() + until[1:] + ".")
        unknown = await _unknown_users(slack, (parsed.user,))
        if unknown:
            return replies.usage_error(f"{unknown} is not a member of this workspace; name people with `@`.")
        rotation = rotation.without_expired(now)
        rotation = rotation.model_copy(update={"overrides": (*rotation.overrides,
                                                             Override(user=parsed.user, since=now, until=until,
                                                                      by=user))})
        await pagers.set_rotation(channel, rotation, announced=rotation.last_change(now))
        return replies.simple(f"<@{parsed.user}> is on call here until {slack_date(until)} (by <@{user}>); then "
                              f"<@{rotation.scheduled(until)}> as scheduled.", emoji=":pager:")
    return render_rotation(rotation, now)


async def _unknown_users(slack: SlackApi, users: tuple[str, ...]) -> str | None:
    """The first of `users` Slack does not know (users.info), as a mention; None when all exist or Slack cannot say."""
    for user in users:
        try:
            await slack.user_zone(user)
        except SlackError as exc:
            if exc.error in ("user_not_found", "users_not_found"):
                return f"<@{user}>"
            log.warning("cannot check user %s (%s); accepting them", user[:20], exc.error)
    return None


# --- the pager form ----------------------------------------------------------------------------------
def pager_modal(channel: str, response_url: str) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": text}, "value": value} for value, text in DELAYS.items()]
    kinds = [{"text": {"type": "plain_text", "text": "PagerDuty (Events API v2)"}, "value": "pagerduty"},
             {"text": {"type": "plain_text", "text": "Any other pager: a signed webhook"}, "value": "webhook"}]
    return {
        "type": "modal", "callback_id": PAGER_CALLBACK,
        "private_metadata": json.dumps({"channel": channel, "response_url": response_url})[:3000],
        "title": {"type": "plain_text", "text": "Connect a pager"},
        "submit": {"type": "plain_text", "text": "Connect"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"Alerts in <#{channel}> will page it. The key "
                                         "is encrypted at rest and never shown again."}},
            {"type": "input", "block_id": "kind", "label": {"type": "plain_text", "text": "Pager"},
             "element": {"type": "static_select", "action_id": "value", "options": kinds, "initial_option": kinds[0]}},
            {"type": "input", "block_id": "secret", "label": {"type": "plain_text",
                                                               "text": "Integration key, or the webhook's secret"},
             "hint": {"type": "plain_text", "text": "PagerDuty: the service's Events API v2 integration key (32 "
                                                    "characters). Webhook: the secret your receiver checks the "
                                                    "X-Thorbot-Signature with (16 characters or more)."},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 200}},
            {"type": "input", "block_id": "url", "optional": True,
             "label": {"type": "plain_text", "text": "Webhook URL (a webhook only)"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 500,
                         "placeholder": {"type": "plain_text", "text": "https://"}}},
            {"type": "input", "block_id": "delay", "label": {"type": "plain_text", "text": "Page"},
             "element": {"type": "static_select", "action_id": "value", "options": options,
                         "initial_option": options[0]}},
        ],
    }


def _value(view: dict[str, Any], block: str) -> str:
    state = ((view.get("state") or {}).get("values") or {}).get(block) or {}
    element = state.get("value") or {}
    if element.get("type") == "static_select" or "selected_option" in element:
        return str((element.get("selected_option") or {}).get("value") or "")
    return str(element.get("value") or "").strip()


class PagerForms:
    def __init__(self, ctx: AppContext, slack: SlackApi, poster: ResponseUrl) -> None:
        self.ctx = ctx
        self.slack = slack
        self.poster = poster

    async def open(self, channel: str, user: str, trigger_id: str, response_url: str, may: bool) -> Payload:
        """`/chargebox pager`: the channel's pager; for an admin, the form to connect one (opened at once: the
        trigger expires in 3 s)."""
        pagers = self.ctx.stores.pagers
        if may and trigger_id:
            if not self.ctx.secrets.ready:
                return replies.simple(NO_KEY, emoji=":lock:")
            try:
                await self.slack.open_view(trigger_id, pager_modal(channel, response_url))
            except SlackError as exc:
                log.warning("cannot open the pager form: %s", exc.error)
        return render_pager_status(await pagers.link(channel), await pagers.failure(channel))

    async def submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = str((body.get("user") or {}).get("id", ""))
        try:
            meta = json.loads(str(view.get("private_metadata") or "{}"))
        except json.JSONDecodeError:
            meta = {}
        channel = str(meta.get("channel") or "")
        kind, secret, url, delay = _value(view, "kind"), _value(view, "secret"), _value(view, "url"), _value(view,
                                                                                                           "delay")
        errors = _problems(kind, secret, url, delay)
        if not channel:
            errors["kind"] = "This form lost its channel; run `/chargebox pager` again."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        if not await may_change(self.ctx.settings, self.ctx.stores.oncall, self.slack, user):
            await ack(response_action="errors", errors={"kind": "Only thorbot admins may connect a pager."})
            return
        if not self.ctx.secrets.ready:
            await ack(response_action="errors", errors={"secret": NO_KEY[:150]})
            return
        pager_kind: PagerKind = "pagerduty" if kind == "pagerduty" else "webhook"
        link = PagerLink(kind=pager_kind, sealed=self.ctx.secrets.seal(secret.strip()),
                         url=url if pager_kind == "webhook" else None, delay=int(delay or 0), by=user,
                         at=self.ctx.clock())
        try:
            await self.ctx.stores.pagers.set_link(channel, link)
            await self.ctx.stores.pagers.clear_failure(channel)
        except RedisDown:
            await ack(response_action="errors", errors={"kind": "thorbot cannot reach its database; try again."})
            return
        await ack()
        log.info("user %s connected a %s pager to %s", user[:20], pager_kind, channel[:20])
        response_url = str(meta.get("response_url") or "")
        if response_url:
            status = render_pager_status(link, None)
            try:
                await self.poster.post(response_url, {**status, "replace_original": False})
            except SlackError as exc:
                log.warning("cannot confirm the pager in the channel: %s", exc.error)


def _problems(kind: str, secret: str, url: str, delay: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if kind not in ("pagerduty", "webhook"):
        errors["kind"] = "Choose PagerDuty or a webhook."
    elif kind == "pagerduty":
        problem = routing_key_problem(secret)
        if problem:
            errors["secret"] = problem[:1].upper() + problem[1:] + "."
    else:
        problem = webhook_problem(url, secret)
        if problem:
            errors["url" if "URL" in problem else "secret"] = problem[:1].upper() + problem[1:] + "."
    if delay not in DELAYS:
        errors["delay"] = "Choose when to page."
    return errors


async def pager_off(ctx: AppContext, channel: str) -> Payload:
    removed = await ctx.stores.pagers.clear_link(channel)
    return replies.simple("The pager is disconnected: alerts here no longer page it (its key is deleted)." if removed
                          else "No pager is connected to this channel.", emoji=":pager:")


# --- PagerDuty's webhook -----------------------------------------------------------------------------
class PagerDutyWebhook:
    """POST /pagerduty/webhook: PagerDuty's v3 webhook (X-PagerDuty-Signature, v1 = HMAC-SHA256 of the body with
    the subscription's secret). An incident acknowledged or resolved there shows on the Slack alert and stops
    its escalation; any other event, or one about an incident thorbot did not page, is a 200 and nothing."""

    def __init__(self, ctx: AppContext, slack: SlackApi, secret: str) -> None:
        self.ctx = ctx
        self.slack = slack
        self.secret = secret

    def route(self, app: web.Application) -> None:
        app.router.add_post("/pagerduty/webhook", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_WEBHOOK_BODY + 1)
        if len(body) > MAX_WEBHOOK_BODY or not signature_ok(body, request.headers.get("X-PagerDuty-Signature", ""),
                                                            self.secret):
            log.warning("refused a PagerDuty webhook with a missing or wrong signature (%d bytes)", len(body))
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            news = read_pagerduty_webhook(json.loads(body))
        except (ValueError, RecursionError):
            log.warning("a signed PagerDuty webhook is not JSON; ignored")
            return web.json_response({"ok": True})
        if news is None:
            return web.json_response({"ok": True})
        try:
            await self._apply(news.channel, news.ts, news.by, news.action == "resolved", self.ctx.clock())
        except RedisDown:
            return web.json_response({"error": "redis unreachable"}, status=503)  # PagerDuty retries
        return web.json_response({"ok": True})

    async def _apply(self, channel: str, ts: str, by: str, resolved: bool, now: datetime) -> None:
        link = await self.ctx.stores.pagers.link(channel)
        if link is None or link.kind != "pagerduty":
            return
        oncall = self.ctx.stores.oncall
        if await oncall.set_ack(channel, ts, Ack(user="", at=now, via="PagerDuty", name=by, resolved=resolved)):
            await redraw_alert(self.ctx.stores.boxes, oncall, self.slack, channel, ts, now)
            log.info("PagerDuty: %s in %s was %s there", ts, channel[:20], "resolved" if resolved else "acknowledged")
