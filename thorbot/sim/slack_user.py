"""A simulated Slack user: signed slash commands, button clicks and Home-tab opens, over real HTTP."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier


class SlackUser:
    def __init__(self, app_url: str, response_base: str, secret: str, *, user: str, channel: str,
                 http: httpx.AsyncClient) -> None:
        self.app_url = app_url.rstrip("/") + "/slack/events"
        self.response_base = response_base
        self.verifier = SignatureVerifier(secret)
        self.user, self.channel, self.http = user, channel, http

    def _headers(self, body: str, content_type: str) -> dict[str, str]:
        ts = str(int(time.time()))
        return {"X-Slack-Request-Timestamp": ts, "Content-Type": content_type,
                "X-Slack-Signature": str(self.verifier.generate_signature(timestamp=ts, body=body))}

    async def command(self, text: str) -> tuple[httpx.Response, str]:
        key = uuid.uuid4().hex
        body = urlencode({"team_id": "T0DEMO", "channel_id": self.channel, "channel_name": "demo-alerts",
                          "user_id": self.user, "user_name": "you", "command": "/chargebox", "text": text,
                          "api_app_id": "A0THORBOT", "trigger_id": "0.0.0",
                          "response_url": f"{self.response_base}/response/{key}"})
        response = await self.http.post(self.app_url, content=body,
                                        headers=self._headers(body, "application/x-www-form-urlencoded"))
        return response, key

    async def click(self, action_id: str, message_ts: str, *, value: str = "x", selected: str | None = None,
                    ephemeral: bool = False) -> tuple[httpx.Response, str]:
        key = uuid.uuid4().hex
        action: dict[str, Any] = {"type": "button", "action_id": action_id, "block_id": "alert_actions",
                                  "value": value, "action_ts": str(time.time())}
        if selected is not None:
            action = {"type": "static_select", "action_id": action_id, "block_id": "alert_actions",
                      "selected_option": {"text": {"type": "plain_text", "text": selected}, "value": selected}}
        payload = {"type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": self.user},
                   "api_app_id": "A0THORBOT", "channel": {"id": self.channel},
                   "container": {"type": "message", "channel_id": self.channel, "message_ts": message_ts,
                                 "is_ephemeral": ephemeral},
                   "message": {"ts": message_ts}, "trigger_id": "0.0.0",
                   "response_url": f"{self.response_base}/response/{key}", "actions": [action]}
        body = urlencode({"payload": json.dumps(payload)})
        response = await self.http.post(self.app_url, content=body,
                                        headers=self._headers(body, "application/x-www-form-urlencoded"))
        return response, key

    async def submit(self, view: dict[str, Any]) -> httpx.Response:
        """Press a modal's submit button (a signed view_submission)."""
        payload = {"type": "view_submission", "team": {"id": "T0DEMO"}, "user": {"id": self.user},
                   "api_app_id": "A0THORBOT", "trigger_id": "0.0.0",
                   "view": {"id": "V0", "state": {"values": {}}, **view}}
        body = urlencode({"payload": json.dumps(payload)})
        return await self.http.post(self.app_url, content=body,
                                    headers=self._headers(body, "application/x-www-form-urlencoded"))

    async def open_home(self) -> httpx.Response:
        body = json.dumps({"type": "event_callback", "team_id": "T0DEMO", "api_app_id": "A0THORBOT",
                           "event": {"type": "app_home_opened", "user": self.user, "tab": "home"},
                           "event_id": uuid.uuid4().hex, "event_time": int(time.time())})
        return await self.http.post(self.app_url, content=body, headers=self._headers(body, "application/json"))
