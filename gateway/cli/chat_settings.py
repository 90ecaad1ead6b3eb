"""The chat providers' credentials: typed settings read from the environment once, by the
composition root, and passed down (bot/ never reads the environment).

The variable names are the ones deployments already set (ARCHITECTURE.md "Contract"):
``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN`` (Socket Mode when set) and
``AIRLOCK_SLACK_API_URL`` (default Slack's own). An empty variable counts as unset. Secrets are
``SecretStr``: they never appear in a repr, a log line or a validation error.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ChatSecrets"]


class ChatSecrets(BaseSettings):
    """What the chat providers need from the environment (never from the TOML file)."""

    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, env_ignore_empty=True, populate_by_name=True
    )

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="AIRLOCK_SLACK_API_URL")
