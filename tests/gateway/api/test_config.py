"""Settings: the README's example TOML, ``AIRLOCK_*`` overrides, durations and clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from approvals import AccessMode
from gateway.config import ConnectionConfig, load_settings, parse_duration
from gateway.errors import ConfigError

# Copied from README.md, "Example configuration (`airlock.toml`)".
README_TOML = """
[store]
url = "sqlite+aiosqlite:///airlock.db"      # or postgresql+asyncpg://user@host/db

[api]
listen = "127.0.0.1:8080"

[listeners]
postgres = "127.0.0.1:15432"

[chat]
provider = "console"                        # console | slack | teams

[[connections]]
name = "pg-prod"
type = "postgres"
upstream = "127.0.0.1:5432"
database = "app"
username = "app_rw"
password_env = "PG_PROD_PASSWORD"           # the secret itself stays in the environment
access = "standing"                         # standing: members of allow_groups may connect;
allow_groups = ["eng"]                      # request: a delegation from /access request is needed
owners = { channel = "#db-owners", identities = ["carol@example.com"] }
approvers = { groups = ["dba-oncall"], identities = [], channel = "#dba-oncall", quorum = 1 }
review_timeout = "15m"
max_grant = "8h"
idle_revoke_after = "14d"
guardrails = "default"                      # built-in rule set; [[connections.rules]] add to it
masking = { columns = ["ssn", "card_number", "email"], detectors = ["credit_card", "ssn", "email"] }
"""

# The sections ARCHITECTURE.md's contract adds to the README's example; they must load too.
CONTRACT_EXTRA_TOML = """
[identity]                                  # optional: OIDC issuer whose tokens are accepted
issuer = "https://idp.example.com"
audience = "airlock"
groups_claim = "groups"
"""

CONNECTION = """
[[connections]]
name = "pg-prod"
type = "postgres"
upstream = "127.0.0.1:5432"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "airlock.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    return caught.value.message


def test_readme_example_loads(tmp_path: Path) -> None:
    """The README's example configuration loads into the values it spells out."""
    settings = load_settings(write(tmp_path, README_TOML))
    assert settings.store.url == "sqlite+aiosqlite:///airlock.db"
    assert settings.api.listen == "127.0.0.1:8080"
    assert settings.listeners.postgres == "127.0.0.1:15432"
    assert settings.chat.provider == "console"
    (conn,) = settings.connections
    assert (conn.name, conn.type, conn.upstream) == ("pg-prod", "postgres", "127.0.0.1:5432")
    assert (conn.database, conn.username, conn.password_env) == (
        "app",
        "app_rw",
        "PG_PROD_PASSWORD",
    )
    assert conn.review_timeout == timedelta(minutes=15)
    assert conn.max_grant == timedelta(hours=8)
    assert conn.idle_revoke_after == timedelta(days=14)
    assert conn.masking.detectors == ["credit_card", "ssn", "email"]
    policy = conn.policy()
    assert policy.access is AccessMode.STANDING
    assert policy.allow_groups == {"eng"}
    assert policy.owners.identities == {"carol@example.com"}
    assert (policy.approvers.groups, policy.approvers.quorum) == (frozenset({"dba-oncall"}), 1)
    assert policy.approvers.channel == "#dba-oncall"


def test_contract_example_sections_load(tmp_path: Path) -> None:
    """The contract's fuller example (mysql and ssh listeners, an OIDC issuer) loads too."""
    text = README_TOML.replace(
        'postgres = "127.0.0.1:15432"',
        'postgres = "127.0.0.1:15432"\nmysql = "127.0.0.1:13306"\nssh = "127.0.0.1:12222"',
    )
    settings = load_settings(write(tmp_path, text + CONTRACT_EXTRA_TOML))
    assert settings.listeners.mysql == "127.0.0.1:13306"
    assert settings.listeners.ssh == "127.0.0.1:12222"
    assert settings.identity.issuer == "https://idp.example.com"
    assert settings.identity.groups_claim == "groups"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AIRLOCK_STORE__URL and AIRLOCK_API__LISTEN win over the file; other keys are kept."""
    path = write(tmp_path, README_TOML.replace("[api]", '[api]\nadmin_groups = ["ops"]'))
    monkeypatch.setenv("AIRLOCK_STORE__URL", "postgresql+asyncpg://airlock@db.internal/airlock")
    monkeypatch.setenv("AIRLOCK_API__LISTEN", "0.0.0.0:9090")
    monkeypatch.setenv("AIRLOCK_API__AUDITOR_GROUPS", '["soc"]')
    settings = load_settings(path)
    assert settings.store.url == "postgresql+asyncpg://airlock@db.internal/airlock"
    assert settings.api.listen == "0.0.0.0:9090"
    assert settings.api.auditor_groups == ["soc"]
    assert settings.api.admin_groups == ["ops"]
    assert [c.name for c in settings.connections] == ["pg-prod"]


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no ./airlock.toml the defaults are SQLite ./airlock.db and 127.0.0.1:8080."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.store.url == "sqlite+aiosqlite:///airlock.db"
    assert settings.api.listen == "127.0.0.1:8080"
    assert settings.api.bot_groups == ["airlock-bots"]
    assert settings.connections == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("8h", timedelta(hours=8)),
        ("14d", timedelta(days=14)),
        ("1w", timedelta(weeks=1)),
        ("500ms", timedelta(milliseconds=500)),
        ("1h30m", timedelta(minutes=90)),
        (90, timedelta(seconds=90)),
    ],
)
def test_durations(text: str | int, expected: timedelta) -> None:
    """Durations are a number with a unit (or plain seconds), units may be combined."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "-5m", "1.5h", "h", "8h!"])
def test_bad_durations(text: str) -> None:
    """Anything else is refused with a hint, never guessed."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_bad_duration_names_the_key(tmp_path: Path) -> None:
    """A bad duration in a connection names the key and the bad value."""
    message = config_error(tmp_path, CONNECTION + 'max_grant = "8 hours"\n')
    assert "connections.0.max_grant" in message
    assert "8 hours" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (CONNECTION + 'approvers = { groups = ["dba"], quorum = "two" }\n', "approvers.quorum"),
        (CONNECTION + "approvers = { quorum = 0 }\n", "connections.0.approvers.quorum"),
        (CONNECTION.replace("127.0.0.1:5432", "localhost"), "connections.0.upstream"),
        (CONNECTION.replace('"postgres"', '"oracle"'), "connections.0.type"),
        (CONNECTION + 'access = "sometimes"\n', "connections.0.access"),
        (CONNECTION.replace('name = "pg-prod"', 'name = "pg prod!"'), "connections.0.name"),
        ('[[connections]]\ntype = "postgres"\nupstream = "h:1"\n', "connections.0.name"),
        ('[stor]\nurl = "x"\n', "stor"),
        ('[api]\nlisten = "127.0.0.1:8080"\nlissen = "x"\n', "api.lissen"),
        ('[chat]\nprovider = "irc"\n', "chat.provider"),
        ('[scheduler]\ninterval = "0s"\n', "scheduler.interval"),
        ('[scheduler]\noutbox_retention = "12h"\n', "scheduler.outbox_retention"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    """A wrong value or an unknown key is a ConfigError naming the file and the key."""
    message = config_error(tmp_path, text)
    assert key in message
    assert str(tmp_path / "airlock.toml") in message


def test_broken_toml(tmp_path: Path) -> None:
    """A file that is not TOML is a ConfigError naming the file and the line."""
    message = config_error(tmp_path, '[store]\nurl = "unterminated\n')
    assert "airlock.toml" in message
    assert "line 2" in message


def test_missing_named_file(tmp_path: Path) -> None:
    """A configuration file that was named but does not exist is an error, not the defaults."""
    with pytest.raises(ConfigError, match="no configuration file at"):
        load_settings(tmp_path / "nope.toml")


def test_duplicate_connection_names(tmp_path: Path) -> None:
    """Two connections with one name are refused, naming the name."""
    message = config_error(tmp_path, CONNECTION + CONNECTION)
    assert "unique" in message
    assert "pg-prod" in message


def test_password_comes_from_the_environment(tmp_path: Path) -> None:
    """password_env names the variable; its value is read only when asked for."""
    settings = load_settings(write(tmp_path, README_TOML))
    conn = settings.connections[0]
    assert conn.password({"PG_PROD_PASSWORD": "s3cret"}) == "s3cret"


def test_missing_password_variable(tmp_path: Path) -> None:
    """A missing password variable is a clear error naming the connection and the variable."""
    conn = load_settings(write(tmp_path, README_TOML)).connections[0]
    with pytest.raises(ConfigError) as caught:
        conn.password({})
    assert "pg-prod" in caught.value.message
    assert "PG_PROD_PASSWORD" in caught.value.message


def test_password_file(tmp_path: Path) -> None:
    """password_file names a file holding the secret (trailing newline dropped)."""
    secret = tmp_path / "pg.secret"
    secret.write_text("from-a-file\n", encoding="utf-8")
    conn = ConnectionConfig(
        name="pg-prod", type="postgres", upstream="h:5432", password_file=str(secret)
    )
    assert conn.password({}) == "from-a-file"


def test_roles_name_their_own_credentials(tmp_path: Path) -> None:
    """``[connections.roles.<name>]`` holds a credential an access request may name; the role
    names reach the domain's view of the connection, the secrets do not."""
    text = CONNECTION + (
        'username = "app"\npassword_env = "PG_PROD_PASSWORD"\n'
        "\n[connections.roles.readonly]\n"
        'username = "app_ro"\n'
        'password_env = "PG_PROD_RO_PASSWORD"\n'
    )
    conn = load_settings(write(tmp_path, text)).connections[0]
    assert conn.policy().roles == frozenset({"readonly"})
    environ = {"PG_PROD_RO_PASSWORD": "ro-secret", "PG_PROD_PASSWORD": "own"}
    assert conn.credential("readonly", environ) == ("app_ro", "ro-secret")
    assert conn.credential(None, environ) == ("app", "own")
    with pytest.raises(ConfigError, match="role readonly: environment variable PG_PROD_RO"):
        conn.credential("readonly", {})
    with pytest.raises(ConfigError, match="defines no role 'admin'"):
        conn.credential("admin", environ)


@pytest.mark.parametrize(
    "table", ['"bad name"', '"-x"', 'ok]\npassword = "hunter2"\n[connections.roles.y']
)
def test_bad_roles_are_refused(tmp_path: Path, table: str) -> None:
    text = CONNECTION + f'\n[connections.roles.{table}]\nusername = "u"\n'
    message = config_error(tmp_path, text)
    assert "roles" in message and "hunter2" not in message


def test_password_in_the_file_is_refused(tmp_path: Path) -> None:
    """A secret written into the TOML (``password = ...``) is refused, naming the key."""
    message = config_error(tmp_path, CONNECTION + 'password = "hunter2"\n')
    assert "connections.0.password" in message
    assert "hunter2" not in message


def test_signing_key_in_the_file_is_refused(tmp_path: Path) -> None:
    """The signing key is a secret: in the TOML it is refused, pointing at the variable."""
    message = config_error(tmp_path, 'signing_key = "-----BEGIN PRIVATE KEY-----"\n')
    assert "signing_key" in message
    assert "AIRLOCK_SIGNING_KEY" in message
    assert "BEGIN PRIVATE KEY" not in message


def test_slack_token_in_the_file_is_refused(tmp_path: Path) -> None:
    """Chat secrets do not go in the TOML either."""
    message = config_error(tmp_path, '[chat]\nprovider = "slack"\nbot_token = "xoxb-1"\n')
    assert "chat.bot_token" in message
    assert "xoxb-1" not in message


def test_signing_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AIRLOCK_SIGNING_KEY reaches the settings (and is kept out of their repr)."""
    monkeypatch.setenv("AIRLOCK_SIGNING_KEY", "pem-text")
    settings = load_settings(write(tmp_path, README_TOML))
    assert settings.signing_key == "pem-text"
    assert "pem-text" not in repr(settings)


def test_people_lookup_is_case_insensitive(tmp_path: Path) -> None:
    """A [[people]] entry is found by its e-mail whatever the case."""
    text = '[[people]]\nemail = "Bob@Example.com"\ngroups = ["dba"]\n'
    settings = load_settings(write(tmp_path, text))
    person = settings.person(" bob@example.COM ")
    assert person is not None
    assert person.groups == ["dba"]
    assert settings.person("carol@example.com") is None


def test_people_are_one_entry_per_person_in_any_spelling(tmp_path: Path) -> None:
    """[[people]] e-mails are kept canonical and found in any capitals; two entries for one
    person in different capitals are refused, naming the e-mail."""
    path = tmp_path / "airlock.toml"
    path.write_text('[[people]]\nemail = "Bob@Example.COM"\ngroups = ["dba"]\n')
    settings = load_settings(path)
    assert [p.email for p in settings.people] == ["bob@example.com"]
    found = settings.person("BOB@example.com")
    assert found is not None and found.groups == ["dba"]
    path.write_text(
        '[[people]]\nemail = "bob@example.com"\n[[people]]\nemail = "BOB@example.com"\n'
    )
    with pytest.raises(ConfigError, match=r"bob@example\.com"):
        load_settings(path)
