"""Support for the SSH gateway's end-to-end tests: OpenSSH's real ``sshd`` as the upstream (on a
loopback port, its own host key, root logging in with the gateway's key only), a gateway in
front of it, OpenSSH's real ``ssh`` client giving the token through SSH_ASKPASS, and
decisions through the HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from approvals import Review
from tests.harness import RunningGateway, finish, free_port, running_gateway

__all__ = ["SSHD", "Env", "Sshd", "gateway_env", "running_sshd", "ssh_connection"]

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    """A running upstream sshd: its port, the fingerprint of its host key, the gateway's key."""

    port: int
    fingerprint: str
    client_key: Path  # the private key the gateway logs in with (as root)
    known_hosts: Path  # a known_hosts file naming this sshd's host key
    home: Path


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )


def _fingerprint(public: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def _prepare(tmp_path: Path, port: int) -> tuple[Path, Sshd]:
    """The sshd's files: host key, the gateway's key (authorized for root), a config."""
    assert Path(SSHD).exists(), "openssh-server is not installed (.ci/run installs it)"
    home = tmp_path / "sshd"
    home.mkdir()
    host_key, client_key = home / "host_key", home / "gateway_key"
    _keygen(host_key, "upstream-host")
    _keygen(client_key, "airlock-gateway")
    authorized = home / "authorized_keys"
    shutil.copy(client_key.with_suffix(".pub"), authorized)
    known = home / "known_hosts"
    public = host_key.with_suffix(".pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\nPidFile {home / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    fingerprint = _fingerprint(host_key.with_suffix(".pub"))
    return config, Sshd(port, fingerprint, client_key, known, home)


@contextlib.asynccontextmanager
async def running_sshd(tmp_path: Path) -> AsyncIterator[Sshd]:
    """Start OpenSSH's sshd on a free loopback port; it fails the test when sshd is missing."""
    port = free_port()
    config, sshd = _prepare(tmp_path, port)
    proc = await asyncio.create_subprocess_exec(
        SSHD, "-D", "-e", "-f", str(config), stderr=asyncio.subprocess.PIPE
    )
    try:
        await _wait_port(port, proc)
        yield sshd
    finally:
        proc.terminate()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(proc.wait(), 5)


async def _wait_port(port: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(250):
        if proc.returncode is not None:
            err = await proc.stderr.read() if proc.stderr else b""
            raise RuntimeError(f"sshd exited: {err.decode()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        return
    raise RuntimeError("sshd did not start")


def ssh_connection(sshd: Sshd, name: str = "box", **overrides: Any) -> dict[str, Any]:
    """An ssh connection to the test sshd, pinned by fingerprint, as root with the test key
    (an override of None drops that key)."""
    conn: dict[str, Any] = {
        "name": name,
        "type": "ssh",
        "upstream": f"127.0.0.1:{sshd.port}",
        "username": "root",
        "private_key_file": str(sshd.client_key),
        "host_key": sshd.fingerprint,
        "access": "standing",
        "allow_groups": ["eng"],
        "approvers": {"groups": ["ops"], "quorum": 1},
        "review_timeout": "30s",
    }
    conn.update(overrides)
    return {key: value for key, value in conn.items() if value is not None}  # None: drop it


@dataclass
class Env:
    """A gateway with an SSH listener in front of a real sshd, with tokens and helpers."""

    gw: RunningGateway
    sshd: Sshd
    ssh_port: int
    tmp: Path

    @property
    def token(self) -> str:
        return self.gw.token("alice@example.com", ["eng"])

    @property
    def approver(self) -> str:
        return self.gw.token("bob@example.com", ["ops"])

    def ssh_args(
        self, command: str | None, *, connection: str = "box", options: Sequence[str] = ()
    ) -> list[str]:
        args = ["ssh", "-p", str(self.ssh_port), "-F", "/dev/null"]
        args += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        args += ["-o", "PubkeyAuthentication=no", "-o", "LogLevel=INFO"]
        args += ["-o", "PreferredAuthentications=keyboard-interactive,password"]
        args += ["-o", "NumberOfPasswordPrompts=1", *options, f"{connection}@127.0.0.1"]
        return args + ([command] if command is not None else [])

    def askpass(self, token: str) -> dict[str, str]:
        """An environment in which ssh reads ``token`` as the answer to its prompt."""
        script = self.tmp / f"askpass-{abs(hash(token))}.sh"
        (self.tmp / "token").write_text(token)
        script.write_text(f"#!/bin/sh\ncat {self.tmp / 'token'}\n")
        script.chmod(0o700)
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env.update(SSH_ASKPASS=str(script), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
        return env

    async def start_ssh(
        self,
        command: str | None,
        *,
        token: str | None = None,
        connection: str = "box",
        options: Sequence[str] = (),
    ) -> asyncio.subprocess.Process:
        """The real ssh client through the gateway, stdin/stdout/stderr piped."""
        return await asyncio.create_subprocess_exec(
            *self.ssh_args(command, connection=connection, options=options),
            env=self.askpass(token or self.token),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )

    async def ssh(
        self, command: str | None, *, stdin: bytes = b"", within: float = 30, **kw: Any
    ) -> tuple[int, str, str]:
        """Run the ssh client to the end: (exit status, stdout, stderr)."""
        proc = await self.start_ssh(command, **kw)
        return await finish(proc, stdin, within)

    async def pending_review(self, connection: str = "box", within: float = 15) -> Review:
        """Wait for the newest pending review on the connection."""
        return await self.gw.pending_review(connection, within)

    async def review(self, review_id: str) -> Review:
        return await self.gw.review(review_id)

    async def decide(self, review_id: str, outcome: str, reason: str | None = None) -> None:
        async with self.gw.client(self.approver) as http:
            answer = await http.post(
                f"/v1/reviews/{review_id}/decisions", json={"outcome": outcome, "reason": reason}
            )
        assert answer.status_code == 200, answer.text

    async def audit(self, action: str | None = None) -> list[Any]:
        await asyncio.sleep(0.3)
        records = await self.gw.runtime.repository.list_audit(connection=None, limit=10_000)
        return [r for r in records if action is None or r.action == action]


@contextlib.asynccontextmanager
async def gateway_env(
    tmp_path: Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    connections: Sequence[Mapping[str, Any]] = (),
    gateway_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[Env]:
    """A real sshd, and a gateway whose ssh connection ``box`` points at it (``gateway_options``:
    keys of ``[gateway]``)."""
    async with running_sshd(tmp_path) as sshd:
        ssh_port = free_port()
        conns = [ssh_connection(sshd, **(overrides or {})), *connections]
        options = {"ssh": f"127.0.0.1:{ssh_port}"}
        async with running_gateway(
            tmp_path, connections=conns, listener_options=options, gateway_options=gateway_options
        ) as gw:
            await _wait_listening(ssh_port)
            yield Env(gw, sshd, ssh_port, tmp_path)


async def _wait_listening(port: int) -> None:
    for _ in range(250):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        return
    raise RuntimeError("the SSH listener did not start")
