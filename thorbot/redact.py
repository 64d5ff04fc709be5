"""Keep secrets (Thor API key, Nayax tokens, Slack tokens) out of every log line.

Secrets are registered as they become known: settings at start-up, connector tokens as the
Thor adapter sees them in responses. The filter rewrites each record's final message.
"""

from __future__ import annotations

import logging
import threading

_MIN_SECRET_LEN = 4  # shorter strings would redact ordinary words
_lock = threading.Lock()
_secrets: set[str] = set()
REDACTED = "[redacted]"


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_SECRET_LEN and value not in _secrets:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Render the record once, scrub it, and freeze the result so handlers cannot re-add args."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
