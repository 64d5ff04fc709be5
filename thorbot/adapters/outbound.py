"""The outbound URL policy, its resolving half: every request to a URL a person or a setting gave thorbot
(a webhook pager, PagerDuty's events URL, THORBOT_HEARTBEAT_URL) goes through `OutboundPolicy.client()`.

That client's transport checks each request at send time, whoever builds it: the URL passes
`domain.url_policy.read_url`; its host is resolved (by the injectable `resolver`) and *every* address it
resolves to must be public (domain/url_policy.py says which are not); then the request is sent to the
address that was checked, not to the name: the connection is pinned, so a DNS answer that changes between
the check and the connect (rebinding) cannot reach an internal address. TLS still verifies the certificate
for the name (httpcore's `sni_hostname`) and the Host header keeps the name. What this covers and does not:

- redirects are not followed (a 3xx is an answer like any other), so a public host cannot bounce thorbot
  inward; HTTP(S)_PROXY from the environment is ignored (`trust_env=False`): through a proxy the address
  reached would be the proxy's choice, not the one checked;
- connections are not kept alive: httpcore pools connections by address, so a second name on the same
  address would otherwise reuse a TLS session verified for the first name. Pages and pings are rare.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import ip_address

import httpx

from thorbot.domain.url_policy import Address, Target, address_kind, address_problem, read_url
from thorbot.errors import UrlRefused

Resolver = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_TIMEOUT = 5.0


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses, from the system's resolver (getaddrinfo, in a thread)."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


@dataclass(frozen=True)
class OutboundPolicy:
    allow_loopback: bool = False  # THORBOT_ALLOW_LOOPBACK_URLS: tests and the demo
    resolver: Resolver = system_resolver
    resolve_timeout: float = RESOLVE_TIMEOUT

    def with_loopback(self, allow: bool) -> OutboundPolicy:
        return dataclasses.replace(self, allow_loopback=allow)

    def read(self, url: str) -> Target:
        """The URL's target, or UrlRefused with why (the checks that need no lookup)."""
        target = read_url(url, allow_loopback=self.allow_loopback)
        if isinstance(target, str):
            raise UrlRefused(target)
        return target

    async def address(self, target: Target, timeout: float | None = None) -> Address:
        """The address to connect to: the literal one, or the first the name resolves to once every one of them
        passed. UrlRefused when one does not; httpx.ConnectError when the name cannot be resolved now (a DNS
        failure may pass: the caller retries)."""
        if target.address is not None:
            return target.address
        try:
            async with asyncio.timeout(timeout or self.resolve_timeout):
                found = await self.resolver(target.host, target.port)
            addresses = [ip_address(a.partition("%")[0]) for a in found]
        except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
            raise httpx.ConnectError(f"cannot resolve {target.host} ({type(exc).__name__})") from None
        if not addresses:
            raise httpx.ConnectError(f"{target.host} has no address")
        for address in addresses:
            problem = address_problem(address, allow_loopback=self.allow_loopback, host=target.host)
            if problem:
                raise UrlRefused(problem)
        if target.scheme == "http" and any(address_kind(a) != "loopback" for a in addresses):
            raise UrlRefused(f"{target.host} is not only this machine: plain http:// is for loopback only")
        return addresses[0]

    async def check(self, url: str, *, timeout: float | None = None) -> str | None:
        """Why `url` is refused now (its host resolved), or None: for checking a URL when it is given."""
        try:
            await self.address(self.read(url), timeout)
        except UrlRefused as exc:
            return str(exc)
        except httpx.ConnectError as exc:
            return f"thorbot cannot find that host now ({exc}); check the URL, or try again"
        return None

    def client(self, timeout: float) -> httpx.AsyncClient:
        """An HTTP client that sends only where this policy allows (see the module's docstring)."""
        return httpx.AsyncClient(transport=PinnedTransport(self), timeout=timeout, follow_redirects=False,
                                 trust_env=False)


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks every request against the policy and sends it to the address that was checked."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0), trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.policy.read(str(request.url))
        address = await self.policy.address(target)
        extensions = dict(request.extensions)
        if target.address is None and target.scheme == "https":
            extensions["sni_hostname"] = target.host  # the certificate is checked for the name, not the address
        pinned = httpx.Request(request.method, request.url.copy_with(host=str(address)), headers=request.headers,
                               stream=request.stream, extensions=extensions)  # headers keep Host: the name
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()


class Pinger:
    """GETs URLs through the policy on one client, made on the first ping (the dead-man's switch's ping)."""

    def __init__(self, policy: OutboundPolicy, timeout: float) -> None:
        self._policy, self._timeout = policy, timeout
        self._http: httpx.AsyncClient | None = None

    async def ping(self, url: str) -> str:
        """"ok", "http_<status>" for a status of 400 or more, or the HTTP error's class name; UrlRefused if the
        policy refuses the URL (its message names the host, never the URL)."""
        if self._http is None:
            self._http = self._policy.client(self._timeout)
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return "ok" if response.status_code < 400 else f"http_{response.status_code}"

    async def aclose(self) -> None:
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
            self._http = None
