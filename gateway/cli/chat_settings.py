"""The chat providers' credentials: typed settings read from the environment once, by the
composition root, and passed down (bot/ never reads the environment).

The variable names are the ones deployments already set (ARCHITECTURE.md "Contract"):
``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN`` (Socket Mode when set) and
``AIRLOCK_SLACK_API_URL`` (default Slack's own); ``TEAMS_APP_ID``, ``TEAMS_APP_PASSWORD``,
``TEAMS_TENANT_ID`` and, for tests and proxies, ``AIRLOCK_TEAMS_SERVICE_URL`` (the Bot Connector),
``AIRLOCK_TEAMS_OPENID_URL`` (the OpenID metadata inbound tokens are checked against) and
``AIRLOCK_TEAMS_LOGIN_URL`` (the token endpoint of the bot's own credentials). An empty variable
counts as unset. Secrets are ``SecretStr``: they never appear in a repr, a log line or a
validation error.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ChatSecrets"]


class ChatSecrets(BaseSettings):
    """What the chat providers need from the environment (never from the TOML file)."""

    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, env_ignore_empty=True
    )

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="AIRLOCK_SLACK_API_URL")
    teams_app_id: str | None = Field(default=None, validation_alias="TEAMS_APP_ID")
    teams_app_password: SecretStr | None = Field(
        default=None, validation_alias="TEAMS_APP_PASSWORD"
    )
    teams_tenant_id: str | None = Field(default=None, validation_alias="TEAMS_TENANT_ID")
    teams_service_url: str | None = Field(
        default=None, validation_alias="AIRLOCK_TEAMS_SERVICE_URL"
    )
    teams_openid_url: str | None = Field(default=None, validation_alias="AIRLOCK_TEAMS_OPENID_URL")
    teams_login_url: str | None = Field(default=None, validation_alias="AIRLOCK_TEAMS_LOGIN_URL")
