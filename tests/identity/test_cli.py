"""``airlock service-account create|list|rotate|disable`` and ``airlock revoke`` against a
running gateway, as an admin (AIRLOCK_URL and AIRLOCK_TOKEN)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.cli.support import airlock_in_thread
from tests.identity.support import ADMIN, Target, client_credentials, identity_gateway


async def test_service_account_commands(
    tmp_path: Path,
    target: Target,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An admin creates an account (its secret printed once), lists, rotates and disables it;
    someone else is refused with a one-line message."""
    async with identity_gateway(tmp_path, connections=[target.connection()]) as gw:
        monkeypatch.setenv("AIRLOCK_URL", gw.api_url)
        monkeypatch.setenv("AIRLOCK_TOKEN", gw.token(*ADMIN))
        created = await airlock_in_thread(
            capsys, "service-account", "create", "ci-runner", "--groups", "ci,eng",
            "--scope", "pg-test", "--expires", "90d", "--secret-ttl", "30d",
        )  # fmt: skip
        assert created.code == 0, created.err
        secret = created.out.split("client_secret: ")[1].split()[0]
        assert (await client_credentials(gw, "ci-runner", secret)).status_code == 200
        listed = await airlock_in_thread(capsys, "service-account", "list")
        assert listed.out.startswith("ci-runner") and "groups=ci,eng scope=pg-test" in listed.out
        assert secret not in listed.out
        rotated = await airlock_in_thread(capsys, "service-account", "rotate", "ci-runner")
        new = rotated.out.split("client_secret: ")[1].split()[0]
        assert (await client_credentials(gw, "ci-runner", secret)).status_code == 401
        assert (await client_credentials(gw, "ci-runner", new)).status_code == 200
        disabled = await airlock_in_thread(
            capsys, "service-account", "disable", "ci-runner", "--reason", "retired"
        )
        assert disabled.code == 0 and "disabled" in disabled.out
        assert (await client_credentials(gw, "ci-runner", new)).status_code == 401
        revoked = await airlock_in_thread(
            capsys, "revoke", "subject", "alice@example.com", "--reason", "left"
        )
        assert revoked.code == 0, revoked.err
        async with gw.client(gw.token("alice@example.com", ["eng"])) as http:
            assert (await http.get("/v1/whoami")).status_code == 401
        monkeypatch.setenv("AIRLOCK_TOKEN", gw.token("bob@example.com", ["eng"]))
        refused = await airlock_in_thread(capsys, "service-account", "create", "x-agent")
        assert refused.code == 2
        assert refused.err.strip() == "airlock: only an admin may create service accounts"
