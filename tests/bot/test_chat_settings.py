"""The chat credentials as typed settings: the same variable names as before, empty counts as
unset, and no secret in a repr."""

from __future__ import annotations

import pytest

from bot import SlackCredentials
from gateway.cli.chat_settings import ChatSecrets
from gateway.cli.compose import slack_credentials

SLACK_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SLACK_VARIABLES, "AIRLOCK_SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)


def test_slack_credentials_come_from_the_variables_deployments_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN and AIRLOCK_SLACK_API_URL become
    the bot's SlackCredentials, unchanged."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("AIRLOCK_SLACK_API_URL", "http://127.0.0.1:9/api/")
    assert slack_credentials(ChatSecrets()) == SlackCredentials(
        "xoxb-1", "s3cret", "xapp-1", "http://127.0.0.1:9/api/"
    )


@pytest.mark.parametrize("missing", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"])
def test_no_slack_without_both_the_token_and_the_signing_secret(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """Either required secret unset or empty means no Slack (the console chat is used)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv(missing, "")
    assert slack_credentials(ChatSecrets()) is None
    monkeypatch.delenv(missing)
    assert slack_credentials(ChatSecrets()) is None


def test_an_empty_app_token_means_http_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """SLACK_APP_TOKEN set but empty is no app token: HTTP at /slack/events, not Socket Mode."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("SLACK_APP_TOKEN", "")
    credentials = slack_credentials(ChatSecrets())
    assert credentials is not None and credentials.app_token is None


def test_secrets_never_show_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the settings nor the credentials print a token or the signing secret."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-visible")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret-visible")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-visible")
    secrets = ChatSecrets()
    shown = repr(secrets) + str(secrets) + repr(slack_credentials(secrets))
    assert "visible" not in shown
