"""Rotations and pagers from Slack: `/chargebox rotation …`, `/chargebox pager` (a form for the key), and
PagerDuty's v3 webhook telling thorbot an incident was acknowledged or resolved there.

The routing key or signing secret is typed into a modal, never into channel text; it is checked, sealed
with THORBOT_SECRETS_KEY and stored; nothing echoes it (the answer names the pager, not the key).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck

from thorbot.adapters.history_store import HistoryStore
from thorbot.adapters.oncall_store import OnCallStore
from thorbot.adapters.outbound import OutboundPolicy
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.record_store import RecordStore
from thorbot.adapters.secrets_box import SecretBox, SecretsUnavailable
from thorbot.adapters.slack import ResponseUrl, SlackApi
from thorbot.adapters.store import RedisDown
from thorbot.domain import replies
from thorbot.domain.notify import page_jobs
from thorbot.domain.oncall import Ack
from thorbot.domain.pager import PagerLink, connection_id, read_pagerduty_webhook, signature_ok
from thorbot.domain.pagers import PagerTransport, pagerduty, transport_of, transports
from thorbot.domain.pagers.status import render_pager_status
from thorbot.domain.rotation import (
    Override,
    new_rotation,
    parse_rotation,
    parse_until,
    render_rotation,
)
from thorbot.domain.slash_commands import OverrideRotation, RotationOff, SetRotation, ShowRotation
from thorbot.domain.text import code, is_zone, slack_date
from thorbot.domain.url_policy import shown_url
from thorbot.errors import SlackError
from thorbot.serve.dispatch import Audit
from thorbot.serve.permissions import NEEDS_ADMINS
from thorbot.serve.registry import PAGER_CALLBACK, Changed, interaction_way
from thorbot.services.alert_state import redraw_alert

log = logging.getLogger(__name__)
Payload = dict[str, Any]
DELAYS = {"0": "at once, with the alert", "300": "after 5 min if nobody acknowledged it",
          "900": "after 15 min if nobody acknowledged it", "1800": "after 30 min if nobody acknowledged it"}
NO_KEY = ("Pagers need `THORBOT_SECRETS_KEY` (it encrypts the keys people paste); an admin sets it in thorbot's "
          "environment and restarts it. `thorbot doctor` explains.")
# PagerDuty documents no size for a v3 webhook. An incident's own fields are small, but an alert.* event carries
# the alert's body, and the Events API takes events up to 512 KB: 1 MiB holds the largest with room for the
# envelope and JSON escaping, and is serve's limit for any request (web.MAX_BODY).
MAX_WEBHOOK_BODY = 1024 * 1024
# A forged submission's kind (Slack's menu offers only registered ones): refused, never stored as another kind.
UNKNOWN_KIND = "Choose PagerDuty or a webhook."
FORM_RESOLVE_TIMEOUT = 1.5  # a view_submission is answered within Slack's 3 s, the webhook's host resolved in it


# --- rotations ---------------------------------------------------------------------------------------
class RotationCommand:
    """rotation (show, set, override, off): the pager store (rotations) and the on-call store (the fixed target),
    Slack (are the people named members?), the clock, the fleet's time zone, and of the permissions the user
    groups that grant rights (THORBOT_OPERATORS / THORBOT_ADMINS: a rotation may not rewrite them) and whether any
    admin is named (an override of a group rotation needs one)."""

    def __init__(self, pagers: PagerStore, oncall: OnCallStore, slack: SlackApi, clock: Callable[[], datetime], *,
                 timezone: str, operator_groups: frozenset[str], admins_named: bool) -> None:
        self.pagers, self.oncall, self.slack, self.clock = pagers, oncall, slack, clock
        self.timezone, self.operator_groups, self.admins_named = timezone, operator_groups, admins_named

    async def answer(self, parsed: ShowRotation | SetRotation | OverrideRotation | RotationOff, channel: str,
                     user: str) -> Payload | Changed:
        pagers, now, slack = self.pagers, self.clock(), self.slack
        if isinstance(parsed, RotationOff):
            removed = await pagers.clear_rotation(channel)
            if not removed:
                return replies.simple("This channel has no rotation.", emoji=":pager:")
            return Changed(replies.simple("The rotation is off; alerts here mention the fixed on-call target, if any "
                                          "(`/chargebox oncall`).", emoji=":pager:"),
                           "turned this channel's on-call rotation off (`/chargebox rotation off`).")
        if isinstance(parsed, SetRotation):
            request = parse_rotation(list(parsed.words))
            if isinstance(request, str):
                return replies.usage_error(request[:1].upper() + request[1:] + ".")
            zone = request.zone or self.timezone
            if not is_zone(zone):
                return replies.usage_error(f"{code(zone)} is not a time zone thorbot knows; use a name like "
                                           "`Europe/Rome` or `America/New_York`.")
            if request.group and request.group in self.operator_groups:
                return replies.usage_error(f"<!subteam^{request.group}> is named in `THORBOT_OPERATORS` or "
                                           "`THORBOT_ADMINS`: a rotation may not change who is in it (its members may "
                                           "stop charges or change thorbot). Keep a separate group for the rotation.")
            unknown = await _unknown_users(slack, request.members)
            if unknown:
                return replies.usage_error(f"{unknown} is not a member of this workspace; name people with `@`.")
            created = new_rotation(request, zone, now)
            await pagers.set_rotation(channel, created, announced=created.last_change(now), regroup=True)
            people = ", ".join(f"<@{m}>" for m in created.members)
            group = f", keeping <!subteam^{created.group}> to whoever is on call" if created.group else ""
            return Changed(render_rotation(created, now),
                           f"set this channel's on-call rotation: {people} ({created.cadence}){group}.")
        rotation = await pagers.rotation(channel)
        if rotation is None:
            target = await self.oncall.oncall(channel)
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
            if rotation.group and not self.admins_named:  # it rewrites a Slack user group: as `group @g`
                return replies.simple(NEEDS_ADMINS, emoji=":lock:")
            rotation = rotation.without_expired(now)
            rotation = rotation.model_copy(update={"overrides": (*rotation.overrides,
                                                                 Override(user=parsed.user, since=now, until=until,
                                                                          by=user))})
            await pagers.set_rotation(channel, rotation, announced=rotation.last_change(now))
            return Changed(replies.simple(f"<@{parsed.user}> is on call here until {slack_date(until)} (by <@{user}>); "
                                          f"then <@{rotation.scheduled(until)}> as scheduled.", emoji=":pager:"),
                           f"put <@{parsed.user}> on call here until {slack_date(until)} (a rotation override).")
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
    kinds = [{"text": {"type": "plain_text", "text": t.form_option}, "value": t.kind} for t in transports()]
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
             "hint": {"type": "plain_text", "text": " ".join(t.secret_hint for t in transports())},
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
    """pager (the status, the form, its submission) and pager off: the pager store, the secret box (seals the key
    pasted), the outbound URL policy (a webhook's URL), Slack (opens the form), the response_url poster (confirms
    in the channel), the audit, and the clock."""

    def __init__(self, pagers: PagerStore, secrets: SecretBox, outbound: OutboundPolicy, slack: SlackApi,
                 poster: ResponseUrl, audit: Audit, clock: Callable[[], datetime]) -> None:
        self.pagers, self.secrets, self.outbound = pagers, secrets, outbound
        self.slack, self.poster, self.audit, self.clock = slack, poster, audit, clock

    async def open(self, channel: str, user: str, trigger_id: str, response_url: str, refused: str | None
                   ) -> Payload:
        """`/chargebox pager`: the channel's pager; for an admin, the form to connect one (opened at once: the
        trigger expires in 3 s). `refused`: why this user may not connect one (said under the status)."""
        pagers = self.pagers
        if refused is None and trigger_id:
            if not self.secrets.ready:
                return replies.simple(NO_KEY, emoji=":lock:")
            try:
                await self.slack.open_view(trigger_id, pager_modal(channel, response_url))
            except SlackError as exc:
                log.warning("cannot open the pager form: %s", exc.error)
        status = render_pager_status(await pagers.link(channel), await pagers.failure(channel))
        if refused is None:
            return status
        note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":lock: {refused}"}]}
        return {**status, "blocks": [*status.get("blocks", []), note]}

    async def submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = str((body.get("user") or {}).get("id", ""))
        try:
            meta = json.loads(str(view.get("private_metadata") or "{}"))
        except json.JSONDecodeError:
            meta = {}
        channel = str(meta.get("channel") or "")
        kind, secret, url, delay = _value(view, "kind"), _value(view, "secret"), _value(view, "url"), _value(view,
                                                                                                           "delay")
        transport = transport_of(kind)
        errors = await _problems(transport, secret, url, delay, self.outbound)
        if not channel:
            errors["kind"] = "This form lost its channel; run `/chargebox pager` again."
        if errors or transport is None:  # an unknown kind is an error above: never stored as another kind
            await ack(response_action="errors", errors=errors)
            return
        if not self.secrets.ready:
            await ack(response_action="errors", errors={"secret": NO_KEY[:150]})
            return
        hook = url.strip() if transport.uses_url else None  # sealed like the secret: its path may be a token
        link = PagerLink(kind=transport.kind, sealed=self.secrets.seal(secret.strip()),
                         sealed_url=self.secrets.seal(hook) if hook else None, host=shown_url(hook),
                         delay=int(delay or 0), by=user, at=self.clock())
        try:
            await self.pagers.set_link(channel, link)
            await self.pagers.clear_failure(channel)
        except RedisDown:
            await ack(response_action="errors", errors={"kind": "thorbot cannot reach its database; try again."})
            return
        await ack()
        await self.audit.record(interaction_way(PAGER_CALLBACK), user, channel,
                                f"connected {_pager_name(link)} to this channel: its alerts page it "
                                f"{DELAYS.get(str(link.delay), 'after a delay')}.")
        response_url = str(meta.get("response_url") or "")
        if response_url:
            status = render_pager_status(link, None)
            try:
                await self.poster.post(response_url, {**status, "replace_original": False})
            except SlackError as exc:
                log.warning("cannot confirm the pager in the channel: %s", exc.error)

    async def off(self, channel: str) -> Payload | Changed:
        """pager off: disconnect this channel's pager (its key is deleted)."""
        link = await self.pagers.link(channel)
        removed = await self.pagers.clear_link(channel)
        if not removed:
            return replies.simple("No pager is connected to this channel.", emoji=":pager:")
        return Changed(replies.simple("The pager is disconnected: alerts here no longer page it (its key is deleted).",
                                      emoji=":pager:"),
                       f"disconnected {_pager_name(link) if link else 'the pager'}: alerts here no longer page anyone "
                       "(`/chargebox pager off`).")


async def _problems(transport: PagerTransport | None, secret: str, url: str, delay: str,
                    outbound: OutboundPolicy) -> dict[str, str]:
    """The form's errors, by field: the kind's own check of the secret and URL (its transport's), and for a kind
    that sends to the URL given, the outbound URL policy with the host resolved."""
    errors: dict[str, str] = {}
    if transport is None:
        errors["kind"] = UNKNOWN_KIND
    else:
        found = transport.form_problem(secret, url, allow_loopback=outbound.allow_loopback)
        if found is None and transport.uses_url:
            # The outbound URL policy once more with the host resolved (and again at every send): a name that
            # resolves to an internal address is refused here, with why, before anything is stored.
            resolved = await outbound.check(url.strip(), timeout=FORM_RESOLVE_TIMEOUT)
            found = ("url", resolved) if resolved else None
        if found:
            field, problem = found
            errors[field] = (problem[:1].upper() + problem[1:] + ".")[:150]
    if delay not in DELAYS:
        errors["delay"] = "Choose when to page."
    return errors


def _pager_name(link: PagerLink) -> str:
    transport = transport_of(link.kind)
    return transport.connected_name if transport else "the pager"


# --- PagerDuty's webhook -----------------------------------------------------------------------------
class PagerDutyWebhook:
    """POST /pagerduty/webhook: PagerDuty's v3 webhook (X-PagerDuty-Signature, v1 = HMAC-SHA256 of the body with
    the subscription's secret). An incident acknowledged or resolved there shows on the Slack alert and stops
    its escalation; any other event, or one about an incident thorbot did not page, is a 200 and nothing."""

    def __init__(self, pagers: PagerStore, oncall: OnCallStore, records: RecordStore, history: HistoryStore,
                 secrets: SecretBox, slack: SlackApi,
                 clock: Callable[[], datetime], secret: str, *, runbook_url: str | None) -> None:
        self.pagers, self.oncall, self.records, self.history, self.secrets = pagers, oncall, records, history, secrets
        self.slack, self.clock, self.secret, self.runbook_url = slack, clock, secret, runbook_url

    def route(self, app: web.Application) -> None:
        app.router.add_post("/pagerduty/webhook", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await _whole_body(request, MAX_WEBHOOK_BODY)
        if body is None:
            log.warning("refused a PagerDuty webhook over %d bytes", MAX_WEBHOOK_BODY)
            return web.json_response({"error": "body too large"}, status=413)
        if not signature_ok(body, request.headers.get("X-PagerDuty-Signature", ""), self.secret):
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
            await self._apply(news.channel, news.ts, news.by, news.action == "resolved", self.clock())
        except RedisDown:
            return web.json_response({"error": "redis unreachable"}, status=503)  # PagerDuty retries
        return web.json_response({"ok": True})

    async def _apply(self, channel: str, ts: str, by: str, resolved: bool, now: datetime) -> None:
        why = await self._not_ours(channel, ts, now)
        if why is not None:
            # Answered 200 all the same: PagerDuty would retry a refusal, and nothing it retries could change this.
            log.warning("ignored a PagerDuty webhook about %s in %s: %s", ts, channel[:20], why)
            return
        oncall = self.oncall
        if await oncall.set_ack(channel, ts, Ack(user="", at=now, via="PagerDuty", name=by, resolved=resolved)):
            await redraw_alert(self.records, oncall, self.history, self.slack, channel, ts, now, self.runbook_url)
            log.info("PagerDuty: %s in %s was %s there", ts, channel[:20], "resolved" if resolved else "acknowledged")

    async def _not_ours(self, channel: str, ts: str, now: datetime) -> str | None:
        """Why an event about (channel, ts) must not touch it, or None. Only an alert message whose trigger this
        channel's PagerDuty connection took is PagerDuty's to acknowledge or resolve: the key alone is text
        anyone sending events to a service in the subscription's scope can choose."""
        pagers = self.pagers
        link = await pagers.link(channel)
        if link is None or link.kind != pagerduty.KIND:  # PagerDuty's own webhook: about its pages only
            return "that channel has no PagerDuty"
        try:
            via = connection_id(link.kind, self.secrets.open(link.sealed))
        except SecretsUnavailable:
            return "its pager's key cannot be opened (THORBOT_SECRETS_KEY)"
        trigger = page_jobs("trigger", channel, ts, now)[0].id
        if not await pagers.sent_via(trigger, via):
            return "thorbot did not page that message through the channel's PagerDuty"
        return None


async def _whole_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, however many TCP segments it came in (one `read(n)` returns what has arrived so far), or
    None past `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
