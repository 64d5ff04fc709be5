"""A fake Slack Web API and `response_url` sink, written from slack-platform.md.

Implements what thorbot calls: auth.test, chat.postMessage, chat.update, chat.postEphemeral,
conversations.history (with message metadata), views.publish; bearer-token checks; JSON or form
bodies; the ~1 message/second/channel limit answered with HTTP 429 + Retry-After; injected 5xx;
and response_url's 5 uses. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from thorbot.adapters.slack import BOT_SCOPES

MessageListener = Callable[[str, dict[str, Any]], None]


@dataclass
class SlackCall:
    method: str
    body: dict[str, Any]
    status: int


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    updates: int = 0


@dataclass
class SlackFaults:
    rate_limit_per_channel: float = 0.0        # minimum seconds between posts in one channel (0 = off)
    fail_next: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # method -> statuses
    post_then_fail: int = 0                     # store the next N posts, then answer 500 (ambiguous failure)
    latency: float = 0.0                        # seconds before every Web API answer
    retry_after: int = 1                        # the Retry-After of an injected 429
    response_429: int = 0                       # answer the next N response_url posts with 429
    # method -> (status, content type, body) answered as-is, e.g. a proxy's HTML 502 or a bare text 503
    raw_next: dict[str, list[tuple[int, str, str]]] = field(default_factory=lambda: defaultdict(list))
    # method -> answered only once the event is set: a request held in flight, so a test can act meanwhile
    hold: dict[str, asyncio.Event] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)  # the methods of the requests being held right now


class FakeSlack:
    def __init__(self, token: str = "xoxb-test", app_token: str = "xapp-test") -> None:
        self.token = token
        self.app_token = app_token
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self.base_url = ""  # set by whoever serves it, e.g. "http://127.0.0.1:PORT"
        self.faults = SlackFaults()
        self.calls: list[SlackCall] = []
        self.messages: list[SlackMessage] = []
        self.responses: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.modals: list[dict[str, Any]] = []         # views.open, in order
        self.listeners: list[MessageListener] = []
        self.memberships: dict[str, list[str]] = {}   # user -> channels (users.conversations)
        self.usergroups: dict[str, list[str]] = {}    # group -> users (usergroups.users.list / .update)
        self.usergroups_locked: set[str] = set()       # groups only admins may change (a bot gets permission_denied)
        self.private_channels: set[str] = set()       # conversations.info: channel_not_found unless the bot is in
        self.bot_channels: set[str] = set()
        self.history_denied: set[str] = set()          # public channels the bot posts in without being a member
        self.files: list[dict[str, Any]] = []           # files shared (files_upload_v2): content (text), data (bytes)
        self.user_zones: dict[str, str] = {}            # user → tz (users.info)
        self.unknown_users: set[str] = set()            # users.info: user_not_found (not in the workspace)
        self._uploads: dict[str, bytes] = {}
        self.team_id = "T0FAKE"                        # the workspace the app is installed in (auth.test)
        self.scopes: list[str] = list(BOT_SCOPES)      # granted to the bot token (auth.test's x-oauth-scopes)
        self.function_tokens: dict[str, str] = {}      # function execution id → its bot access token
        self.functions_completed: dict[str, dict[str, Any]] = {}  # execution id → {"outputs": …} or {"error": …}
        self._last_post: dict[str, float] = {}
        self._seq = itertools.count(1)
        self._base = int(time.time())

    def response_url(self, base_url: str, key: str) -> str:
        return f"{base_url}/response/{key}"

    def posts(self, channel: str | None = None) -> list[SlackMessage]:
        return [m for m in self.messages if channel is None or m.channel == channel]

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c.method == method)

    def _notify(self, kind: str, payload: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, payload)

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await _read_body(request)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if method in self.faults.hold:
            self.faults.held.append(method)
            await self.faults.hold[method].wait()
            self.faults.held.remove(method)
        if self.faults.raw_next.get(method):
            status, content_type, text = self.faults.raw_next[method].pop(0)
            self.calls.append(SlackCall(method, body, status))
            return web.Response(status=status, text=text, content_type=content_type)
        status, answer, headers = self._answer(method, body, request.headers.get("Authorization", ""))
        self.calls.append(SlackCall(method, body, status))
        return web.json_response(answer, status=status, headers=headers)

    def _answer(self, method: str, body: dict[str, Any], auth: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.faults.fail_next.get(method):
            status = self.faults.fail_next[method].pop(0)
            headers = {"Retry-After": str(self.faults.retry_after)} if status == 429 else {}
            return status, {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}, headers
        if method == "apps.connections.open":  # Socket Mode: authenticated with the app-level token
            if auth != f"Bearer {self.app_token}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.base_url.replace("http", "ws", 1) + "/socket"}, {}
        if method.startswith("functions."):  # a custom step completes with its execution's own token
            execution = str(body.get("function_execution_id", ""))
            if not execution or auth != f"Bearer {self.function_tokens.get(execution, '')}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
        elif auth != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        result: tuple[int, dict[str, Any], dict[str, str]] = handler(body)
        return result

    def function_executed(self, callback_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """A `function_executed` event as Slack sends it when a workflow runs one of the app's custom steps (the
        Events API wrapper included); its execution gets its own bot access token, as Slack documents."""
        execution = f"Fx{next(self._seq):010d}"
        token = f"xwfp-{execution}-{next(self._seq)}"
        self.function_tokens[execution] = token
        return {"token": "unused", "team_id": self.team_id, "api_app_id": "A0THORBOT", "type": "event_callback",
                "event_id": f"Ev{execution}", "event_time": self._base,
                "event": {"type": "function_executed", "function": {
                    "id": f"Fn{callback_id[:8]}", "callback_id": callback_id, "title": callback_id, "type": "app",
                    "app_id": "A0THORBOT", "input_parameters": [], "output_parameters": [],
                    "date_created": self._base, "date_updated": self._base, "date_deleted": 0},
                    "inputs": inputs, "function_execution_id": execution, "workflow_execution_id": f"Wx{execution}",
                    "event_ts": f"{self._base}.000100", "bot_access_token": token}}

    def _functions_completeSuccess(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        outputs = body.get("outputs")
        if isinstance(outputs, str):
            outputs = json.loads(outputs)
        if not isinstance(outputs, dict):
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        self.functions_completed[str(body["function_execution_id"])] = {"outputs": outputs}
        return 200, {"ok": True}, {}

    def _functions_completeError(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        error = str(body.get("error", ""))
        if not error:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        self.functions_completed[str(body["function_execution_id"])] = {"error": error}
        return 200, {"ok": True}, {}

    def _chat_getPermalink(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel, ts = str(body.get("channel", "")), str(body.get("message_ts", ""))
        if not any(m.channel == channel and m.ts == ts for m in self.messages):
            return 200, {"ok": False, "error": "message_not_found"}, {}
        return 200, {"ok": True, "channel": channel,
                     "permalink": f"https://fake.slack/archives/{channel}/p{ts.replace('.', '')}"}, {}

    def _auth_test(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"ok": True, "url": "https://fake.slack/", "team": "Fake", "user": "thorbot",
                     "team_id": self.team_id, "user_id": "U0THORBOT", "bot_id": "B0THORBOT"}, \
            {"x-oauth-scopes": ",".join(self.scopes)}

    def _chat_postMessage(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = str(body.get("channel", ""))
        if not channel:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        blocks = _blocks(body)
        if len(blocks) > 50:
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        if channel in self.private_channels and channel not in self.bot_channels:
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        now = time.monotonic()
        gap = self.faults.rate_limit_per_channel
        if gap and now - self._last_post.get(channel, -1e9) < gap:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(1, round(gap)))}
        self._last_post[channel] = now
        ts = f"{self._base}.{next(self._seq):06d}"
        metadata = body.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        message = SlackMessage(channel, ts, str(body.get("text", "")), blocks, body.get("thread_ts"), metadata)
        self.messages.append(message)
        self._notify("post", {"channel": channel, "ts": ts, "text": message.text, "blocks": blocks,
                              "thread_ts": message.thread_ts})
        if self.faults.post_then_fail > 0:
            self.faults.post_then_fail -= 1
            return 500, {"ok": False, "error": "internal_error"}, {}
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text}}, {}

    def _chat_update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        for message in self.messages:
            if message.channel == body.get("channel") and message.ts == body.get("ts"):
                message.text = str(body.get("text", message.text))
                message.blocks = _blocks(body) if "blocks" in body else []
                message.updates += 1
                self._notify("update", {"channel": message.channel, "ts": message.ts, "text": message.text,
                                        "blocks": message.blocks})
                return 200, {"ok": True, "channel": message.channel, "ts": message.ts}, {}
        return 200, {"ok": False, "error": "message_not_found"}, {}

    def _chat_postEphemeral(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.ephemerals.append(body)
        self._notify("ephemeral", {**body, "blocks": _blocks(body)})
        return 200, {"ok": True, "message_ts": f"{self._base}.{next(self._seq):06d}"}, {}

    def _conversations_history(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = str(body.get("channel"))
        if channel in self.history_denied:
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        found = [m for m in reversed(self.messages) if m.channel == channel and m.thread_ts is None]
        return self._page(found, body, thread=False)

    def _conversations_replies(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel, parent = body.get("channel"), body.get("ts")
        if channel in self.history_denied:
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        found = [m for m in self.messages if m.channel == channel and (m.ts == parent or m.thread_ts == parent)]
        return self._page(found, body, thread=True)

    @staticmethod
    def _page(found: list[SlackMessage], body: dict[str, Any], *, thread: bool
              ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One page of messages with Slack's cursor pagination (the cursor is an offset here)."""
        limit = max(1, min(int(body.get("limit", 100)), 1000))
        start = int(body.get("cursor") or 0)
        page = found[start:start + limit]
        with_meta = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        items = [{"type": "message", "ts": m.ts, "text": m.text,
                  **({"thread_ts": m.thread_ts or m.ts} if thread else {}),
                  **({"metadata": m.metadata} if with_meta and m.metadata else {})} for m in page]
        more = start + limit < len(found)
        answer: dict[str, Any] = {"ok": True, "messages": items, "has_more": more}
        if more:
            answer["response_metadata"] = {"next_cursor": str(start + limit)}
        return 200, answer, {}

    def _conversations_info(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = str(body.get("channel", ""))
        private = channel in self.private_channels
        if private and channel not in self.bot_channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        return 200, {"ok": True, "channel": {"id": channel, "is_private": private, "is_archived": False,
                                             "is_member": channel in self.bot_channels}}, {}

    def _users_conversations(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channels = self.memberships.get(str(body.get("user")), [])
        return 200, {"ok": True, "channels": [{"id": c} for c in channels], "response_metadata": {}}, {}

    def _usergroups_users_list(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        group = str(body.get("usergroup"))
        if group not in self.usergroups:
            return 200, {"ok": False, "error": "no_such_subteam"}, {}
        return 200, {"ok": True, "users": self.usergroups[group]}, {}

    def _usergroups_users_update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Replaces the group's members (Slack's docs: `usergroup`, `users` comma-separated, `usergroups:write`;
        `permission_denied` when the workspace lets only admins change groups and the token is a bot's)."""
        if "usergroups:write" not in self.scopes:
            return 200, {"ok": False, "error": "missing_scope", "needed": "usergroups:write"}, {}
        group = str(body.get("usergroup", ""))
        if group not in self.usergroups:
            return 200, {"ok": False, "error": "no_such_subteam"}, {}
        if group in self.usergroups_locked:
            return 200, {"ok": False, "error": "permission_denied"}, {}
        users = [u for u in str(body.get("users", "")).split(",") if u]
        if not users:
            return 200, {"ok": False, "error": "no_users_provided"}, {}
        self.usergroups[group] = users
        return 200, {"ok": True, "usergroup": {"id": group, "users": users}}, {}

    def _conversations_open(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        users = str(body.get("users", ""))
        if not users.startswith(("U", "W")):
            return 200, {"ok": False, "error": "user_not_found"}, {}
        return 200, {"ok": True, "channel": {"id": "D" + users[1:]}}, {}

    def _views_open(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        view = body.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not body.get("trigger_id") or not isinstance(view, dict):
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        opened = {**view, "id": f"V{next(self._seq):06d}"}  # Slack gives every view its own id
        self.modals.append(opened)
        self._notify("modal", opened)
        return 200, {"ok": True, "view": opened}, {}

    def _users_info(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        user = str(body.get("user", ""))
        if not user.startswith(("U", "W")) or user in self.unknown_users:
            return 200, {"ok": False, "error": "user_not_found"}, {}
        info: dict[str, Any] = {"id": user, "name": user.lower()}
        if user in self.user_zones:
            info["tz"] = self.user_zones[user]
        return 200, {"ok": True, "user": info}, {}

    def _files_getUploadURLExternal(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        file_id = f"F{next(self._seq):08d}"
        return 200, {"ok": True, "file_id": file_id, "upload_url": f"{self.base_url}/upload/{file_id}"}, {}

    async def upload(self, request: web.Request) -> web.Response:
        self._uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - 1")

    def _files_completeUploadExternal(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        files = body.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        if not isinstance(files, list) or not files:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        channel = str(body.get("channel_id") or body.get("channels") or "")
        if channel in self.private_channels and channel not in self.bot_channels:
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        shared = []
        for item in files:
            file_id = str(item.get("id"))
            if file_id not in self._uploads:
                return 200, {"ok": False, "error": "file_not_found"}, {}
            data = self._uploads.pop(file_id)  # the bytes as sent: text (a CSV) or not (a PDF)
            record = {"id": file_id, "title": item.get("title"), "channel": channel,
                      "comment": body.get("initial_comment"), "content": data.decode("utf-8", errors="replace"),
                      "data": data}
            self.files.append(record)
            self._notify("file", record)
            shared.append({"id": file_id, "title": item.get("title")})
        return 200, {"ok": True, "files": shared}, {}

    def _views_publish(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        view = body.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        self.views[str(body.get("user_id"))] = view if isinstance(view, dict) else {}
        return 200, {"ok": True}, {}

    async def response(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if self.faults.response_429 > 0:
            self.faults.response_429 -= 1
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": str(self.faults.retry_after)})
        if len(self.responses[key]) >= 5:
            return web.Response(status=404, text="used_url")  # Slack allows 5 uses per response_url
        payload = await request.json()
        self.responses[key].append(payload)
        self._notify("response", {"key": key, **payload})
        return web.Response(text="ok")

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, then record the app's acknowledgements of pushed envelopes."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self.sockets),
                            "connection_info": {"app_id": "A0THORBOT"}})
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                data = json.loads(message.data)
                if "envelope_id" in data:
                    self.socket_acks[data["envelope_id"]] = data.get("payload") or {}
        self.sockets.remove(ws)
        return ws

    async def push(self, envelope_type: str, payload: dict[str, Any]) -> str:
        """Send an event/command/interaction to the connected app, as Slack does over Socket Mode."""
        envelope_id = f"env-{next(self._seq)}"
        await self.sockets[-1].send_json({"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                                          "accepts_response_payload": envelope_type != "events_api"})
        return envelope_id

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self.api)
        app.router.add_get("/api/{method}", self.api)  # slack_sdk sends read methods as GET + query
        app.router.add_post("/response/{key}", self.response)
        app.router.add_post("/upload/{file_id}", self.upload)
        app.router.add_get("/socket", self.socket)
        return app


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return list(blocks)


async def _read_body(request: web.Request) -> dict[str, Any]:
    # slack_sdk sends some arguments as query parameters even on POST, so merge both.
    merged: dict[str, Any] = dict(request.query)
    if request.method == "GET":
        return merged
    if request.content_type == "application/json":
        data = await request.json()
        return {**merged, **data} if isinstance(data, dict) else merged
    form = await request.post()
    return {**merged, **{k: str(v) for k, v in form.items()}}
