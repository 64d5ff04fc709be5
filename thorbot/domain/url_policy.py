"""The outbound URL policy, its pure half: which URLs a person or a setting may make thorbot send to. Pure.

Every URL thorbot sends to on someone's say-so (a webhook pager's URL typed into the pager form,
THORBOT_HEARTBEAT_URL, THORBOT_PAGERDUTY_EVENTS_URL, anything later) passes `read_url` when it is given,
and again at every send through adapters/outbound.py, which also resolves the host and checks every
address it resolves to with `address_problem`. What passes:

- `https://` only; a URL of at most MAX_URL_LENGTH printable ASCII characters, without a user name or
  password in it (they would be shown, logged and stored like the rest of the URL);
- a host that is a DNS name, or an address written plainly (four decimal numbers, or IPv6 in brackets):
  `127.1`, `0x7f.0.0.1` or `2130706433` (which some resolvers read as 127.0.0.1) are refused outright;
- an address (the literal one, or each one the name resolves to) that is public: not loopback,
  private (RFC 1918, CGNAT, IPv6 unique-local and site-local), link-local (cloud metadata services live
  at 169.254.169.254), multicast, unspecified, or reserved for documentation, benchmarking or the future;
  an IPv6 address carrying an IPv4 one (`::ffff:10.0.0.5`, NAT64, 6to4) is judged by the IPv4 one.

`allow_loopback` (THORBOT_ALLOW_LOOPBACK_URLS, for tests and the demo) lets loopback addresses through,
and plain `http://` to them only; private and every other range stay refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal
from urllib.parse import urlsplit

MAX_URL_LENGTH = 1000
Address = IPv4Address | IPv6Address
AddressKind = Literal["loopback", "private", "link-local", "multicast", "unspecified", "reserved"]

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")  # a last label like this makes resolvers read the name as IPv4
_WORDS: dict[AddressKind, str] = {
    "loopback": "a loopback address (this machine)",
    "private": "a private network address",
    "link-local": "a link-local address (where cloud metadata services answer)",
    "multicast": "a multicast address",
    "unspecified": "an unspecified address",
    "reserved": "a reserved address, not a public one",
}
_IPV4_RANGES: tuple[tuple[str, AddressKind], ...] = (
    ("0.0.0.0/8", "unspecified"), ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"),
    ("10.0.0.0/8", "private"), ("172.16.0.0/12", "private"), ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "private"),  # carrier-grade NAT: someone's inside network
    ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"), ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "reserved"), ("198.51.100.0/24", "reserved"), ("203.0.113.0/24", "reserved"),
    ("198.18.0.0/15", "reserved"), ("192.88.99.0/24", "reserved"),
)
_IPV6_RANGES: tuple[tuple[str, AddressKind], ...] = (
    ("::/128", "unspecified"), ("::1/128", "loopback"), ("::/96", "reserved"),  # IPv4-compatible (deprecated)
    ("fe80::/10", "link-local"), ("fc00::/7", "private"), ("fec0::/10", "private"), ("64:ff9b:1::/48", "private"),
    ("ff00::/8", "multicast"), ("100::/64", "reserved"), ("2001::/23", "reserved"), ("2001:db8::/32", "reserved"),
)
_IPV4 = tuple((IPv4Network(net), kind) for net, kind in _IPV4_RANGES)
_IPV6 = tuple((IPv6Network(net), kind) for net, kind in _IPV6_RANGES)
_NAT64 = IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST = IPv6Network("2000::/3")


@dataclass(frozen=True)
class Target:
    """Where a URL that passed points: its scheme, host (a lower-case name, or an address), port."""

    scheme: Literal["https", "http"]
    host: str
    port: int
    address: Address | None  # the host, when it is written as an address

    @property
    def shown(self) -> str:
        """Scheme, host and port only: what thorbot shows or logs of a URL (its path or query may hold a token)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")


def address_kind(address: Address) -> AddressKind | None:
    """What kind of non-public address this is, or None for a public one."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address_kind(address.ipv4_mapped)
        for network, kind in _IPV6:
            if address in network:
                return kind
        embedded = (IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else address.sixtofour)
        if embedded is not None:
            # A translator or relay would carry the packets to the IPv4 address: judged by it, but never as
            # "loopback" (the opt-in is for this machine, not for a relay's).
            inner = address_kind(embedded)
            return None if inner is None else "reserved" if inner == "loopback" else inner
        return None if address in _GLOBAL_UNICAST else "reserved"
    for v4_network, v4_kind in _IPV4:
        if address in v4_network:
            return v4_kind
    return None if address.is_global else "reserved"


def address_problem(address: Address, *, allow_loopback: bool, host: str | None = None) -> str | None:
    """Why thorbot will not send to this address, or None. `host`: the name it was resolved from, if any."""
    kind = address_kind(address)
    if kind is None or (kind == "loopback" and allow_loopback):
        return None
    # A name's resolved address is not said: the answer would tell whoever typed it the inside of the network.
    where = f"{host} resolves to {_WORDS[kind]}" if host else f"{address} is {_WORDS[kind]}"
    return f"{where}: thorbot sends only to public internet addresses"


def read_url(url: str, *, allow_loopback: bool) -> Target | str:
    """The URL's target if it passes the policy's checks that need no lookup; else why it does not (one line,
    naming at most the host: never the path, query or credentials)."""
    shape = _shape(url)
    if isinstance(shape, str):
        return shape
    scheme, host, port = shape
    address = _literal(host)
    if isinstance(address, str):
        return address
    if address is not None:
        host = str(address)
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem:
            return problem
    elif not allow_loopback and _loopback_host(host, None):
        return f"{host} is {_WORDS['loopback']}: thorbot sends only to public internet addresses"
    if scheme == "http" and not (allow_loopback and _loopback_host(host, address)):
        return "the URL must start with https:// (plain http would carry the page and its key in clear)"
    return Target(scheme="https" if scheme == "https" else "http", host=host,
                  port=port or (443 if scheme == "https" else 80), address=address)


def _shape(url: str) -> tuple[str, str, int | None] | str:
    """(scheme, host, port) of a URL with nothing odd in its text, or why not."""
    if not url:
        return "the URL is empty"
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(not (" " < c < "\x7f") or c == "\\" for c in url):
        return "the URL has a space, a backslash or a character outside ASCII (write a name in its xn-- form)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "that is not a URL thorbot can read (is its port a number up to 65535?)"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        return "the URL must start with https://"
    if "@" in parts.netloc:
        return "the URL must not hold a user name or password (`user:pass@`): thorbot would show and log them"
    host = parts.hostname or ""
    host = host[:-1] if host.endswith(".") else host  # `localhost.` is `localhost`
    if not host:
        return "the URL has no host"
    if port == 0:
        return "the URL's port must be between 1 and 65535"
    return scheme, host, port


def url_problem(url: str, *, allow_loopback: bool) -> str | None:
    """Why `url` fails the policy's checks that need no lookup, or None."""
    read = read_url(url, allow_loopback=allow_loopback)
    return read if isinstance(read, str) else None


def shown_url(url: str | None) -> str | None:
    """A URL's scheme, host and port, for showing and logging (never its credentials, path or query); "?" when it
    cannot be read; None for no URL."""
    if not url:
        return None
    read = read_url(url, allow_loopback=True)
    if isinstance(read, Target):
        return read.shown
    match = re.match(r"^(https?)://(?:[^/?#@]*@)?([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(?=[/?#]|$)", url)
    return f"{match.group(1)}://{match.group(2)}{match.group(3) or ''}" if match else "?"


def _literal(host: str) -> Address | None | str:
    """The host as an address when it is written as one; None for a DNS name; a reason when it is neither."""
    if ":" in host:
        if "%" in host:
            return "the URL's IPv6 address names an interface (after %): that is not accepted"
        try:
            address = ip_address(host)
        except ValueError:
            return "the URL's IPv6 address cannot be read"
        return address
    labels = host.split(".")
    if _NUMERIC.match(labels[-1]):
        try:
            return IPv4Address(host)
        except ValueError:
            return "write an address in a URL as four decimal numbers (like 203.0.113.7)"
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return "the URL's host is not a valid name"
    return None


def _loopback_host(host: str, address: Address | None) -> bool:
    if address is not None:
        return address_kind(address) == "loopback"
    return host == "localhost" or host.endswith(".localhost")
