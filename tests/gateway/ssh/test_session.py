"""The SSH session around the commands: authentication, the upstream's host key, revocation,
refused channels, and garbage at the port; with the real ssh client, asyncssh and sshd."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path

import asyncssh
import pytest

from approvals import ReviewState
from tests.gateway.ssh.support import Env, gateway_env


async def _asyncssh(env: Env, **options: object) -> asyncssh.SSHClientConnection:
    """asyncssh as the client, authenticating with the token as a password by default."""
    defaults: dict[str, object] = {
        "username": "box",
        "password": env.token,
        "known_hosts": None,
        "client_keys": None,
        "agent_path": None,
        "config": None,
    }
    defaults.update(options)
    return await asyncssh.connect("127.0.0.1", env.ssh_port, **defaults)


async def test_bad_token_and_unknown_connection_are_refused(tmp_path: Path) -> None:
    """A wrong token, or a user name that names no ssh connection, fails authentication."""
    async with gateway_env(tmp_path) as env:
        code, _, err = await env.ssh("true", token="not-a-token")
        assert code == 255 and "Permission denied" in err
        code, _, err = await env.ssh("true", connection="nope")
        assert code == 255 and "no ssh connection named 'nope'" in err


class _Answers(asyncssh.SSHClient):
    """An asyncssh client that answers the keyboard-interactive prompt with the token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.prompts: list[str] = []

    def kbdint_auth_requested(self) -> str:
        return ""

    def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str]:
        self.prompts += [prompt for prompt, _ in prompts]
        return [self.token for _ in prompts]


async def test_asyncssh_client_with_password_and_keyboard_interactive(tmp_path: Path) -> None:
    """asyncssh logs in with the token as its password, or as its keyboard-interactive answer."""
    async with gateway_env(tmp_path) as env:
        async with await _asyncssh(env) as conn:
            result = await conn.run("echo via-password", check=True)
            assert result.stdout == "via-password\n"
        client = _Answers(env.token)
        conn, _ = await asyncssh.create_connection(
            lambda: client, "127.0.0.1", env.ssh_port, username="box", known_hosts=None,
            client_keys=None, agent_path=None, config=None, password=None,
            preferred_auth="keyboard-interactive",
        )  # fmt: skip
        async with conn:
            result = await conn.run("echo via-kbdint", check=True)
            assert result.stdout == "via-kbdint\n"
        assert client.prompts == ["Airlock token: "]


async def test_wrong_upstream_host_key_is_refused_and_audited(tmp_path: Path) -> None:
    """An upstream whose host key is not the pinned one is never logged in to: the client is
    told, and the refusal is audited with the fingerprint it showed."""
    wrong = "SHA256:" + "A" * 43
    async with gateway_env(tmp_path, overrides={"host_key": wrong}) as env:
        code, out, err = await env.ssh("echo should-not-run")
        assert code == 255 and out == ""
        assert "not the one configured for box" in err
        [event] = await env.audit("ssh.upstream_refused")
        assert event.outcome == "host_key_refused"
        assert event.details["fingerprint"] == env.sshd.fingerprint
        assert event.actor_subject == "alice@example.com"


async def test_known_hosts_file_verifies_the_upstream(tmp_path: Path) -> None:
    """A known_hosts file naming the upstream's key lets the session run; one naming another
    key refuses it."""
    known = tmp_path / "sshd" / "known_hosts"  # written by running_sshd before the gateway
    overrides = {"host_key": None, "known_hosts": str(known)}
    async with gateway_env(tmp_path, overrides=overrides) as env:
        code, out, err = await env.ssh("echo known")
        assert (code, out) == (0, "known\n"), err
        known.write_text(f"[127.0.0.1]:{env.sshd.port} ssh-ed25519 {_other_key()}\n")
        code, out, err = await env.ssh("echo unknown")
        assert code == 255 and out == "" and "not the one configured" in err, err


def _other_key() -> str:
    """The base64 of a fresh Ed25519 public key (not the upstream's)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key.export_public_key().decode().split()[1]


async def test_revocation_ends_a_live_session_within_a_second(tmp_path: Path) -> None:
    """Revoking the delegation disconnects the SSH session within a second, saying why."""
    async with gateway_env(tmp_path, overrides={"access": "request"}) as env:
        async with env.gw.client(env.token) as http:
            asked = await http.post(
                "/v1/access-requests",
                json={"connection": "box", "duration": "1h", "reason": "INC-7"},
            )
            assert asked.status_code == 201, asked.text
        await env.decide(asked.json()["id"], "approve", "ok")
        async with env.gw.client(env.token) as http:
            delegation = (await http.get("/v1/delegations")).json()[0]["id"]
        proc = await env.start_ssh("echo started; sleep 60")
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 15) == b"started\n"
        async with env.gw.client(env.token) as http:
            revoked = await http.post(
                f"/v1/delegations/{delegation}/revoke", json={"reason": "done"}
            )
            assert revoked.status_code == 200, revoked.text
        started = time.perf_counter()
        _, err = await asyncio.wait_for(proc.communicate(), 5)
        assert time.perf_counter() - started < 1
        assert proc.returncode == 255
        assert "revoked" in err.decode()
        repository = env.gw.runtime.repository
        async with asyncio.timeout(5):
            while True:
                [session] = await repository.list_sessions(connection="box", limit=1)
                if session.ended_at is not None:
                    break
                await asyncio.sleep(0.02)
        assert session.stats["end"] == "revoked"


async def test_sftp_shell_and_forwarding_are_refused_and_audited(tmp_path: Path) -> None:
    """SFTP (off by default) is refused; shells, remote and local forwards are refused and
    audited."""
    async with gateway_env(tmp_path) as env:
        async with await _asyncssh(env) as conn:
            async with conn.start_sftp_client() as sftp:
                with pytest.raises(asyncssh.SFTPPermissionDenied, match="allow_sftp"):
                    await sftp.listdir("/")
            shell = await conn.create_process()
            assert "without a terminal (ssh -T) is not allowed on box" in await shell.stderr.read()
            assert (await shell.wait()).exit_status == 1
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.open_connection("127.0.0.1", 5432)
            with pytest.raises(asyncssh.ChannelListenError):
                await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 22)
        events = await env.audit("ssh.channel_refused")
        refused = sorted(e.details["channel"] for e in events)
        assert refused == ["direct-tcpip", "session", "session", "tcpip-forward"]
        whats = sorted(e.details["what"] for e in events if e.details["channel"] == "session")
        assert whats[1] == "subsystem sftp"


async def test_random_bytes_close_one_connection_never_the_listener(tmp_path: Path) -> None:
    """Garbage and truncated packets at the SSH port end that connection; others still work."""
    async with gateway_env(tmp_path) as env:
        for junk in (os.urandom(4096), b"SSH-2.0-x\r\n" + os.urandom(64), b"SSH-2.0-x\r\n\0\0"):
            reader, writer = await asyncio.open_connection("127.0.0.1", env.ssh_port)
            writer.write(junk)
            await writer.drain()
            writer.write_eof()
            async with asyncio.timeout(35):
                while await reader.read(65536):
                    pass
            writer.close()
        code, out, err = await env.ssh("echo still-here")
        assert (code, out) == (0, "still-here\n"), err


async def test_ctrl_c_withdraws_a_held_exec(tmp_path: Path) -> None:
    """Ctrl-C on a pty while an exec is held cancels its review; nothing runs."""
    async with gateway_env(tmp_path) as env:
        victim = tmp_path / "victim"
        victim.write_text("x")
        proc = await env.start_ssh(f"rm {victim}", options=["-tt"])
        review = await env.pending_review()
        assert proc.stdin is not None
        proc.stdin.write(b"\x03")
        await proc.stdin.drain()
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 1, err
        assert (await env.review(review.id)).state is ReviewState.CANCELLED
        assert victim.exists()


async def test_held_exec_times_out(tmp_path: Path) -> None:
    """A held exec nobody decides ends when its review expires; nothing runs."""
    async with gateway_env(tmp_path, overrides={"review_timeout": "1s"}) as env:
        code, _, err = await env.ssh("reboot", within=30)
        assert code == 1
        assert "nobody decided within" in err


async def test_client_gone_mid_exec_ends_the_session_not_the_listener(tmp_path: Path) -> None:
    """A client killed while its command runs ends that session (recorded); others go on."""
    async with gateway_env(tmp_path) as env:
        proc = await env.start_ssh("echo running; sleep 30")
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 15) == b"running\n"
        proc.kill()
        await proc.wait()
        repository = env.gw.runtime.repository
        async with asyncio.timeout(10):
            while True:
                [session] = await repository.list_sessions(connection="box", limit=1)
                if session.ended_at is not None:
                    break
                await asyncio.sleep(0.05)
        assert session.stats["statements"] == 1
        code, out, err = await env.ssh("echo next")
        assert (code, out) == (0, "next\n"), err


async def test_connections_past_the_cap_are_closed_at_once(tmp_path: Path) -> None:
    """Past 2 x max_sessions open connections a new one is closed before its key exchange;
    once they go, connections are served again."""
    async with gateway_env(tmp_path, gateway_options={"max_sessions": 1}) as env:
        held = [await asyncio.open_connection("127.0.0.1", env.ssh_port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", env.ssh_port)
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed without a version line
        writer.close()
        for _, opened in held:
            opened.close()
        await asyncio.sleep(0.3)
        code, out, err = await env.ssh("echo served")
        assert (code, out) == (0, "served\n"), err
