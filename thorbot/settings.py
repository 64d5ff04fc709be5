"""The one typed view of the environment. Read once by the CLI, then passed down."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_THOR_API_URL = "https://api.thor.tools/latest/integration"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "thorbot"


def _env(name: str) -> AliasChoices:
    # populate_by_name lets tests pass the python name; the environment uses the documented name.
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Configuration, only from environment variables (README: Configuration)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias=_env("SLACK_API_URL"))

    thor_api_key: SecretStr | None = Field(None, validation_alias=_env("THOR_API_KEY"))
    thor_api_url: str = Field(DEFAULT_THOR_API_URL, validation_alias=_env("THOR_API_URL"))
    thor_timeout: float = Field(10.0, gt=0, validation_alias=_env("THORBOT_THOR_TIMEOUT"))
    thor_retries: int = Field(2, ge=0, le=10, validation_alias=_env("THORBOT_THOR_RETRIES"))
    thor_max_list_mb: int = Field(256, ge=1, le=4096, validation_alias=_env("THORBOT_THOR_MAX_LIST_MB"))

    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    port: int = Field(3000, ge=1, le=65535, validation_alias=_env("PORT"))
    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias=_env("THORBOT_DATA_DIR"))
    log_level: str = Field("INFO", validation_alias=_env("THORBOT_LOG_LEVEL"))

    poll_interval: float = Field(60.0, gt=0, validation_alias=_env("THORBOT_POLL_INTERVAL"))
    disconnect_grace: float = Field(120.0, ge=0, validation_alias=_env("THORBOT_DISCONNECT_GRACE"))
    heartbeat_stale_after: float = Field(900.0, gt=0, validation_alias=_env("THORBOT_HEARTBEAT_STALE_AFTER"))
    recovery_grace: float = Field(60.0, ge=0, validation_alias=_env("THORBOT_RECOVERY_GRACE"))
    poll_concurrency: int = Field(20, ge=1, le=500, validation_alias=_env("THORBOT_POLL_CONCURRENCY"))
    list_threshold: int = Field(5, ge=1, validation_alias=_env("THORBOT_LIST_THRESHOLD"))
    thor_outage_cycles: int = Field(3, ge=1, validation_alias=_env("THORBOT_THOR_OUTAGE_CYCLES"))
    name_cache_ttl: float = Field(60.0, ge=0, validation_alias=_env("THORBOT_NAME_CACHE_TTL"))
    slack_channel_gap: float = Field(1.0, ge=0, validation_alias=_env("THORBOT_SLACK_CHANNEL_GAP"))
    escalate_after: float = Field(900.0, ge=0, validation_alias=_env("THORBOT_ESCALATE_AFTER"))
    escalate_max: int = Field(3, ge=0, le=20, validation_alias=_env("THORBOT_ESCALATE_MAX"))
    admins: str = Field("", validation_alias=_env("THORBOT_ADMINS"))
    lease_ttl: float = Field(0.0, ge=0, validation_alias=_env("THORBOT_LEASE_TTL"))
    interactive_deadline: float = Field(12.0, gt=0, le=600, validation_alias=_env("THORBOT_INTERACTIVE_DEADLINE"))

    @field_validator("thor_api_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    def with_changes(self, **changes: object) -> Settings:
        """A validated copy (model_copy would skip validation, leaving e.g. secrets as plain str)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    def effective_lease_ttl(self) -> float:
        """Leader lease length: a dead leader is replaced within about three poll intervals."""
        return self.lease_ttl or max(3 * self.poll_interval, 10.0)

    def admin_ids(self) -> tuple[set[str], set[str]]:
        """(admin user ids, admin user-group ids) from THORBOT_ADMINS; both empty = everyone may."""
        items = {i.strip() for i in self.admins.replace(";", ",").replace(" ", ",").split(",") if i.strip()}
        return {i for i in items if not i.startswith("S")}, {i for i in items if i.startswith("S")}

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        secrets = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.thor_api_key]
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]
