"""Secrets people paste (pager routing keys, webhook signing secrets), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under THORBOT_SECRETS_KEY: what Redis holds
is useless without the environment's key, and a tampered value fails to open rather than decrypting to
something else. Without the key, thorbot refuses to store a secret at all (never stores one in clear).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from thorbot.errors import SecretsUnavailable

__all__ = ["SecretBox", "SecretsUnavailable"]


class SecretBox:
    def __init__(self, key: str | None) -> None:
        self._fernet: Fernet | None = None
        if key:
            try:
                self._fernet = Fernet(key.encode())
            except (ValueError, TypeError) as exc:
                raise SecretsUnavailable("THORBOT_SECRETS_KEY is not a valid key (generate one with "
                                         "`thorbot doctor --new-secrets-key`)") from exc

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            raise SecretsUnavailable("set THORBOT_SECRETS_KEY to store pager keys (encrypted at rest)")
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        if self._fernet is None:
            raise SecretsUnavailable("THORBOT_SECRETS_KEY is not set: the stored pager keys cannot be read")
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnavailable("a stored pager key cannot be opened with THORBOT_SECRETS_KEY (was the key "
                                     "changed?); connect the pager again") from exc

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()
