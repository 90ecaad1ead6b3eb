"""``airlock token create`` and ``airlock db upgrade`` on SQLite and PostgreSQL; errors exit 2."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from gateway.config import load_settings
from gateway.identity import TokenService, generate_key, load_key
from gateway.runtime import open_runtime
from store import current_revision
from tests.gateway.cli.support import airlock, airlock_in_thread, write_config


async def verify_with_store(config: Path, token: str) -> tuple[str, list[str], int]:
    async with open_runtime(load_settings(config)) as runtime:
        identity, claims = runtime.tokens.verify(token)
    return identity.subject, sorted(identity.groups), claims["exp"] - claims["iat"]


def test_token_create_prints_a_token_that_verifies(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    """The token printed is signed by the store's key: a gateway on that store accepts it."""
    config = write_config(tmp_path, sqlite_url)
    run = airlock(
        capsys,
        "token",
        "create",
        "--config",
        str(config),
        "--subject",
        "alice@example.com",
        "--groups",
        "eng, dba",
        "--ttl",
        "2h",
    )
    assert run.code == 0, run.err
    comment, token = run.out.strip().splitlines()
    assert comment == "# token for alice@example.com (groups: eng, dba; valid 2h)"
    subject, groups, lifetime = asyncio.run(verify_with_store(config, token))
    assert (subject, groups, lifetime) == ("alice@example.com", ["dba", "eng"], 7200)


def test_token_create_reads_airlock_config(
    capsys: pytest.CaptureFixture[str],
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --config, AIRLOCK_CONFIG names the file (a service account token here)."""
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    config = write_config(elsewhere, sqlite_url)
    monkeypatch.setenv("AIRLOCK_CONFIG", str(config))
    run = airlock(capsys, "token", "create", "--subject", "ci-runner", "--kind", "service")
    assert run.code == 0, run.err
    subject, groups, lifetime = asyncio.run(verify_with_store(config, run.out.split()[-1]))
    assert (subject, groups, lifetime) == ("ci-runner", [], 8 * 3600)


def test_token_create_with_the_environment_key(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    """With AIRLOCK_SIGNING_KEY set the token is signed by that key."""
    key = generate_key()
    monkeypatch.setenv("AIRLOCK_SIGNING_KEY", key.private_pem())
    write_config(tmp_path, sqlite_url)
    run = airlock(capsys, "token", "create", "--subject", "bob@example.com")
    assert run.code == 0, run.err
    identity, claims = TokenService(load_key(key.private_pem())).verify(run.out.split()[-1])
    assert identity.subject == "bob@example.com"
    assert claims["email"] == "bob@example.com"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ttl", "forever"], "airlock: --ttl: not a duration: 'forever'"),
        (["--config", "/nonexistent/airlock.toml"], "airlock: no configuration file at"),
    ],
)
def test_token_create_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """A bad --ttl or a missing config file prints `airlock: <message>` and exits 2."""
    run = airlock(capsys, "token", "create", "--subject", "alice", *argv)
    assert run.code == 2
    assert run.err.startswith(message), run.err
    assert "Traceback" not in run.err
    assert run.out == ""


def test_missing_argument_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing required argument is argparse's usage error (exit 2)."""
    with pytest.raises(SystemExit) as exited:
        airlock(capsys, "token", "create")
    assert exited.value.code == 2
    assert "--subject" in capsys.readouterr().err


def test_bad_config_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A broken airlock.toml stops any command with `airlock: <file>: <key>: ...`, exit 2."""
    (tmp_path / "airlock.toml").write_text("[api]\nlisten = 8080\n", encoding="utf-8")
    run = airlock(capsys, "db", "upgrade")
    assert run.code == 2
    assert run.err.startswith("airlock: ")
    assert "api.listen" in run.err


def test_db_upgrade_on_fresh_sqlite(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    """`db upgrade` brings a fresh SQLite file to the latest schema; running it again is a no-op."""
    write_config(tmp_path, sqlite_url)
    for _ in range(2):
        run = airlock(capsys, "db", "upgrade")
        assert run.code == 0, run.err
        assert "is at the latest schema" in run.out
    assert asyncio.run(current_revision(sqlite_url)) is not None


async def test_db_upgrade_on_postgres(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, pg_database_url: str
) -> None:
    """`db upgrade` migrates PostgreSQL (named by AIRLOCK_STORE__URL) and hides its password."""
    assert await current_revision(pg_database_url) is None
    with_password = make_url(pg_database_url).set(password="s3cret-pw")
    monkeypatch.setenv("AIRLOCK_STORE__URL", with_password.render_as_string(hide_password=False))
    run = await airlock_in_thread(capsys, "db", "upgrade")
    assert run.code == 0, run.err
    assert "s3cret-pw" not in run.out + run.err
    assert ":***@" in run.out
    assert await current_revision(pg_database_url) is not None


def test_db_upgrade_unreachable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot be reached is `airlock: <message>`, exit 2, no traceback."""
    monkeypatch.setenv("AIRLOCK_STORE__URL", "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    run = airlock(capsys, "db", "upgrade")
    assert run.code == 2
    assert run.err.startswith("airlock: ")
    assert "Traceback" not in run.err


async def test_unmigrated_postgres(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, pg_database_url: str
) -> None:
    """Commands on a PostgreSQL store that was never migrated say to run `airlock db upgrade`."""
    monkeypatch.setenv("AIRLOCK_STORE__URL", pg_database_url)
    for argv in (["token", "create", "--subject", "a"], ["audit", "verify"], ["audit", "export"]):
        run = await airlock_in_thread(capsys, *argv)
        assert run.code == 2, argv
        assert run.err.startswith("airlock: the store postgresql+asyncpg://"), run.err
        assert run.err.endswith("has no schema yet: run `airlock db upgrade` first\n")
