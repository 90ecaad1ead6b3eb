"""The gateway's own SSH login to the upstream host: the key it holds, the host key it expects.

The connection's ``private_key_env`` / ``private_key_file`` holds the key, ``username`` the
login. The upstream's host key must be known before the gateway authenticates (RFC 4253 §8:
the key exchange signs with it): ``host_key`` (an OpenSSH ``SHA256:...`` fingerprint, or
several separated by commas) or ``known_hosts`` (an OpenSSH known_hosts file). A connection
with neither is refused: the gateway never logs in to a host it cannot tell from another.
"""

from __future__ import annotations

import asyncio
import hmac

import asyncssh
from asyncssh.known_hosts import KnownHostsArg

from gateway.config import ConnectionConfig, split_hostport
from gateway.errors import ConfigError
from gateway.ssh.errors import HostKeyRefused, UpstreamError

__all__ = ["CONNECT_TIMEOUT_S", "connect_upstream", "load_key"]

CONNECT_TIMEOUT_S = 10.0
# The client picks the cipher: the gateway prefers AES-GCM (cheaper with AES-NI).
UPSTREAM_CIPHERS = (
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
    "aes128-ctr", "aes256-ctr",
)  # fmt: skip


class _Pinned(asyncssh.SSHClient):
    """Accepts exactly the host keys whose fingerprints are pinned; remembers the one shown."""

    def __init__(self, pinned: tuple[str, ...]) -> None:
        self.pinned = pinned
        self.shown: str | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.shown = key.get_fingerprint("sha256")
        return any(hmac.compare_digest(self.shown, pin) for pin in self.pinned)


def load_key(config: ConnectionConfig) -> asyncssh.SSHKey:
    """The connection's private key; ConfigError (never its text) when missing or unreadable."""
    text = config.private_key()
    if not text:
        raise ConfigError(f"connection {config.name}: private_key_env or private_key_file")
    try:
        return asyncssh.import_private_key(text + "\n")
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ConfigError(f"connection {config.name}: the private key cannot be read") from exc


async def connect_upstream(
    config: ConnectionConfig, key: asyncssh.SSHKey
) -> asyncssh.SSHClientConnection:
    """Log in to the upstream host as the connection says; HostKeyRefused when its host key is
    not the expected one, UpstreamError when it cannot be reached or refuses the key."""
    host, port = split_hostport(config.upstream)
    pinned = tuple(p.strip() for p in (config.host_key or "").split(",") if p.strip())
    client = _Pinned(pinned)
    if config.known_hosts:
        known: KnownHostsArg = config.known_hosts
    elif pinned:
        known = ([], [], [])  # nothing trusted by list: _Pinned decides
    else:
        raise HostKeyRefused(f"connection {config.name} names no host_key or known_hosts")
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            conn, _ = await asyncssh.create_connection(
                lambda: client,
                host,
                port,
                username=config.username,
                client_keys=[key],
                known_hosts=known,
                agent_path=None,
                password=None,
                kbdint_auth=False,
                preferred_auth="publickey",
                encryption_algs=UPSTREAM_CIPHERS,
                config=None,
            )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostKeyRefused(
            f"the host key of {config.upstream} is not the one configured for {config.name}",
            client.shown,
        ) from exc
    except asyncssh.PermissionDenied as exc:
        raise UpstreamError(f"{config.upstream} refused the gateway's key") from exc
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise UpstreamError(f"cannot reach {config.upstream}: {exc}") from exc
    return conn
