"""SFTP with allow_sftp = true: proxied to the upstream host, never the gateway's own files,
every operation recorded in the session."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import asyncssh

from gateway.ssh.sftp import HARMLESS, PROXIED, REFUSED, SftpProxy, SftpRefused
from tests.gateway.ssh.support import gateway_env


def test_every_sftp_operation_is_proxied_or_refused() -> None:
    """No operation of asyncssh's SFTPServer is left to its default, which would act on the
    gateway's own file system."""
    operations = {
        name
        for name, value in vars(asyncssh.SFTPServer).items()
        if callable(value) and not name.startswith("_")
    }
    assert operations <= PROXIED | REFUSED | HARMLESS, operations - (PROXIED | REFUSED | HARMLESS)
    for name in PROXIED | REFUSED:
        for served in (SftpProxy, SftpRefused):
            mine = inspect.getattr_static(served, name)
            assert mine is not inspect.getattr_static(asyncssh.SFTPServer, name), (served, name)


async def test_sftp_is_proxied_upstream_and_recorded(tmp_path: Path) -> None:
    """put, list, get, rename and remove through the gateway act on the upstream host's files,
    and each is in the session's statements."""
    async with gateway_env(tmp_path, overrides={"allow_sftp": True}) as env:
        local = tmp_path / "local.txt"
        local.write_bytes(b"x" * 100_000)
        remote = tmp_path / "upstream.txt"
        async with await asyncssh.connect(
            "127.0.0.1", env.ssh_port, username="box", password=env.token, known_hosts=None,
            client_keys=None, agent_path=None, config=None,
        ) as conn, conn.start_sftp_client() as sftp:  # fmt: skip
            await sftp.put(str(local), str(remote))
            assert remote.read_bytes() == local.read_bytes()
            assert "upstream.txt" in await sftp.listdir(str(tmp_path))
            back = tmp_path / "back.txt"
            await sftp.get(str(remote), str(back))
            assert back.read_bytes() == local.read_bytes()
            await sftp.rename(str(remote), str(tmp_path / "renamed.txt"))
            await sftp.remove(str(tmp_path / "renamed.txt"))
        assert not (tmp_path / "renamed.txt").exists()
        await asyncio.sleep(1.5)
        [session] = await env.gw.runtime.repository.list_sessions(connection="box", limit=1)
        records = await env.gw.runtime.repository.list_audit(target=session.id, limit=100)
        texts = [
            str(record.details["texts"][i])
            for record in records
            if record.action == "statements"
            for i in range(len(record.details["texts"]))
        ]
        assert any(t.startswith(f"sftp open {remote}") for t in texts), texts
        assert f"sftp close {remote} read=0 written=100000" in texts
        assert any(t.startswith("sftp remove ") for t in texts)
