"""What one SSH session holds, and the gateway-wide parts every SSH session uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from approvals import Identity
from gateway.sessions import Session, SessionCore, Target
from gateway.ssh.shell import ShellState
from store import SshKeyStore

__all__ = ["Forward", "Forwarder", "SshDeps", "SshSession", "SshTarget"]

SshTarget = Target[ShellState, Any]
# Serves a forwarded stream as ``identity`` on a database connection (its name): the database
# protocol's own listener logic, which the composition root passes in (gateway.cli.listeners).
Forwarder = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, Identity, str], Coroutine[Any, Any, None]
]


@dataclass(frozen=True)
class Forward:
    """A database connection local forwards may reach: its upstream address (a forward may
    name it instead of the connection's name) and what serves it."""

    upstream: str
    serve: Forwarder


@dataclass(frozen=True)
class SshDeps:
    """The session core, the ssh connections it serves (by name: the SSH user name), and the
    upstream keys the gateway holds (loaded at start: a missing key stops the start)."""

    core: SessionCore
    targets: dict[str, SshTarget]
    upstream_keys: dict[str, asyncssh.SSHKey]
    forwards: Mapping[str, Forward] = field(default_factory=dict)  # by connection name
    keys: SshKeyStore | None = None  # public keys registered to identities (None: tokens only)


@dataclass(kw_only=True)
class SshSession(Session):
    """One SSH connection: the core's session, its target and its upstream login. Every
    channel of the connection (exec, shell) runs its commands in this one session."""

    target: SshTarget
    upstream: asyncssh.SSHClientConnection | None = None
    left: asyncio.Event = field(default_factory=asyncio.Event)  # the client went away
    # The open channels' ways to tell their user something (a revocation's reason, ...).
    tell: set[Callable[[str], None]] = field(default_factory=set)
    shells: int = 0  # interactive shells opened (each one's recording is its channel number)
    recorded: int = 0  # asciicast rows written (their seq)

    def next_row(self) -> int:
        self.recorded += 1
        return self.recorded
