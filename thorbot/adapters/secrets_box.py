"""Secrets people paste (pager routing keys, webhook signing secrets and URLs), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under THORBOT_SECRETS_KEY: what Redis holds
is useless without the environment's key, and a tampered value fails to open rather than decrypting to
something else. Without the key, thorbot refuses to store a secret at all (never stores one in clear).

Rotation (docs/pagers.md, "Rotating THORBOT_SECRETS_KEY"): the setting is a comma-separated list, newest first.
The first key seals; every key opens (cryptography's MultiFernet). A value found under an older key is
sealed again under the first as it is read (`resealed`), so the older keys can be dropped once nothing
needs them (`thorbot doctor` counts what still does).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from thorbot.domain.pager import PagerLink
from thorbot.errors import SecretsUnavailable

__all__ = ["SecretBox", "SecretsUnavailable"]
CANNOT_OPEN = ("thorbot cannot open this pager's stored key with any key in THORBOT_SECRETS_KEY (the key was "
               "changed without keeping the old one after it, comma-separated); put the old key back after the new "
               "one, or connect the pager again with `/chargebox pager`")


class SecretBox:
    def __init__(self, keys: str | None) -> None:
        """`keys`: THORBOT_SECRETS_KEY, one Fernet key or several separated by commas (newest first)."""
        self._newest: Fernet | None = None
        self._all: MultiFernet | None = None
        self.count = 0
        found = [k.strip() for k in (keys or "").split(",") if k.strip()]
        if not found:
            return
        fernets: list[Fernet] = []
        for number, key in enumerate(found, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError) as exc:
                which = "THORBOT_SECRETS_KEY" if len(found) == 1 else f"key {number} of THORBOT_SECRETS_KEY"
                raise SecretsUnavailable(f"{which} is not a valid key (generate one with "
                                         "`thorbot doctor --new-secrets-key`)") from exc
        self._newest, self._all = fernets[0], MultiFernet(fernets)
        self.count = len(fernets)

    @property
    def ready(self) -> bool:
        return self._newest is not None

    def seal(self, secret: str) -> str:
        if self._newest is None:
            raise SecretsUnavailable("set THORBOT_SECRETS_KEY to store pager keys (encrypted at rest)")
        return self._newest.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        if self._all is None:
            raise SecretsUnavailable("THORBOT_SECRETS_KEY is not set: the stored pager keys cannot be read")
        try:
            return self._all.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnavailable(CANNOT_OPEN) from exc

    def current(self, sealed: str) -> bool:
        """Whether `sealed` is under the newest key (False also when no key opens it: `open` says why)."""
        if self._newest is None:
            return False
        try:
            self._newest.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

    def resealed(self, link: PagerLink) -> PagerLink | None:
        """`link` with every sealed value under the newest key, or None when they all are already. Raises
        SecretsUnavailable when a value opens with no key."""
        if self._all is None:
            raise SecretsUnavailable("THORBOT_SECRETS_KEY is not set: the stored pager keys cannot be read")
        changes: dict[str, str] = {}
        for name in ("sealed", "sealed_url"):
            value = getattr(link, name, None)
            if isinstance(value, str) and value and not self.current(value):
                try:
                    changes[name] = self._all.rotate(value.encode()).decode()
                except InvalidToken as exc:
                    raise SecretsUnavailable(CANNOT_OPEN) from exc
        return link.model_copy(update=changes) if changes else None

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()
