"""The demo's SSH target: OpenSSH's ``sshd`` on a free loopback port, as the current user.

Its files are made afresh in ``demo/ssh/`` at each start: a host key (pinned by fingerprint in
the ``ssh-demo`` connection), the gateway's key (its public half is the only authorized key; its
private half goes into the demo process's environment, :data:`SSH_KEY_ENV`, and is not kept on
disk), and a config with password logins off. The sshd lives as long as the demo: it is stopped
when the demo stops, and on Linux the kernel ends it should the demo die without stopping it
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SSHD_ENV", "SSH_KEY_ENV", "DemoSshd", "demo_sshd", "sshd_path", "start_sshd"]

SSHD_ENV = "AIRLOCK_DEMO_SSHD"  # where sshd is, when not at /usr/sbin/sshd
SSH_KEY_ENV = "AIRLOCK_DEMO_SSH_KEY"  # the gateway's private key for the demo's sshd
_PR_SET_PDEATHSIG = 1  # prctl(2)
_START_S = 10.0


@dataclass(frozen=True)
class DemoSshd:
    """A running demo sshd: where it listens, the fingerprint of its host key, the login."""

    port: int
    fingerprint: str
    username: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """End it (SIGTERM, then SIGKILL after 5 s); idempotent."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def sshd_path() -> Path | None:
    """The sshd binary the demo would start (``$AIRLOCK_DEMO_SSHD`` or /usr/sbin/sshd), or None
    when it is not there (openssh-server is not installed)."""
    path = Path(os.environ.get(SSHD_ENV) or "/usr/sbin/sshd")
    return path if path.is_file() and os.access(path, os.X_OK) else None


def demo_sshd(home: Path, say: Callable[[str], None]) -> DemoSshd | None:
    """The demo's sshd started in ``home``, or None when sshd is not installed or does not start
    (``say`` tells which: the demo then serves the databases alone)."""
    sshd = sshd_path()
    if sshd is None:
        say("airlock demo: no sshd (openssh-server); the ssh-demo connection is left out")
        return None
    try:
        running = start_sshd(sshd, home)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        say(f"airlock demo: sshd did not start ({exc}); the ssh-demo connection is left out")
        return None
    say(f"airlock demo: sshd (the ssh-demo target) on 127.0.0.1:{running.port}")
    return running


def start_sshd(sshd: Path, home: Path) -> DemoSshd:
    """Make ``home``'s keys and config afresh, start ``sshd`` on a free loopback port and wait
    until it answers; RuntimeError (with what it said) when it does not."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, mode=0o700)
    host_key, gateway_key = home / "host_key", home / "gateway_key"
    _keygen(host_key, "airlock-demo-target")
    _keygen(gateway_key, "airlock-demo-gateway")
    authorized = home / "authorized_keys"
    authorized.write_bytes(gateway_key.with_suffix(".pub").read_bytes())
    os.environ[SSH_KEY_ENV] = gateway_key.read_text(encoding="utf-8")
    gateway_key.unlink()  # the gateway's key lives in this process's environment only
    port = _free_port()
    config = home / "sshd_config"
    config.write_text(_config(port, home, host_key, authorized), encoding="utf-8")
    if os.geteuid() == 0:  # sshd run by root chroots its unprivileged side here
        with contextlib.suppress(OSError):
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    with (home / "sshd.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (a fixed argv)
            [str(sshd.resolve()), "-D", "-e", "-f", str(config.resolve())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=_die_with_parent,  # noqa: PLW1509  (no threads yet: the demo starts first)
        )
    running = DemoSshd(port, _fingerprint(host_key.with_suffix(".pub")), _user(), process)
    try:
        _wait_listening(port, process, home / "sshd.log")
    except RuntimeError:
        running.stop()
        raise
    return running


def _config(port: int, home: Path, host_key: Path, authorized: Path) -> str:
    """Public keys only (the gateway's), no PAM (sshd may run unprivileged), quiet."""
    return (
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key.resolve()}\n"
        f"AuthorizedKeysFile {authorized.resolve()}\nPidFile {(home / 'sshd.pid').resolve()}\n"
        "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nAllowTcpForwarding no\nX11Forwarding no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the demo process dies (Linux; elsewhere the demo's
    own stop is all there is)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _user() -> str:
    """The login on the target: the user the demo (and so the sshd) runs as."""
    return getpass.getuser()


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(  # noqa: S603
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],  # noqa: S607
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _fingerprint(public: Path) -> str:
    out = subprocess.run(  # noqa: S603
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public)],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_text(encoding="utf-8", errors="replace").strip()
            raise RuntimeError(f"sshd exited with {process.returncode}: {said}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {_START_S:.0f}s")
