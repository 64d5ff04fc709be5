"""Keep secrets (Thor API key, Slack tokens, the Redis password) out of every log line.

Only configured secrets are registered (a handful): they are matched with one compiled pattern,
so redacting a line costs the same however many chargeboxes thorbot has read. The connectors'
Nayax tokens are never registered because they never get this far: the Thor adapter drops them
from each box as it is read.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time

_MIN_SECRET_LEN = 4  # shorter strings would redact ordinary words
MAX_SECRETS = 64
REDACTED = "[redacted]"
_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    global _pattern
    if not value or len(value) < _MIN_SECRET_LEN or value in _secrets:
        return
    with _lock:
        if len(_secrets) >= MAX_SECRETS:  # settings hold a few; anything more is a bug, not a secret
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial redaction
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def registered_count() -> int:
    return len(_secrets)


def redact(text: str) -> str:
    pattern = _pattern
    return pattern.sub(REDACTED, text) if pattern is not None else text


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


CONTEXT_FIELDS = ("incident_id", "box_id", "channel", "worker")  # passed as `extra=` where they apply


class JsonFormatter(logging.Formatter):
    """One JSON object per line (THORBOT_LOG_FORMAT=json), for log pipelines: time, level, logger, message,
    and the context fields a line carries. Runs after RedactingFilter, so the message is already scrubbed;
    context fields are scrubbed here too."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = redact(str(value))[:200]
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
