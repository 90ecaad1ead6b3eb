"""`airlock demo`'s SSH target: with sshd installed it starts one of its own, serves it as
``ssh-demo`` to OpenSSH's real ``ssh`` client (the token given through SSH_ASKPASS), holds a
destructive command for review, and stops the sshd when the demo stops; without sshd it says so
and serves the databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.cli.demo import write_config
from gateway.cli.demo_sshd import SSH_KEY_ENV, SSHD_ENV, demo_sshd
from gateway.config import load_settings
from tests.harness import free_port
from tests.support.processes import AIRLOCK, START_S, STOP_S, child_env

SSHD = "/usr/sbin/sshd"


class Demo:
    """A running ``airlock demo`` process, what it printed, and its ports."""

    def __init__(self, proc: asyncio.subprocess.Process, api: int, ssh: int, tmp: Path) -> None:
        self.proc, self.api, self.ssh, self.tmp = proc, api, ssh, tmp
        self.said: list[str] = []

    def printed(self, pattern: str) -> str:
        found = re.search(pattern, "".join(self.said))
        assert found, "".join(self.said)
        return found.group(1)

    def askpass(self, token: str) -> dict[str, str]:
        """An environment in which ssh reads ``token`` as the answer to its prompt."""
        (self.tmp / "token").write_text(token)
        script = self.tmp / "askpass.sh"
        script.write_text(f"#!/bin/sh\ncat {self.tmp / 'token'}\n")
        script.chmod(0o700)
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        return env | {"SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}

    async def start_ssh(self, command: str) -> asyncio.subprocess.Process:
        """OpenSSH's client as alice, as the demo's welcome says (plus no known_hosts here)."""
        args = ["ssh", "-p", str(self.ssh), "-F", "/dev/null", "-o", "StrictHostKeyChecking=no"]
        args += ["-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no"]
        args += ["-o", "NumberOfPasswordPrompts=1", "ssh-demo@127.0.0.1", command]
        alice = self.printed(r"PGPASSWORD='([^']+)'")
        return await asyncio.create_subprocess_exec(
            *args, env=self.askpass(alice), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def api_call(self, method: str, path: str, body: Any = None) -> Any:
        """The HTTP API as bob (dba-oncall), with the token the welcome printed for him."""
        bob = self.printed(r"AIRLOCK_TOKEN='([^']+)'")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.api}") as http:
            answer = await http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {bob}"}
            )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def pending(self, within: float = 30) -> list[dict[str, Any]]:
        """The pending reviews, once there is one (bob sees them: he approves)."""
        for _ in range(int(within * 10)):
            found: list[dict[str, Any]] = await self.api_call("GET", "/v1/reviews?state=pending")
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("no review was posted")


async def _start(tmp_path: Path, extra: dict[str, str], until: str) -> Demo:
    """``airlock demo`` on free ports, read until it prints ``until`` (``{ssh}``: its SSH
    port); the caller stops it."""
    api, pg, my, ssh = free_port(), free_port(), free_port(), free_port()
    env = child_env(
        {
            "AIRLOCK_API__LISTEN": f"127.0.0.1:{api}",
            "AIRLOCK_LISTENERS__POSTGRES": f"127.0.0.1:{pg}",
            "AIRLOCK_LISTENERS__MYSQL": f"127.0.0.1:{my}",
            "AIRLOCK_LISTENERS__SSH": f"127.0.0.1:{ssh}",
            **extra,
        }
    )
    proc = await asyncio.create_subprocess_exec(
        AIRLOCK, "demo", "--dir", str(tmp_path / "demo"), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    demo = Demo(proc, api, ssh, tmp_path)
    try:
        async with asyncio.timeout(START_S):
            while not any(until.format(ssh=ssh) in line for line in demo.said):
                line = await proc.stdout.readline()
                assert line, "".join(demo.said)
                demo.said.append(line.decode())
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return demo


@contextlib.asynccontextmanager
async def running_demo(tmp_path: Path) -> AsyncIterator[Demo]:
    """The demo until its SSH listener is up; SIGTERM at the end (it must exit 0)."""
    demo = await _start(tmp_path, {}, "SSH listener on 127.0.0.1:{ssh}")
    proc = demo.proc
    assert proc.stdout is not None
    try:
        yield demo
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_S):
            demo.said.append((await proc.stdout.read()).decode())
            assert await proc.wait() == 0, "".join(demo.said)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _sshd_port(tmp_path: Path) -> int:
    """The port of the demo's sshd, from the ssh-demo connection the demo wrote."""
    config = tomllib.loads((tmp_path / "demo" / "airlock.toml").read_text())
    target = next(c for c in config["connections"] if c["name"] == "ssh-demo")
    assert target["forward_to"] == ["pg-demo"] and target["host_key"].startswith("SHA256:")
    return int(target["upstream"].rpartition(":")[2])


def _victim(tmp_path: Path) -> Path:
    """The directory the held ``rm -rf`` names (sshd must be there: the test fails without)."""
    assert Path(SSHD).exists(), "openssh-server is not installed (.ci/run installs it)"
    victim = tmp_path / "x"
    (victim / "inside").mkdir(parents=True)
    return victim


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def test_demo_serves_its_sshd_to_the_ssh_client(tmp_path: Path) -> None:
    """With sshd installed the demo starts one, `ssh ssh-demo@... uname` runs through the
    gateway, `rm -rf` waits for bob's approval before it runs, and the sshd ends with the demo."""
    victim = _victim(tmp_path)
    async with running_demo(tmp_path) as demo:
        assert f"ssh -p {demo.ssh} ssh-demo@127.0.0.1 uname -a" in "".join(demo.said)
        sshd_port = _sshd_port(tmp_path)
        assert "PRIVATE KEY" not in (tmp_path / "demo" / "airlock.toml").read_text()

        uname = await demo.start_ssh("uname")
        out, err = await asyncio.wait_for(uname.communicate(), 30)
        assert (uname.returncode, out.decode().strip()) == (0, "Linux"), err.decode()

        held = await demo.start_ssh(f"rm -rf {victim}")
        pending = await demo.pending()
        assert pending[0]["connection"] == "ssh-demo"
        assert victim.exists() and held.returncode is None  # nothing ran before the decision
        await demo.api_call(
            "POST", f"/v1/reviews/{pending[0]['id']}/decisions", {"outcome": "approve"}
        )
        out, err = await asyncio.wait_for(held.communicate(), 30)
        assert held.returncode == 0, err.decode()
        assert "held for approval" in err.decode() and not victim.exists()
        assert _answers(sshd_port)
    assert not _answers(sshd_port), "the demo's sshd outlived the demo"


def test_without_sshd_the_demo_says_so_and_leaves_ssh_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No sshd at the configured path: the demo says so, and its config has no SSH listener or
    ssh-demo connection (the databases are served as before)."""
    monkeypatch.setenv(SSHD_ENV, str(tmp_path / "no-sshd"))
    said: list[str] = []
    assert demo_sshd(tmp_path / "ssh", said.append) is None
    assert said == ["airlock demo: no sshd (openssh-server); the ssh-demo connection is left out"]
    settings = load_settings(write_config(tmp_path / "demo", sshd=None))
    assert settings.listeners.ssh is None
    assert [c.name for c in settings.connections] == ["pg-demo"]


def test_an_sshd_that_does_not_start_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An sshd that exits at once (here /bin/false) is reported with its exit, not served."""
    monkeypatch.setenv(SSHD_ENV, "/bin/false")
    monkeypatch.setenv(SSH_KEY_ENV, "")  # the attempt sets it; restored after the test
    said: list[str] = []
    assert demo_sshd(tmp_path / "ssh", said.append) is None
    assert len(said) == 1 and said[0].startswith("airlock demo: sshd did not start (sshd exited")
    assert said[0].endswith("the ssh-demo connection is left out")


async def test_a_killed_demo_takes_its_sshd_along(tmp_path: Path) -> None:
    """SIGKILL of the demo (no stop of its own runs) still ends its sshd: the kernel sends it
    SIGTERM when its parent dies (PR_SET_PDEATHSIG)."""
    _victim(tmp_path)  # fails without sshd
    demo = await _start(tmp_path, {}, "SSH listener on 127.0.0.1:{ssh}")
    sshd_port = _sshd_port(tmp_path)
    assert _answers(sshd_port)
    demo.proc.kill()
    await demo.proc.wait()
    for _ in range(50):
        if not _answers(sshd_port):
            break
        await asyncio.sleep(0.1)
    assert not _answers(sshd_port), "the sshd outlived its killed demo"
