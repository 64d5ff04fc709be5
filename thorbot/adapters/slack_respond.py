"""Answer through `response_url` over one shared aiohttp session.

Bolt's built-in `respond()` opens a new HTTP session (and TCP/TLS connection) per call; under load
that cost showed up in the slash-command benchmark. This drop-in keeps connections to Slack's
hooks alive. It is installed as Bolt middleware, so listeners still just call `respond(...)`.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from thorbot.errors import ThorbotError

log = logging.getLogger(__name__)


class ResponseUrlError(ThorbotError):
    """Slack refused a response_url post (expired after 30 min or 5 uses, or a bad payload)."""


class ResponsePoster:
    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, payload: dict[str, Any]) -> None:
        if not url.startswith(("https://", "http://")):
            raise ResponseUrlError("response_url is not an http(s) URL")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(url, json=payload) as response:
            if response.status >= 300:
                raise ResponseUrlError(f"response_url answered HTTP {response.status}")
            await response.read()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class Respond:
    """Called like Bolt's AsyncRespond: `await respond(text=..., blocks=..., replace_original=True)`."""

    def __init__(self, poster: ResponsePoster, url: str) -> None:
        self._poster = poster
        self.response_url = url

    async def __call__(self, text: str | dict[str, Any] = "", blocks: list[dict[str, Any]] | None = None,
                       response_type: str | None = None, replace_original: bool | None = None,
                       delete_original: bool | None = None, **extra: Any) -> None:
        payload: dict[str, Any] = dict(text) if isinstance(text, dict) else {"text": text}
        for key, value in (("blocks", blocks), ("response_type", response_type),
                           ("replace_original", replace_original), ("delete_original", delete_original)):
            if value is not None:
                payload[key] = value
        payload.update({k: v for k, v in extra.items() if v is not None})
        await self._poster.post(self.response_url, payload)
