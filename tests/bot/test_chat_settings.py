"""The chat credentials as typed settings: the same variable names as before, empty counts as
unset, and no secret in a repr; Teams asked for without its credentials falls back honestly."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot import SlackCredentials, TeamsCredentials
from gateway.cli.chat_settings import ChatSecrets
from gateway.cli.compose import slack_credentials, teams_credentials
from tests.bot.chatkit import PEOPLE, connection
from tests.harness import running_gateway

SLACK_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
TEAMS_VARIABLES = {
    "TEAMS_APP_ID": "app-1",
    "TEAMS_APP_PASSWORD": "pw-visible",
    "TEAMS_TENANT_ID": "tenant-1",
    "AIRLOCK_TEAMS_SERVICE_URL": "http://127.0.0.1:9/connector",
    "AIRLOCK_TEAMS_OPENID_URL": "http://127.0.0.1:9/v1/.well-known/openidconfiguration",
    "AIRLOCK_TEAMS_LOGIN_URL": "http://127.0.0.1:9/tenant-1/oauth2/v2.0/token",
}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    names = (*SLACK_VARIABLES, "AIRLOCK_SLACK_API_URL", *TEAMS_VARIABLES)
    for name in (*names, "SLACK_API_URL", "TEAMS_SERVICE_URL"):
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


def test_only_the_documented_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable spelled like the field (SLACK_API_URL, TEAMS_SERVICE_URL) is not a setting:
    only AIRLOCK_SLACK_API_URL and AIRLOCK_TEAMS_SERVICE_URL are."""
    monkeypatch.setenv("SLACK_API_URL", "http://wrong.example/")
    monkeypatch.setenv("TEAMS_SERVICE_URL", "http://wrong.example/")
    secrets = ChatSecrets()
    assert secrets.slack_api_url is None and secrets.teams_service_url is None


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


def test_teams_settings_come_from_their_documented_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TEAMS_APP_ID, TEAMS_APP_PASSWORD, TEAMS_TENANT_ID and the three AIRLOCK_TEAMS_* URLs become
    TeamsCredentials; the password never shows in a repr; no app id or password means none."""
    for name, value in TEAMS_VARIABLES.items():
        monkeypatch.setenv(name, value)
    credentials = teams_credentials(ChatSecrets())
    assert credentials == TeamsCredentials(
        "app-1",
        "pw-visible",
        "tenant-1",
        "http://127.0.0.1:9/connector",
        "http://127.0.0.1:9/v1/.well-known/openidconfiguration",
        "http://127.0.0.1:9/tenant-1/oauth2/v2.0/token",
    )
    assert "visible" not in repr(credentials) + repr(ChatSecrets())
    monkeypatch.setenv("TEAMS_APP_PASSWORD", "")
    assert teams_credentials(ChatSecrets()) is None


async def test_teams_with_its_credentials_serves_api_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With provider teams and its credentials set, `airlock up` serves /api/messages (an
    activity without a bearer token is 401 there) and runs no console chat."""
    for name, value in TEAMS_VARIABLES.items():
        monkeypatch.setenv(name, value)
    chat = '[chat]\nprovider = "teams"\n'
    async with running_gateway(
        tmp_path, connections=[connection()], people=PEOPLE, extra_toml=chat
    ) as gw:
        out = capsys.readouterr().out
        assert "Teams bot at /api/messages" in out and "console chat" not in out
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{gw.api_url}/api/messages", json={"type": "message"})
            console = await http.get(f"{gw.api_url}/chat")
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert console.status_code == 404


async def test_teams_without_credentials_says_so_and_runs_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Provider teams without TEAMS_APP_PASSWORD: the console chat, with a line saying which
    variables are missing; /api/messages is not served (404)."""
    for name, value in TEAMS_VARIABLES.items():
        if name != "TEAMS_APP_PASSWORD":
            monkeypatch.setenv(name, value)
    chat = '[chat]\nprovider = "teams"\ndev_mode = true\n'
    async with running_gateway(
        tmp_path, connections=[connection()], people=PEOPLE, extra_toml=chat
    ) as gw:
        out = capsys.readouterr().out
        assert "chat.provider is teams but its credentials are not set" in out
        assert f"console chat on {gw.api_url}/chat" in out
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{gw.api_url}/api/messages", json={"type": "message"})
    assert answer.status_code == 404
