"""The SSH gateway: an asyncssh listener on the session core, and its shell dialect.

``ssh -p 12222 <connection>@gateway`` with an Airlock token as the password (or the answer to
a keyboard-interactive prompt); the gateway logs in upstream with the key it holds and checks
the upstream's host key; exec requests are classified (:mod:`gateway.ssh.shell`), held,
refused or run, and recorded. docs/ssh.md says what runs and what does not yet.
"""

from gateway.ssh import asyncssh_warnings  # noqa: F401 (first: before asyncssh is imported)
from gateway.ssh.context import Forward, Forwarder, SshDeps, SshSession
from gateway.ssh.dialect import SHELL, ShellDialect, redact_shell
from gateway.ssh.errors import ChannelRefused, HostKeyRefused, SshError, UpstreamError
from gateway.ssh.listener import SshListener, load_host_key
from gateway.ssh.shell import ShellState, classify_shell
from gateway.ssh.upstream import connect_upstream, load_key

__all__ = [
    "SHELL",
    "ChannelRefused",
    "Forward",
    "Forwarder",
    "HostKeyRefused",
    "ShellDialect",
    "ShellState",
    "SshDeps",
    "SshError",
    "SshListener",
    "SshSession",
    "UpstreamError",
    "classify_shell",
    "connect_upstream",
    "load_host_key",
    "load_key",
    "redact_shell",
]
