"""Rate limits for the public report page, in Redis so every serve process shares them.

Fixed one-minute windows per source (a keyed hash of the client's address, IPv6 by its /64) and per connector.
Every key expires two minutes after its window: a flood of any size leaves a bounded number of keys (one per
source and per connector per minute), and costs one INCR each.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import datetime

from redis.asyncio import Redis

from thorbot.adapters import keys

WINDOW = 60


def source_of(remote: str | None, forwarded_for: str, trusted_hops: int) -> str:
    """The client's address: behind `trusted_hops` proxies, the address the outermost trusted proxy saw (the
    hops-th from the right of X-Forwarded-For); anything to its left is what the client claims, and ignored."""
    if trusted_hops > 0:
        chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if len(chain) >= trusted_hops:
            return chain[-trusted_hops]
        if chain:
            return chain[0]
    return remote or "unknown"


def source_key(address: str, secret: bytes) -> str:
    """An opaque, keyed name for a source: the address itself is never stored, logged or posted."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        network = ipaddress.ip_network(f"{ip}/64" if ip.version == 6 else f"{ip}/32", strict=False)
        normal = str(network)
    except ValueError:
        normal = address[:100]
    return hmac.new(secret, normal.encode(), hashlib.sha256).hexdigest()[:24]


class ReportLimits:
    def __init__(self, redis: Redis, *, per_source: int, per_connector: int) -> None:
        self.redis = redis
        self.per_source = per_source
        self.per_connector = per_connector

    async def allow(self, source: str, connector_key: str, now: datetime) -> bool:
        window = int(now.timestamp()) // WINDOW
        by_source, by_connector = keys.report_limit("s", source, window), keys.report_limit("c", connector_key, window)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(by_source)
            pipe.expire(by_source, 2 * WINDOW)
            pipe.incr(by_connector)
            pipe.expire(by_connector, 2 * WINDOW)
            from_source, _, on_connector, _ = await pipe.execute()
        return int(from_source) <= self.per_source and int(on_connector) <= self.per_connector


UPLOAD_WINDOW = 600  # seconds
_COUNT_UPLOAD = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class UploadLimits:
    """The files thorbot uploads for one person (reports, stickers): at most `limit` per UPLOAD_WINDOW each, in
    Redis so every serve process counts them together."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def claim(self, user: str, limit: int) -> bool:
        """Whether `user` may have one more file now (the claim counts, whether or not it is then used)."""
        count = await self.redis.eval(_COUNT_UPLOAD, 1, keys.uploads(user), UPLOAD_WINDOW)
        return int(count) <= limit
