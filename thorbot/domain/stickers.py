"""A connector's sticker: its code, its link and its label's words. Pure.

A sticker links to `$THORBOT_PUBLIC_URL/r/<code>` (serve's report page). The code is 28 characters of
lower-case base32 (RFC 4648 without padding, read in either case: people type it off the label) of 17 bytes:

    tag (4 bytes) | connector (1) | epoch (2, big-endian) | mac (10)

- `mac`: HMAC-SHA256(key, "thorbot sticker v1" | length of the box id | box id | connector | epoch), its first
  80 bits. Nobody without the key can make a code (guessing one takes 2**80 tries per box and connector), and
  changing any bit of a code breaks it. It is compared in constant time (`hmac.compare_digest`).
- `tag`: HMAC-SHA256(key, "thorbot sticker tag v1" | box id), its first 32 bits: which box, without writing
  its id. Thor's box ids are opaque strings of any length and any character: written into the code they would
  make it long (a 16-character id alone is 26 more base32 characters) and the QR code denser. The resolver
  (adapters/stickers.py) finds the box among those thorbot knows (its last seen state) through an index
  tag → box ids that it builds in memory from them: nothing is stored, and a tag two boxes share (about one
  pair in 4 billion) is settled by the MAC.
- `connector`: 1 to 255 (Thor's connectors are numbered 1, 2, … in the order it lists them).
- `epoch`: the box's revocation epoch when the sticker was made (0 until its stickers are first revoked).

Derived, not stored: a code is a function of the key, the box, the connector and the epoch, so a restart or a
lost Redis changes no sticker in the field; thorbot keeps no table of codes.

Revocation (`thorbot stickers --revoke <box>`) raises the box's epoch (the one thing stored: a Redis hash, box
id → epoch). A code whose epoch is below the box's is revoked: its page says "this sticker is no longer
valid; call …". A code whose epoch is above the one stored proves the box was revoked up to it (only the
key's holder could make it), so reading it raises the stored epoch to it: after a lost Redis the old stickers
work again only until the first new one is scanned (or `--revoke` is run again).

The key is its own setting, THORBOT_STICKER_KEY, not derived from THORBOT_SECRETS_KEY: the secrets key is
meant to be rotated (it re-seals the pager keys), and every sticker in the field would die with it. The
sticker key is rotated only when it leaked, and then every printed sticker must be replaced: set
`new,old` (codes are made with the first key and read with any), put up the new stickers, then drop `old`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from thorbot.domain.csv_writer import Num, to_csv
from thorbot.domain.models import Chargebox
from thorbot.domain.text import connector_type_name

TAG_BYTES, CONNECTOR_BYTES, EPOCH_BYTES, MAC_BYTES = 4, 1, 2, 10
CODE_BYTES = TAG_BYTES + CONNECTOR_BYTES + EPOCH_BYTES + MAC_BYTES
CODE_LENGTH = 28  # base32 characters of CODE_BYTES, without padding
MAX_CONNECTOR = 2 ** (8 * CONNECTOR_BYTES) - 1
MAX_EPOCH = 2 ** (8 * EPOCH_BYTES) - 1
MIN_KEY_LENGTH = 32
_MAC_LABEL = b"thorbot sticker v1\x00"
_TAG_LABEL = b"thorbot sticker tag v1\x00"
DRIVER_LINE = "Not working? Tell us in 30 seconds \u2014 no app, no account"
CSV_HEADER = ("box_id", "connector", "url")


@dataclass(frozen=True)
class Code:
    """A code read back: what it claims. Nothing is proven until `belongs_to` says the MAC is right."""

    tag: bytes
    connector: int
    epoch: int
    mac: bytes


@dataclass(frozen=True)
class Located:
    """The box and connector a genuine code names; `revoked`: its box's stickers were revoked since it was made."""

    box_id: str
    connector: int
    revoked: bool = False


@dataclass(frozen=True)
class Label:
    """One connector's sticker."""

    box_id: str
    box_name: str
    connector: int
    connector_type: str  # its common name ("Type 2", "CCS"), or "unknown type"
    url: str


def sticker_keys(raw: str) -> tuple[bytes, ...]:
    """THORBOT_STICKER_KEY read: one key, or `new,old` while stickers are replaced; ValueError says what is wrong."""
    keys = tuple(part.strip() for part in raw.split(","))
    if not raw.strip() or any(len(key) < MIN_KEY_LENGTH for key in keys):
        raise ValueError(f"each key must be at least {MIN_KEY_LENGTH} characters (make one with "
                         "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return tuple(key.encode("utf-8") for key in keys)


def public_url_problem(url: str) -> str | None:
    """What keeps THORBOT_PUBLIC_URL from being the base of a sticker's link; None when it can be one."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return "is not a URL"
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        return "must start with https:// (the public address of `thorbot serve`)"
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        return "must be a plain https://host[/path] without user, query or fragment"
    if not url.isascii() or any(c.isspace() for c in url):
        return "must be plain ASCII without spaces"
    return None


def sticker_url(public_url: str, code: str) -> str:
    return public_url.rstrip("/") + "/r/" + code


def _box_bytes(box_id: str) -> bytes:
    raw = box_id.encode("utf-8", errors="surrogatepass")
    return len(raw).to_bytes(4, "big") + raw  # length first: no two (box, connector) pairs hash the same input


def box_tag(key: bytes, box_id: str) -> bytes:
    return hmac.new(key, _TAG_LABEL + _box_bytes(box_id), hashlib.sha256).digest()[:TAG_BYTES]


def _mac(key: bytes, box_id: str, connector: int, epoch: int) -> bytes:
    message = _MAC_LABEL + _box_bytes(box_id) + connector.to_bytes(CONNECTOR_BYTES, "big") + \
        epoch.to_bytes(EPOCH_BYTES, "big")
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def code_for(key: bytes, box_id: str, connector: int, epoch: int = 0) -> str:
    """The code of `box_id`'s connector `connector` (1–255) under revocation epoch `epoch` (0–65535)."""
    if not 1 <= connector <= MAX_CONNECTOR:
        raise ValueError(f"a sticker's connector is 1 to {MAX_CONNECTOR}, not {connector}")
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"a sticker's epoch is 0 to {MAX_EPOCH}, not {epoch}")
    raw = box_tag(key, box_id) + connector.to_bytes(CONNECTOR_BYTES, "big") + epoch.to_bytes(EPOCH_BYTES, "big") + \
        _mac(key, box_id, connector, epoch)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def read_code(text: str) -> Code | None:
    """What `text` claims to be, if it has a code's shape; None for anything else (no exception on any input)."""
    if len(text) != CODE_LENGTH or not text.isascii() or not text.isalnum():
        return None
    try:
        raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != CODE_BYTES or base64.b32encode(raw).decode("ascii").rstrip("=") != text.upper():
        return None  # trailing bits that are not zero: another spelling of a code, not one thorbot made
    at = TAG_BYTES
    connector = int.from_bytes(raw[at:at + CONNECTOR_BYTES], "big")
    at += CONNECTOR_BYTES
    epoch = int.from_bytes(raw[at:at + EPOCH_BYTES], "big")
    if connector < 1:
        return None
    return Code(tag=raw[:TAG_BYTES], connector=connector, epoch=epoch, mac=raw[at + EPOCH_BYTES:])


def belongs_to(key: bytes, code: Code, box_id: str) -> bool:
    """Whether `code` is `box_id`'s, made with `key` (the MAC compared in constant time)."""
    return hmac.compare_digest(_mac(key, box_id, code.connector, code.epoch), code.mac)


def find_box(keys: Sequence[bytes], code: Code, candidates: Iterable[tuple[int, str]]) -> str | None:
    """The box among `candidates` ((index of the key in `keys`, box id), e.g. those sharing the code's tag under
    that key) whose code it is; None when none is."""
    for which, box_id in candidates:
        if 0 <= which < len(keys) and belongs_to(keys[which], code, box_id):
            return box_id
    return None


def labels_for(box: Chargebox, key: bytes, epoch: int, public_url: str) -> list[Label]:
    """One label per connector of `box` that a code can name (1–255)."""
    name = box.alias or box.id
    return [Label(box_id=box.id, box_name=name, connector=c.number, connector_type=connector_type_name(c.type),
                  url=sticker_url(public_url, code_for(key, box.id, c.number, epoch)))
            for c in box.connectors if 1 <= c.number <= MAX_CONNECTOR]


def labels_csv(labels: Iterable[Label]) -> str:
    """`box_id,connector,url`, one row a label, through the one CSV writer."""
    return to_csv(CSV_HEADER, ([label.box_id, Num(label.connector), label.url] for label in labels))
