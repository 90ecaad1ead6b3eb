"""Public keys registered to an identity: `airlock ssh-key add|list|remove`, and the real ssh
client logging in with one."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.gateway.cli.support import airlock_in_thread
from tests.gateway.ssh.support import Env, gateway_env


def _keypair(directory: Path) -> Path:
    key = directory / "alice_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice-laptop", "-f", str(key)],
        check=True,
    )
    return key


async def _ssh_with_key(env: Env, key: Path, command: str) -> tuple[int, str, str]:
    """The real ssh client with only this key (no token, no agent)."""
    args = [
        "ssh", "-p", str(env.ssh_port), "-F", "/dev/null", "-i", str(key),
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
        "-o", "PreferredAuthentications=publickey", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=INFO", "box@127.0.0.1", command,
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_registered_key_logs_in_as_its_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice registers her key; ssh with it runs as alice; revoked, she is refused; once the
    key is removed it is refused."""
    key = _keypair(tmp_path)
    async with gateway_env(tmp_path) as env:
        monkeypatch.setenv("AIRLOCK_URL", env.gw.api_url)
        monkeypatch.setenv("AIRLOCK_TOKEN", env.token)
        added = await airlock_in_thread(capsys, "ssh-key", "add", str(key.with_suffix(".pub")))
        assert added.code == 0, added.err
        fingerprint = added.out.split()[0]
        assert fingerprint.startswith("SHA256:") and "alice@example.com" in added.out
        listed = await airlock_in_thread(capsys, "ssh-key", "list")
        assert fingerprint in listed.out and "alice-laptop" in listed.out
        code, out, err = await _ssh_with_key(env, key, "echo via-key")
        assert (code, out) == (0, "via-key\n"), err
        [session] = await env.gw.runtime.repository.list_sessions(connection="box", limit=1)
        assert session.identity.subject == "alice@example.com"
        admin = env.gw.token("root@example.com", ["airlock-admins"])
        async with env.gw.client(admin) as http:
            revoked = await http.post(
                "/v1/revocations/subjects",
                json={"subject": "alice@example.com", "reason": "left the team"},
            )
            assert revoked.status_code == 201, revoked.text
        code, _, err = await _ssh_with_key(env, key, "echo via-key")
        assert code == 255 and "access revoked" in err, err
        async with env.gw.client(admin) as http:
            lifted = await http.delete("/v1/revocations/subjects/alice@example.com")
            assert lifted.status_code in (200, 204), lifted.text
        removed = await airlock_in_thread(capsys, "ssh-key", "remove", fingerprint)
        assert removed.code == 0, removed.err
        code, _, err = await _ssh_with_key(env, key, "echo via-key")
        assert code == 255 and "Permission denied" in err
        events = await env.audit()
        actions = [e.action for e in events if e.action.startswith("ssh_key.")]
        assert sorted(actions) == ["ssh_key.added", "ssh_key.removed"]


async def test_only_admins_register_keys_for_others_and_bad_keys_are_refused(
    tmp_path: Path,
) -> None:
    """A person cannot register a key for someone else (403); a line that is no key is 422."""
    key = _keypair(tmp_path)
    line = key.with_suffix(".pub").read_text()
    async with gateway_env(tmp_path) as env, env.gw.client(env.token) as http:
        other = await http.post("/v1/ssh-keys", json={"public_key": line, "subject": "eve@x.io"})
        assert other.status_code == 403
        bad = await http.post("/v1/ssh-keys", json={"public_key": "ssh-ed25519 bm90IGEga2V5"})
        assert bad.status_code == 422
        ok = await http.post("/v1/ssh-keys", json={"public_key": line})
        assert ok.status_code == 201
        again = await http.post("/v1/ssh-keys", json={"public_key": line})
        assert again.status_code == 409
